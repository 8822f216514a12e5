"""Request and work counters behind ``Simulator.stats()``: what tests assert "how many" about."""

from __future__ import annotations

import threading
from typing import Any

from .faults import ALL_KINDS

__all__ = ["Counters"]


class Counters:
    """Requests by kind, ``info_polls`` {job id: n}, ``creates`` (jobs made), ``renders`` (files drawn),
    ``rate_limited`` (status requests answered 1005)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Any] = {}
        self.reset()

    def count_request(self, kind: str, job_id: str | None = None) -> None:
        """One more request of ``kind``; an ``info`` request also counts as a poll of ``job_id``."""
        with self._lock:
            self._counts[kind] += 1
            if kind == "info" and job_id:
                polls = self._counts["info_polls"]
                polls[job_id] = polls.get(job_id, 0) + 1

    def add(self, name: str) -> None:
        """One more of ``creates``, ``renders`` or ``rate_limited`` (1005 answers)."""
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._counts.items()}

    def reset(self) -> None:
        with self._lock:
            self._counts = {k: 0 for k in ALL_KINDS}
            self._counts.update(info_polls={}, creates=0, renders=0, rate_limited=0)
