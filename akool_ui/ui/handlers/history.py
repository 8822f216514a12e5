"""The owner's history (pages, search, reopening a job) and the session around it: page load, and
forgetting the visitor's key (which switches the history back to this browser's own jobs).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import gradio as gr

from ...jobs import JobRecord
from ...service import VIEW_ALL, VIEW_FAVOURITES, is_board_id, is_browser_id
from .. import views
from ..assets import placeholder_for
from ..mode_text import empty_history
from ..panels import HistoryPanel, HistoryRender, KeyPanel, Updates, new_history_state, new_view, session_of
from .boards import filters_of, history_filter
from .common import StudioAccess, _key, in_thread, refuse, user_errors
from .results import ResultsHandlers

__all__ = ["HistoryHandlers", "HISTORY_PAGE_SIZE"]

HISTORY_PAGE_SIZE = 12
_NO_JOBS = "No jobs yet: your results will appear here."


class HistoryHandlers:
    """The history panel's events, and the session events that end in showing it, for one page."""

    def __init__(self, access: StudioAccess, panel: HistoryPanel, keys: KeyPanel, results: ResultsHandlers):
        self.access = access
        self.panel = panel
        self.keys = keys
        self.results = results

    def render(self, state: dict[str, Any], owner: str, *, own_key: bool = False) -> HistoryRender:
        """The page of ``owner``'s history that ``state`` points at (its view: all jobs, the favourites or
        a board; its filters: see ``boards.history_filter``)."""
        studio = self.access.studio
        view = VIEW_FAVOURITES if state.get("favourites") else (state.get("view") or VIEW_ALL)
        filters = history_filter(**(state.get("filters") or {}))
        cursor = state["cursors"][state["page"]]
        page = studio.history(owner, cursor=cursor, limit=HISTORY_PAGE_SIZE, query=state["query"] or None,
                              filters=filters, view=view)
        items, next_cursor = page.items, page.next_cursor
        stars = set(studio.favourite_ids(owner))
        captions = [views.history_caption(r) for r in items]
        tiles = [(self._tile(r), ("★ " if r.id in stars else "") + caption) for r, caption in zip(items, captions)]
        # "view" stays the Show list's (the favourites box overrides it without changing the list).
        state = {**state, "ids": [r.id for r in items], "labels": captions, "next": next_cursor, "owner": owner,
                 "view": state.get("view") or VIEW_ALL}
        board = next((b.name for b in studio.list_boards(owner) if b.id == view), None) if is_board_id(view) else None
        searching = bool(state["query"]) or not filters.is_empty
        if items:
            label = f"Page {state['page'] + 1}" + (" of your favourites" if view == VIEW_FAVOURITES else (
                f" of “{board}”" if board else ""))
        elif next_cursor is not None:
            label = "No match among the jobs looked at so far: press Older → to look further back."
        elif view == VIEW_FAVOURITES:
            label = "No favourites yet: star a job (☆ Favourite) to find it here." if not searching else (
                "No favourites match that search.")
        elif board:
            label = f"Nothing on “{board}” yet: tick Select, pick jobs and press Add to board." if not searching else (
                "Nothing on this board matches that search.")
        else:
            label = empty_history(own_key=own_key, searching=searching)
        return HistoryRender(tiles, state, label, has_newer=state["page"] > 0, has_older=next_cursor is not None)

    def _tile(self, record: JobRecord) -> str:
        """A link to the job's first image, or a placeholder for its state (running, failed, timed out)."""
        rel = views.first_display_path(record)
        link = self.access.link(record, self.access.abspath(rel)) if rel else None
        return link or str(placeholder_for(record.state))

    def _show(self, state: dict[str, Any], owner: str, api_key: str | None = None) -> Updates:
        return self.panel.updates(self.render(state, owner, own_key=_key(api_key) is not None))

    @user_errors
    def refresh(self, query: str, favourites: bool, api_key: str, browser_id: str, view: str = VIEW_ALL,
                *filters: Any) -> Updates:
        """The first page again, for the search box, the favourites box, the view and the filters
        (``BoardsPanel.filter_inputs``, in that order)."""
        owner = self.access.owner(api_key, browser_id)
        self.access.studio.remember(_key(api_key), owner)  # their own key is back: resume their unfinished jobs
        state = {**new_history_state((query or "").strip()), "favourites": favourites is True,
                 "view": view if isinstance(view, str) and view else VIEW_ALL, "filters": filters_of(filters)}
        return self._show(state, owner, api_key)

    @user_errors
    def older(self, state: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        state = dict(state or new_history_state())
        if state.get("next"):
            state["cursors"] = [*state["cursors"][: state["page"] + 1], state["next"]]
            state["page"] += 1
        return self._show(state, self.access.owner(api_key, browser_id), api_key)

    @user_errors
    def newer(self, state: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        state = dict(state or new_history_state())
        state["page"] = max(0, state["page"] - 1)
        return self._show(state, self.access.owner(api_key, browser_id), api_key)

    @user_errors
    async def reopen(
        self, state: dict[str, Any], view: dict[str, Any], api_key: str, browser_id: str, evt: gr.SelectData
    ) -> AsyncIterator[Updates]:
        """A history tile was clicked: show that job (and its U/V results) in the results panel (``view``
        is the panel's current one: the session's running cost carries over)."""
        studio = self.access.studio
        owner = self.access.owner(api_key, browser_id)
        ids = (state or {}).get("ids") or []
        if not (isinstance(evt.index, int) and 0 <= evt.index < len(ids)):
            raise refuse("That job is no longer in your history.")
        record = await in_thread(studio.get, ids[evt.index], owner)
        if record is None:
            raise refuse("That job is no longer in your history.")
        children = [c.id for c in await in_thread(studio.children, record.id, owner)]
        view = new_view([record.id, *children], selected=record.id, session=session_of(view))
        records = await in_thread(self.access.records, view["jobs"], owner)
        async for update in self.results.stream(view, owner, records):
            yield update

    # --- session -----------------------------------------------------------------------------------

    @user_errors
    def start_session(self, browser_id: str | None, api_key: str | None) -> Updates:
        """After page load (the browser id is made in the browser): resume the visitor's jobs, show history."""
        if not is_browser_id(browser_id) and not _key(api_key):
            return self.panel.updates(HistoryRender([], new_history_state(), _NO_JOBS, has_newer=False, has_older=False))
        owner = self.access.owner(api_key, browser_id)
        self.access.studio.remember(_key(api_key), owner)
        return self._show(new_history_state(), owner, api_key)

    @user_errors
    def catch_up(self, state: dict[str, Any] | None, api_key: str | None, browser_id: str | None) -> Updates:
        """After page load's history has landed: if a key was typed (or forgotten) while it was on its way,
        its answer is for the owner of a moment ago and may have overwritten the newer one; show the current
        owner's history again. Nothing changes when they are the same owner (the usual case)."""
        # Unchanged is a skip per output: an empty dict is read by Gradio as one value for five outputs.
        unchanged = {component: gr.skip() for component in self.panel.outputs()}
        if not is_browser_id(browser_id) and not _key(api_key):
            return unchanged
        owner = self.access.owner(api_key, browser_id)
        state = state if isinstance(state, dict) else {}
        if state.get("owner") == owner:
            return unchanged
        self.access.studio.remember(_key(api_key), owner)
        return self._show(new_history_state(state.get("query") or ""), owner, api_key)

    @user_errors
    def forget_key(self, query: str, browser_id: str) -> Updates:
        """Clear the key from the box and from this browser's storage (and stop remembering it); show the
        browser's own history."""
        state = new_history_state((query or "").strip())
        return {**self.keys.forgotten(), **self._show(state, self.access.owner(None, browser_id))}
