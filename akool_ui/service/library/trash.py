"""Delete with undo: a deleted job disappears from its owner's history at once, but its record and files
are only removed after a grace period, so "Undo delete" can bring it back whole.

The pending deletions live in the ``trash`` document (``{job id: {"owner": ..., "due": epoch seconds}}``),
so a job deleted through one process is hidden in every process on the same data folder, "Undo" works
from any of them, and a restart neither forgets a deletion nor brings the job back. Each process keeps one
daemon timer for the earliest deletion it knows of and, when it fires, deletes whatever is due, whoever
asked; an entry leaves the document by compare-and-set before its job is deleted, so one process deletes
it (and deleting twice would be harmless anyway).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ..documents import CachedDocument
from ..ports import Documents

__all__ = ["DeleteGrace", "UNDO_SECONDS", "TRASH_DOCUMENT"]

log = logging.getLogger(__name__)

TRASH_DOCUMENT = "trash"
# Long enough to notice a wrong click and press Undo; short enough that a deleted job's disk is freed soon.
UNDO_SECONDS = 10 * 60.0

Pending = dict[str, dict[str, Any]]


class DeleteGrace:
    """Jobs deleted but still restorable; ``delete(job_id, owner)`` removes one for good when its time is up.

    ``clock`` is epoch seconds (deadlines are shared between processes); ``timers=False`` leaves deleting
    to ``purge_due`` (tests drive it themselves)."""

    def __init__(self, delete: Callable[[str, str], bool], documents: Documents, *,
                 grace_seconds: float = UNDO_SECONDS, clock: Callable[[], float] = time.time, timers: bool = True):
        self._delete = delete
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._timers = timers
        self._lock = threading.Lock()
        self._doc: CachedDocument[Pending] = CachedDocument(documents, TRASH_DOCUMENT, parse=_parse, dump=dict)
        self._timer: threading.Timer | None = None
        self._timer_due: float | None = None
        self._planned = -1  # the document's ``changes`` the timer was planned for
        self._closed = False

    def __repr__(self) -> str:
        return f"DeleteGrace(grace_seconds={self.grace_seconds:g})"

    def start(self) -> None:
        """Plan the deletions left pending by an earlier run (or another process)."""
        with self._lock:
            self._closed = False
            self._plan()

    def hide(self, job_id: str, owner: str) -> None:
        """Take ``job_id`` out of ``owner``'s view now; delete it for good after the grace period.

        Raises:
            StorageUnavailable: the pending deletions could not be written (nothing was hidden).
        """
        due = self._clock() + self.grace_seconds
        with self._lock:
            self._doc.update(lambda pending: pending.__setitem__(job_id, {"owner": owner, "due": due}))
            self._plan()

    def restore(self, job_id: str, owner: str) -> bool:
        """Undo: ``job_id`` is ``owner``'s again (False when it is not pending for them, or already gone)."""
        def take_back(pending: Pending) -> bool:
            entry = pending.get(job_id)
            if entry is None or entry["owner"] != owner:
                return False
            del pending[job_id]
            return True

        with self._lock:
            if job_id not in self._doc.get():
                return False
            restored = self._doc.update(take_back)
            self._plan()
            return restored

    def is_hidden(self, job_id: str) -> bool:
        with self._lock:
            hidden = job_id in self._doc.get()
            self._plan()
            return hidden

    def hidden_ids(self) -> frozenset[str]:
        """Every job pending deletion, read once (a search that looks at many records asks this once)."""
        with self._lock:
            hidden = frozenset(self._doc.get())
            self._plan()
            return hidden

    def purge_due(self) -> int:
        """Delete every job whose grace period has ended; how many were deleted."""
        now = self._clock()
        with self._lock:
            due = [job_id for job_id, entry in self._doc.get().items() if entry["due"] <= now]
        return sum(1 for job_id in due if self._expire(job_id, due_by=now))

    def flush(self) -> None:
        """Delete every pending job now, whoever asked and whenever it was due."""
        with self._lock:
            ids = list(self._doc.get())
        for job_id in ids:
            self._expire(job_id)

    def close(self) -> None:
        """Stop this process's timer after deleting what is due; what is not due yet stays pending in the
        document (another process, or the next start, deletes it when its time comes)."""
        with self._lock:
            self._closed = True
            timer, self._timer, self._timer_due = self._timer, None, None
        if timer is not None:
            timer.cancel()
        self.purge_due()

    def _expire(self, job_id: str, *, due_by: float | None = None) -> bool:
        """Take ``job_id`` out of the document (if still there, and due by ``due_by``) and delete it."""
        def take(pending: Pending) -> str | None:
            entry = pending.get(job_id)
            if entry is None or (due_by is not None and entry["due"] > due_by):
                return None
            del pending[job_id]
            return str(entry["owner"])

        try:
            with self._lock:
                owner = self._doc.update(take)
        except Exception:  # noqa: BLE001 - a failed write leaves the job pending; never kills the timer
            log.exception("taking job %s out of the pending deletions failed", job_id)
            return False
        if owner is None:
            return False  # restored, or another process deleted it
        try:
            return bool(self._delete(job_id, owner))
        except Exception:  # noqa: BLE001 - a failed delete leaves the job in history; never kills the timer
            log.exception("deleting job %s after its undo period failed", job_id)
            return False

    # --- the timer -----------------------------------------------------------------------------------

    def _plan(self) -> None:
        """Have the timer fire at the earliest deadline in the document (the caller holds the lock)."""
        if not self._timers or self._closed or self._planned == self._doc.changes:
            return
        self._planned = self._doc.changes
        dues = [float(entry["due"]) for entry in self._doc.value.values()]
        if not dues:
            return
        due = min(dues)
        if self._timer is not None and self._timer_due is not None and self._timer_due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(max(0.0, due - self._clock()), self._fire)
        self._timer.daemon = True
        self._timer_due = due
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer, self._timer_due = None, None
        self.purge_due()
        with self._lock:
            self._planned = -1
            self._plan()


def _parse(data: Any) -> Pending:
    if not isinstance(data, dict):
        if data is not None:
            log.warning("the pending deletions document is malformed; nothing is pending")
        return {}
    pending: Pending = {}
    for job_id, entry in data.items():
        if isinstance(entry, dict) and isinstance(entry.get("owner"), str) and isinstance(entry.get("due"), (int, float)):
            pending[str(job_id)] = {"owner": entry["owner"], "due": float(entry["due"])}
    return pending
