"""The Studio's library: the jobs each owner starred."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .core import Studio

__all__ = ["LibraryDoor"]


class LibraryDoor:
    """Studio methods about favourites (mixed into ``Studio``; ``self`` is the Studio)."""

    def is_favourite(self: "Studio", owner: str, job_id: str) -> bool:
        return self.favourites.is_starred(owner, job_id)

    def set_favourite(self: "Studio", owner: str, job_id: str, starred: bool) -> bool:
        """Star or unstar the owner's job; whether it is starred now.

        Raises:
            OSError: the change could not be saved (it is not kept).
        """
        return self.favourites.set(owner, job_id, starred)

    def favourite_ids(self: "Studio", owner: str) -> list[str]:
        """The owner's starred job ids, most recently starred first (deleted ones left out)."""
        return [job_id for job_id in self.favourites.ids(owner) if not self.trash.is_hidden(job_id)]
