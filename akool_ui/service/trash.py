"""Delete with undo: a deleted job disappears from its owner's history at once, but its record and files
are only removed after a grace period, so "Undo delete" can bring it back whole.

The pending deletions live in memory: if the app stops before a grace period ends, that job is simply
not deleted (nothing is ever lost by a restart; the owner can delete it again). Each deletion runs on a
daemon timer when its grace period ends, or at once with ``flush`` (the app closing).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["DeleteGrace", "UNDO_SECONDS"]

log = logging.getLogger(__name__)

# Long enough to notice a wrong click and press Undo; short enough that a deleted job's disk is freed soon.
UNDO_SECONDS = 10 * 60.0


@dataclass
class _Pending:
    owner: str
    due: float
    timer: threading.Timer | None


class DeleteGrace:
    """Jobs deleted but still restorable; ``delete(job_id, owner)`` removes one for good when its time is up."""

    def __init__(self, delete: Callable[[str, str], bool], *, grace_seconds: float = UNDO_SECONDS,
                 clock: Callable[[], float] = time.monotonic, timers: bool = True):
        self._delete = delete
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._timers = timers  # tests drive ``purge_due`` themselves
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def hide(self, job_id: str, owner: str) -> None:
        """Take ``job_id`` out of ``owner``'s view now; delete it for good after the grace period."""
        timer = None
        if self._timers:
            timer = threading.Timer(self.grace_seconds, self._expire, args=(job_id,))
            timer.daemon = True
        with self._lock:
            old = self._pending.pop(job_id, None)
            self._pending[job_id] = _Pending(owner, self._clock() + self.grace_seconds, timer)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        if timer is not None:
            timer.start()

    def restore(self, job_id: str, owner: str) -> bool:
        """Undo: ``job_id`` is ``owner``'s again (False when it is not pending for them, or already gone)."""
        with self._lock:
            pending = self._pending.get(job_id)
            if pending is None or pending.owner != owner:
                return False
            del self._pending[job_id]
        if pending.timer is not None:
            pending.timer.cancel()
        return True

    def is_hidden(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._pending

    def purge_due(self) -> int:
        """Delete every job whose grace period has ended; how many were deleted."""
        now = self._clock()
        with self._lock:
            due = [job_id for job_id, p in self._pending.items() if p.due <= now]
        return sum(1 for job_id in due if self._expire(job_id))

    def flush(self) -> None:
        """Delete every pending job now (the app is closing: the owner asked for it)."""
        with self._lock:
            ids = list(self._pending)
        for job_id in ids:
            self._expire(job_id)

    def _expire(self, job_id: str) -> bool:
        with self._lock:
            pending = self._pending.pop(job_id, None)
        if pending is None:
            return False
        if pending.timer is not None:
            pending.timer.cancel()
        try:
            return bool(self._delete(job_id, pending.owner))
        except Exception:  # noqa: BLE001 - a failed delete leaves the job in history; never kills the timer
            log.exception("deleting job %s after its undo period failed", job_id)
            return False
