"""Boards on the page: making, renaming and deleting them, the dropdowns that list them, the board a new
job goes on, and "Select" mode's bulk actions (delete with undo, add to / take off a board, favourite,
download as one zip)."""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import gradio as gr

from ...jobs import JobRecord
from ...service import PERIODS, VIEW_ALL, BoardRefused, HistoryFilter, is_board_id, parse_day
from ..boards_panel import ANY, ANY_TIME, FILTER_NAMES, NO_BOARD, BoardsPanel, view_choices
from ..panels import Updates
from .common import StudioAccess, in_thread, refuse, user_errors
from .downloads import Downloads

__all__ = ["BoardHandlers", "history_filter", "file_into_board", "BOARD_VALUE"]

log = logging.getLogger(__name__)

BOARD_VALUE = "board"  # the key of the form's board choice among Generate's named values


def history_filter(*, negative_prompt: str = "", model: str = "", scale: str = "", resolution: str = "",
                   when: str = "", date_from: str = "", date_to: str = "") -> HistoryFilter:
    """The filters as the page (or an API caller) gives them; "Any" is no filter. SearchRefused on a bad date."""
    def chosen(value: Any) -> str:
        return "" if value in (None, ANY) else str(value).strip()

    start, end = parse_day(date_from), parse_day(date_to, end=True)
    period = PERIODS.get(when or ANY_TIME)
    if period is not None:
        start = max(start or 0.0, time.time() - period)
    return HistoryFilter(negative_prompt=chosen(negative_prompt), model=chosen(model), scale=chosen(scale),
                         resolution=chosen(resolution), date_from=start, date_to=end)


def filters_of(values: Sequence[Any]) -> dict[str, Any]:
    """The filter widgets' values (``BoardsPanel.filter_inputs`` order) by name, kept in the history state."""
    return {name: (value if isinstance(value, str) else "") for name, value in zip(FILTER_NAMES, values)}


def file_into_board(access: StudioAccess, owner: str, board: Any, records: Sequence[JobRecord]) -> None:
    """Put Generate's new jobs on the form's board (none chosen: nothing). A board deleted meanwhile is
    said as a warning: the jobs were made all the same."""
    if not is_board_id(board) or not records:
        return
    try:
        access.studio.add_to_board(owner, board, [r.id for r in records])
    except BoardRefused as exc:
        gr.Warning(f"The new jobs were made but not put on the board: {exc.user_message}")
    except OSError:
        log.exception("putting new jobs on a board failed")
        gr.Warning("The new jobs were made but could not be put on the board (storage failed).")


class BoardHandlers:
    """The boards' and the bulk bar's events, for one page."""

    def __init__(self, access: StudioAccess, panel: BoardsPanel):
        self.access = access
        self.panel = panel
        self.downloads = Downloads(access)

    # --- the dropdowns and the checkboxes --------------------------------------------------------------

    def choices(self, state: dict[str, Any], view: str | None = None, target: str | None = None) -> Updates:
        """Every board list and the page's checkboxes, for the history ``state`` (whose owner it holds)."""
        state = state or {}
        owner = state.get("owner")
        boards = self.access.studio.list_boards(owner) if owner else []
        ids = {b.id for b in boards}
        view = view if view is not None else state.get("view") or VIEW_ALL
        view = view if view in ids or not is_board_id(view) else VIEW_ALL
        labels = state.get("labels") or []
        picks = [(f"{n}. {label}", job_id) for n, (job_id, label) in enumerate(zip(state.get("ids") or [], labels), 1)]
        return {
            self.panel.view: gr.update(choices=view_choices(boards), value=view),
            self.panel.target: gr.update(choices=[("No board", NO_BOARD), *((b.name, b.id) for b in boards)],
                                         **({"value": target if target in ids else NO_BOARD} if target is not None else {})),
            self.panel.board: gr.update(choices=[(b.name, b.id) for b in boards],
                                        value=view if view in ids else (boards[-1].id if boards else None)),
            self.panel.picked: gr.update(choices=picks, value=[]),
        }

    @user_errors
    def on_history(self, state: dict[str, Any], target: str) -> Updates:
        """The history page changed (another page, owner, view): refresh the lists, clear the picks."""
        return self.choices(state, target=target or NO_BOARD)

    def toggle_select(self, on: bool) -> Updates:
        return {self.panel.bulk: gr.update(visible=bool(on)), self.panel.zip_file: gr.update(visible=False, value=None)}

    # --- managing boards -----------------------------------------------------------------------------

    @user_errors
    def create(self, name: str, state: dict[str, Any], target: str, api_key: str, browser_id: str) -> Updates:
        owner = self.access.owner(api_key, browser_id)
        board = self.access.studio.create_board(owner, name)
        return {**self.choices({**(state or {}), "owner": owner}, view=board.id, target=target),
                self.panel.status: f"Board “{board.name}” made: it is shown below. Pick jobs with Select to add them.",
                self.panel.name: ""}

    @user_errors
    def rename(self, view: str, name: str, state: dict[str, Any], target: str, api_key: str, browser_id: str) -> Updates:
        owner = self.access.owner(api_key, browser_id)
        if not is_board_id(view):
            raise refuse("Show a board first (the Show list), then rename it.")
        board = self.access.studio.rename_board(owner, view, name)
        return {**self.choices({**(state or {}), "owner": owner}, view=board.id, target=target),
                self.panel.status: f"Renamed to “{board.name}”.", self.panel.name: ""}

    @user_errors
    def delete(self, view: str, state: dict[str, Any], target: str, api_key: str, browser_id: str) -> Updates:
        owner = self.access.owner(api_key, browser_id)
        if not is_board_id(view):
            raise refuse("Show a board first (the Show list), then delete it.")
        board = next((b for b in self.access.studio.list_boards(owner) if b.id == view), None)
        if board is None or not self.access.studio.delete_board(owner, view):
            raise refuse("That board no longer exists.")
        return {**self.choices({**(state or {}), "owner": owner}, view=VIEW_ALL, target=target),
                self.panel.status: f"Board “{board.name}” deleted; its jobs are still in your history."}

    # --- bulk actions ----------------------------------------------------------------------------------

    def _picked(self, picked: Any) -> list[str]:
        ids = [p for p in (picked or []) if isinstance(p, str)] if isinstance(picked, list) else []
        if not ids:
            raise refuse("Pick one or more jobs first (tick them in the list).")
        return ids

    @user_errors
    def add(self, picked: list[str], board: str, api_key: str, browser_id: str) -> Updates:
        ids, owner = self._picked(picked), self.access.owner(api_key, browser_id)
        if not is_board_id(board):
            raise refuse("Choose a board to add them to (make one under Boards).")
        added = self.access.studio.add_to_board(owner, board, ids)
        return {self.panel.bulk_status: f"{_jobs(added)} added to the board ({len(ids) - added} already on it)."}

    @user_errors
    def remove(self, picked: list[str], board: str, api_key: str, browser_id: str) -> Updates:
        ids, owner = self._picked(picked), self.access.owner(api_key, browser_id)
        if not is_board_id(board):
            raise refuse("Choose the board to take them off.")
        taken = self.access.studio.remove_from_board(owner, board, ids)
        return {self.panel.bulk_status: f"{_jobs(taken)} taken off the board (still in your history)."}

    @user_errors
    def favourite(self, picked: list[str], api_key: str, browser_id: str) -> Updates:
        starred = self.access.studio.favourite_many(self.access.owner(api_key, browser_id), self._picked(picked))
        return {self.panel.bulk_status: f"★ {_jobs(starred)} starred."}

    @user_errors
    def delete_picked(self, picked: list[str], api_key: str, browser_id: str) -> Updates:
        gone = self.access.studio.delete_many(self.access.owner(api_key, browser_id), self._picked(picked))
        minutes = round(self.access.studio.undo_seconds / 60)
        return {self.panel.deleted: gone, self.panel.undo: gr.update(interactive=bool(gone)),
                self.panel.bulk_status: f"{_jobs(len(gone))} deleted. Undo delete brings them back for {minutes} minutes."}

    @user_errors
    def undo(self, deleted: list[str], api_key: str, browser_id: str) -> Updates:
        back = self.access.studio.undo_delete_many(self.access.owner(api_key, browser_id), deleted or [])
        return {self.panel.deleted: [], self.panel.undo: gr.update(interactive=False),
                self.panel.bulk_status: f"{_jobs(len(back))} brought back." if back else (
                    "Too late to undo: they were deleted for good.")}

    @user_errors
    async def zip(self, picked: list[str], api_key: str, browser_id: str) -> Updates:
        ids, owner = self._picked(picked), self.access.owner(api_key, browser_id)
        records = await in_thread(self.access.records, ids, owner)
        if any(r.is_in_flight for r in records):
            raise refuse("Some of the picked jobs are still running: download them when they are done.")
        path = await in_thread(self.downloads.zip, {}, records)
        if path is None:
            raise refuse("None of the picked jobs has a stored original to download.")
        return {self.panel.zip_file: gr.update(value=path, visible=True),
                self.panel.bulk_status: f"The zip of {_jobs(len(records))} is ready below."}


def _jobs(n: int) -> str:
    return f"{n} job" + ("" if n == 1 else "s")
