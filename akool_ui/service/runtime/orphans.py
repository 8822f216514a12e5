"""OrphanSweep: a replica takes on the jobs whose poller died.

Every in-flight job is polled by whoever holds its ``poll/<id>`` lease (``scheduler``). When that holder
dies, the lease lapses (the shared adapter's heartbeat stops; the local adapter sees the process gone),
and the job would wait for the next start-up. The sweep looks every ``interval`` seconds for in-flight
jobs nobody holds and tracks them here (the lease decides, so two replicas sweeping at once never both
poll a job). Started by ``Studio.start`` when bootstrap gives it one (several replicas: the shared
adapter); a thread of its own, stopped by ``close``.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

__all__ = ["OrphanSweep", "SWEEP_SECONDS"]

log = logging.getLogger(__name__)

# Reading every in-flight record costs one round trip per thousand jobs; every few seconds is cheap, and a
# dead replica's job waits at most its lease's liveness plus this before someone polls it again.
SWEEP_SECONDS = 3.0


class OrphanSweep:
    """Calls ``adopt()`` (the tracker's ``adopt_orphans``: how many jobs it took on) every ``interval``."""

    def __init__(self, adopt: Callable[[], int], *, interval: float = SWEEP_SECONDS):
        self._adopt = adopt
        self.interval = float(interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"OrphanSweep(interval={self.interval:g})"

    def start(self) -> "OrphanSweep":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="orphan-sweep", daemon=True)
            self._thread.start()
        return self

    def sweep(self) -> int:
        """One look (also what the thread does); how many jobs were taken on."""
        try:
            taken = self._adopt()
        except Exception:  # the store may be briefly unreachable; the next sweep tries again
            log.warning("looking for jobs nobody polls failed; trying again in %g s", self.interval, exc_info=True)
            return 0
        if taken:
            log.info("took on %d job(s) whose poller stopped (another replica died or shut down)", taken)
        return taken

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
