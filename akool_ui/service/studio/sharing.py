"""The Studio's share links: made and revoked by a job's owner only, resolved for anyone who has one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..library.shared_view import SharedResult, ShareGone, ShareNotFound, shared_view
from ..library.shares import Share, ShareRefused

if TYPE_CHECKING:  # pragma: no cover
    from .core import Studio

__all__ = ["SharingDoor"]


class SharingDoor:
    """Studio methods about share links (mixed into ``Studio``; ``self`` is the Studio)."""

    def share(self: "Studio", owner: str, job_id: str, index: int | None, *, include_prompt: bool = False) -> Share:
        """A read-only link to the owner's finished job: image ``index`` of it (None: every image).

        Raises:
            ShareRefused: not the owner's job (or deleted), nothing stored to show yet, or too many links.
            OSError: the link could not be saved (it does not exist).
        """
        record = self.get(job_id, owner)
        if record is None:
            raise ShareRefused("That job is no longer in your history.")
        stored = {e.index for e in record.images if e.is_stored}
        if not record.is_final or not stored or (index is not None and index not in stored):
            raise ShareRefused("Only a finished, stored image can be shared.")
        gone = frozenset(s.id for s in self.shares.of_owner(owner) if self.store.get(s.job_id) is None)
        return self.shares.create(owner, job_id, index, include_prompt=bool(include_prompt), forget=gone)

    def shares_of(self: "Studio", owner: str, job_id: str | None = None) -> list[Share]:
        """The owner's share links (only those of ``job_id`` when given), newest first."""
        return [s for s in self.shares.of_owner(owner) if job_id is None or s.job_id == job_id]

    def revoke_share(self: "Studio", owner: str, share_id: str) -> bool:
        """End the owner's link: from now on it shows what an unknown link shows. False if it is not theirs.

        Raises:
            OSError: the change could not be saved (the link still works).
        """
        return self.shares.revoke(owner, share_id)

    def resolve_share(self: "Studio", share_id: str) -> SharedResult:
        """What the link ``share_id`` shows, to anyone (no owner asked: the random id is the permission).

        Raises:
            ShareNotFound: not a share (never made, revoked, malformed).
            ShareGone: its job was deleted (or is deleted with undo pending), or its images are gone.
        """
        share = self.shares.get(share_id)
        if share is None:
            raise ShareNotFound()
        record = self.store.get(share.job_id)
        if record is None or record.owner != share.owner or self.trash.is_hidden(record.id):
            raise ShareGone()
        return shared_view(share, record, self.results.local_path)
