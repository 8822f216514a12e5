"""The Studio's boards and the history's views and bulk actions: named collections of an owner's jobs,
a history page narrowed to all jobs, the favourites or one board (and searched by field), and the
actions on several jobs at once (delete with undo, favourite, add to or take off a board)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Iterable

from ...jobs import JobRecord, Page
from ..library.boards import Board, BoardRefused
from ..library.search import HistoryFilter, filtered_page

if TYPE_CHECKING:  # pragma: no cover
    from .core import Studio

__all__ = ["BoardsDoor", "VIEW_ALL", "VIEW_FAVOURITES"]

VIEW_ALL = "all"
VIEW_FAVOURITES = "favourites"
# One bulk action's jobs at most: a history page is 12, a board 500; more in one click is a mistake.
MAX_BULK = 100


class BoardsDoor:
    """Studio methods about boards, history views and bulk actions (mixed into ``Studio``)."""

    # --- boards --------------------------------------------------------------------------------------

    def list_boards(self: "Studio", owner: str) -> list[Board]:
        """The owner's boards, oldest first (job ids as stored: ``board_jobs`` looks them up)."""
        return self.boards.list(owner)

    def create_board(self: "Studio", owner: str, name: str) -> Board:
        """Raises BoardRefused (one sentence) or OSError (not saved)."""
        return self.boards.create(owner, name)

    def rename_board(self: "Studio", owner: str, board_id: str, name: str) -> Board:
        return self.boards.rename(owner, board_id, name)

    def delete_board(self: "Studio", owner: str, board_id: str) -> bool:
        """Remove the board; its jobs stay in the history."""
        return self.boards.delete(owner, board_id)

    def board_jobs(self: "Studio", owner: str, board_id: str) -> list[str]:
        """The board's jobs that still exist (deleted ones, and those with undo pending, drop out), most
        recently added first."""
        return [j for j in self.boards.job_ids(owner, board_id) if self.get(j, owner) is not None]

    def add_to_board(self: "Studio", owner: str, board_id: str, job_ids: Iterable[str]) -> int:
        """Put the owner's jobs on their board (other ids are ignored); how many were new to it."""
        return self.boards.add(owner, board_id, self._own_jobs(owner, job_ids))

    def remove_from_board(self: "Studio", owner: str, board_id: str, job_ids: Iterable[str]) -> int:
        return self.boards.remove(owner, board_id, _bounded(job_ids))

    # --- views of the history ------------------------------------------------------------------------

    def view_filter(self: "Studio", owner: str, view: str | None, filters: HistoryFilter | None = None) -> HistoryFilter:
        """``filters`` narrowed to the view: ``VIEW_ALL`` (or None), ``VIEW_FAVOURITES``, or a board id.

        Raises:
            BoardRefused: no such board of the owner's.
        """
        filters = filters or HistoryFilter()
        if view in (None, "", VIEW_ALL):
            return filters
        if view == VIEW_FAVOURITES:
            return dataclasses.replace(filters, only=frozenset(self.favourites.ids(owner)))
        board = self.boards.get(owner, view)
        if board is None:
            raise BoardRefused("That board no longer exists: pick another one.")
        return dataclasses.replace(filters, only=frozenset(board.job_ids))

    def filtered_history(
        self: "Studio", owner: str, filters: HistoryFilter, *, cursor: str | None, limit: int, query: str | None,
    ) -> Page[JobRecord]:
        """A history page matching ``filters`` (see ``library/search.py``: the prompt in the store's index,
        the other fields page by page), jobs deleted with undo pending left out."""
        if filters.only is not None and not filters.only:
            return Page([], None)

        def fetch(at: str | None, n: int) -> Page[JobRecord]:
            return self.tracker.history(owner, cursor=at, limit=n, query=query)

        hidden = self.trash.hidden_ids()

        def keep(record: JobRecord) -> bool:
            return record.id not in hidden and filters.matches(record)

        return filtered_page(fetch, cursor, limit, keep, date_from=filters.date_from)

    # --- several jobs at once ------------------------------------------------------------------------

    def delete_many(self: "Studio", owner: str, job_ids: Iterable[str]) -> list[str]:
        """Delete the owner's jobs, each with undo (``undo_delete_many``); the ids actually deleted."""
        return [job_id for job_id in _bounded(job_ids) if self.delete(job_id, owner)]

    def undo_delete_many(self: "Studio", owner: str, job_ids: Iterable[str]) -> list[str]:
        """Bring back those still within their undo period; the ids brought back."""
        return [job_id for job_id in _bounded(job_ids) if self.undo_delete(job_id, owner)]

    def favourite_many(self: "Studio", owner: str, job_ids: Iterable[str], starred: bool = True) -> int:
        """Star (or unstar) the owner's jobs; how many."""
        own = self._own_jobs(owner, job_ids)
        for job_id in own:
            self.favourites.set(owner, job_id, starred)
        return len(own)

    def _own_jobs(self: "Studio", owner: str, job_ids: Iterable[str]) -> list[str]:
        return [job_id for job_id in _bounded(job_ids) if self.get(job_id, owner) is not None]


def _bounded(job_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(j for j in job_ids if isinstance(j, str)))
    if len(ids) > MAX_BULK:
        raise BoardRefused(f"Pick at most {MAX_BULK} jobs at once.")
    return ids
