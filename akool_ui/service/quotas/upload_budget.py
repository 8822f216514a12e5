"""The upload budget: how many MB of source images one visitor may store in a rolling 24 hours.

Uploads take this server's disk whoever pays Akool, so unlike the spending limits this budget applies to
every visitor, with their own key or not. It counts in the same ``UsageLedger`` as the spending limits,
under every key of the visitor (browser and hashed address), and refuses when either key is over.
"""

from __future__ import annotations

from ...settings import Limits
from .ledger import UsageLedger, room_at
from .limit_text import LimitReached, clock_time
from .visitors import Visitor

__all__ = ["UploadBudget", "UPLOAD_WINDOW"]

# Uploads are budgeted per rolling day: a try-out needs a few sources, not a folder's worth every hour.
UPLOAD_WINDOW = 24 * 3600.0


class UploadBudget:
    """Refuses an upload that would pass ``limits.upload_mb_per_visitor``; does nothing when that is None."""

    def __init__(self, limits: Limits, ledger: UsageLedger):
        self.limits = limits
        self.ledger = ledger

    def __repr__(self) -> str:
        return f"UploadBudget(upload_mb_per_visitor={self.limits.upload_mb_per_visitor!r})"

    def check(self, visitor: Visitor, nbytes: int) -> None:
        """Refuse an upload of ``nbytes`` that would pass the visitor's budget for the last 24 hours.

        Raises:
            LimitReached: with when the visitor can upload again.
        """
        limit_mb = self.limits.upload_mb_per_visitor
        if limit_mb is None:
            return
        limit = limit_mb * 2**20
        with self.ledger.lock:
            now = self.ledger.now()
            for key in visitor.keys:
                entries = sorted(self.ledger.uploads.get(key, ()))
                used = sum(n for _, n in entries)
                if used + nbytes <= limit:
                    continue
                if nbytes > limit:
                    raise LimitReached(
                        f"This image is larger than the {limit_mb} MB of source uploads each visitor may make in "
                        f"24 hours on this app; use a smaller image, or paste a public image URL instead."
                    )
                when = clock_time(room_at(entries, used, nbytes, limit, UPLOAD_WINDOW, now), now)
                if used >= limit:
                    raise LimitReached(
                        f"You have uploaded {limit_mb} MB of source images in the last 24 hours on "
                        f"this app; you can upload more at {when}, or paste a public image URL instead."
                    )
                raise LimitReached(
                    f"This image would take you past {limit_mb} MB of source uploads in 24 hours "
                    f"on this app; you can upload it at {when}, or paste a public image URL instead."
                )

    def record(self, visitor: Visitor, nbytes: int) -> None:
        """An upload of ``nbytes`` was stored for ``visitor``."""
        if self.limits.upload_mb_per_visitor is None:
            return
        with self.ledger.lock:
            now = self.ledger.now()
            self.ledger.add_upload(visitor.keys, now, nbytes)
