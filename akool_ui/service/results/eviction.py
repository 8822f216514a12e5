"""Fair eviction: which original images go when an owner or the whole cache is over its size limit.

A shared link is hostile ground: one visitor's burst must never evict another visitor's results. So:

1. An owner over their own quota loses their own oldest originals first.
2. Over the global limit, only owners above their fair share (limit / owners with originals) lose any,
   the heaviest first, each one's oldest first. If none of them has an evictable job, the cache stays
   over the limit until one does (said once in the log, not once per stored image).

Never evicted: jobs finished less than ``min_age_seconds`` ago, jobs still polling or downloading, ids
the caller asks to keep. Records and previews stay; entries become EVICTED with their remote URL kept.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Callable

from ...jobs import ImageState, JobRecord
from ..ports import Blobs, JobRecords, RecordNotFound

__all__ = ["FairEviction", "heaviest_over_fair_share"]

LOG = logging.getLogger(__name__)


def heaviest_over_fair_share(usage: dict[str, int], limit: int, exhausted: set[str]) -> str | None:
    """The owner using most above ``limit / len(usage)`` (skipping ``exhausted``), or None."""
    if not usage:
        return None
    fair = limit / len(usage)
    over = [(used, owner) for owner, used in usage.items() if used > fair and owner not in exhausted]
    return max(over)[1] if over else None


class FairEviction:
    """Runs the policy above on one store; the limits are passed in on each run (they can change)."""

    def __init__(self, records: JobRecords, blobs: Blobs, *, clock: Callable[[], float]):
        """Each eviction is one record update; what is stored is counted by the records (their running
        total and per-owner sums); ``clock`` is read only when something is over its limit."""
        self._records = records
        self._blobs = blobs
        self._clock = clock
        self._over_limit_logged = False

    def enforce(self, *, limit: int, quota: int, min_age: float, keep: frozenset[str], owner: str | None) -> int:
        """Trim ``owner`` (if given) to ``quota``, then the cache to ``limit``; returns bytes of files deleted.

        Jobs done less than ``min_age`` seconds ago are too young to evict."""
        freed = 0
        if owner is not None:
            freed += self._enforce_owner_quota(owner, quota, keep, min_age)
        freed += self._enforce_global_limit(limit, keep, min_age)
        return freed

    def _cutoff(self, min_age: float) -> float:
        """Jobs done at or before this time are old enough to evict."""
        return self._clock() - min_age

    def _evictable(self, owner: str, keep: frozenset[str], cutoff: float) -> deque[str]:
        """``owner``'s evictable job ids, oldest completion first."""
        return deque(job_id for job_id in self._records.evictable(owner, cutoff) if job_id not in keep)

    def _evict_job(self, job_id: str, cutoff: float) -> tuple[int, int]:
        """Evict one job's originals; returns (bytes it had counted, bytes of files deleted).

        The record is re-checked inside the transaction, so a job that became in-flight or was finished
        again since the index was read is left alone (0, 0)."""
        doomed: list[str] = []
        released = 0

        def evict(record: JobRecord) -> None:
            nonlocal released
            if record.needs_work or record.done_at > cutoff:
                return
            released = record.stored_bytes
            for entry in record.images:
                if entry.is_stored:
                    if entry.original:
                        doomed.append(entry.original)
                    entry.state = ImageState.EVICTED
                    entry.original = None

        try:
            self._records.update(job_id, evict)
        except RecordNotFound:
            return 0, 0
        # after the commit: a crash leaves an orphan file, never a broken record
        return released, sum(self._blobs.delete(key) for key in doomed)

    def _enforce_owner_quota(self, owner: str, quota: int, keep: frozenset[str], min_age: float) -> int:
        """Trim ``owner``'s own oldest originals until they are within their quota."""
        used = self._records.owner_bytes(owner)
        if used <= quota:
            return 0
        cutoff = self._cutoff(min_age)
        freed = 0
        for job_id in self._evictable(owner, keep, cutoff):
            released, deleted = self._evict_job(job_id, cutoff)
            used -= released
            freed += deleted
            if used <= quota:
                break
        if freed:
            LOG.info("owner quota: evicted %d bytes of one owner's own original images", freed)
        return freed

    def _enforce_global_limit(self, limit: int, keep: frozenset[str], min_age: float) -> int:
        """Bring the store under ``limit`` at the expense of owners above their fair share only."""
        total = self._records.original_bytes()
        if total <= limit:
            self._over_limit_logged = False
            return 0
        cutoff = self._cutoff(min_age)
        usage = self._records.bytes_by_owner()
        queues: dict[str, deque[str]] = {}
        exhausted: set[str] = set()
        freed = 0
        while total > limit:
            victim = heaviest_over_fair_share(usage, limit, exhausted)
            if victim is None:
                self._log_stuck_over_limit(total - limit, len(usage))
                break
            if victim not in queues:
                queues[victim] = self._evictable(victim, keep, cutoff)
            if not queues[victim]:
                exhausted.add(victim)
                continue
            released, deleted = self._evict_job(queues[victim].popleft(), cutoff)
            freed += deleted
            usage[victim] -= released
            if usage[victim] <= 0:
                del usage[victim]  # no originals left: no longer counts towards the fair share
            total = self._records.original_bytes()
        else:
            self._over_limit_logged = False
        if freed:
            LOG.info("cache limit: evicted %d bytes of original images", freed)
        return freed

    def _log_stuck_over_limit(self, excess: int, owners: int) -> None:
        """Say once (per episode) that the store stays over its limit, and why."""
        if self._over_limit_logged:
            return
        self._over_limit_logged = True
        LOG.info(
            "cache is %d bytes over its limit, but no owner above their fair share (of %d) has a job old "
            "enough to evict; it stays over until one does",
            excess,
            owners,
        )
