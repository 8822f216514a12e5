"""Faults switched on by name, each limited to request kinds and a number of uses.

Request kinds (how the simulator classifies every API request):

    token       POST /api/open/v3/getToken
    create_v3   POST /api/open/v3/content/image/createbyprompt
    create_v4   POST /api/open/v4/content/image/createBySourcePrompt
    button      POST /api/open/v3/content/image/createbybutton
    info        GET  /api/open/v3/content/image/infobymodelid
    file        GET  /<result file>

Transport faults act on one HTTP exchange (see app.FaultMiddleware for exactly how); job faults act on
the jobs a create call makes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = [
    "Fault",
    "FaultBook",
    "REQUEST_KINDS",
    "CREATE_KINDS",
    "JSON_KINDS",
    "TRANSPORT_FAULTS",
    "normalise_kinds",
]

REQUEST_KINDS = ("token", "create_v3", "create_v4", "button", "info", "file")
CREATE_KINDS = ("create_v3", "create_v4", "button")
JSON_KINDS = ("token", "create_v3", "create_v4", "button", "info")
TRANSPORT_FAULTS = frozenset({"http_status", "delay", "drop_connection", "malformed_json", "truncate_body"})


def normalise_kinds(kinds: str | Iterable[str] | None, default: tuple[str, ...],
                    allowed: tuple[str, ...] = REQUEST_KINDS) -> frozenset[str]:
    """``kinds`` as a frozenset, ``default`` when None; ValueError on a kind outside ``allowed``."""
    if kinds is None:
        return frozenset(default)
    chosen = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = chosen - set(allowed)
    if unknown or not chosen:
        raise ValueError(f"kinds must be a non-empty subset of {allowed}, got {sorted(chosen)}")
    return chosen


def _times(times: int | None) -> int | None:
    if times is None:
        return None
    if isinstance(times, bool) or int(times) != times or times < 1:
        raise ValueError("times must be a positive integer, or None for 'until reset_faults'")
    return int(times)


@dataclass
class Fault:
    """One armed fault. ``remaining`` None means it fires until ``reset_faults``."""

    name: str
    kinds: frozenset[str]
    remaining: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kinds": sorted(self.kinds), "remaining": self.remaining, **self.params}


class FaultBook:
    """Armed faults, oldest first; the first one that matches a request is used up."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, name: str, kinds: frozenset[str], times: int | None, **params: Any) -> Fault:
        fault = Fault(name=name, kinds=kinds, remaining=_times(times), params=params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, names: Iterable[str], kind: str) -> Fault | None:
        """Use up one firing of the oldest fault among ``names`` that covers ``kind``."""
        wanted = set(names)
        with self._lock:
            for fault in self._faults:
                if fault.name in wanted and kind in fault.kinds:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]
