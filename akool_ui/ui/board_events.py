"""The boards' events (``boards_panel.py``'s components to ``handlers/boards.py``), wired by ``layout.py``:
managing boards, the history's view and filters, and "Select" mode's bulk actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .handlers import StudioHandlers
    from .panels import Page

__all__ = ["setup_board_events"]


def setup_board_events(page: "Page", h: "StudioHandlers", refresh_history: dict[str, Any], quick: dict[str, Any],
                       private: dict[str, Any]) -> None:
    """``refresh_history``: the history reload's event arguments (it reads the view and the filters)."""
    boards, history, who = page.boards, page.history, page.who()
    opts = {**quick, **private}
    # Any new history page (another page, owner, view): the board lists and the page's checkboxes follow.
    history.state.change(h.boards.on_history, [history.state, boards.target], boards.choice_outputs(), **opts)
    # ``input``, not ``change``: a list refreshed by a handler must not reload the history again.
    boards.view.input(**refresh_history)
    for box in (boards.negative, boards.date_from, boards.date_to):
        box.submit(**refresh_history)
    for dropdown in (boards.model, boards.scale, boards.resolution, boards.when):
        dropdown.input(**refresh_history)
    boards.select.change(h.boards.toggle_select, boards.select, [boards.bulk, boards.zip_file], queue=False,
                         show_progress="hidden", **private)
    managed = [*boards.choice_outputs(), boards.status, boards.name]
    boards.create.click(h.boards.create, [boards.name, history.state, boards.target, *who], managed, **opts
                        ).then(**refresh_history)
    boards.name.submit(h.boards.create, [boards.name, history.state, boards.target, *who], managed, **opts
                       ).then(**refresh_history)
    boards.rename.click(h.boards.rename, [boards.view, boards.name, history.state, boards.target, *who], managed,
                        **opts).then(**refresh_history)
    boards.delete.click(h.boards.delete, [boards.view, history.state, boards.target, *who],
                        [*boards.choice_outputs(), boards.status], **opts).then(**refresh_history)
    status = [boards.bulk_status]
    boards.add.click(h.boards.add, [boards.picked, boards.board, *who], status, **opts).then(**refresh_history)
    boards.remove.click(h.boards.remove, [boards.picked, boards.board, *who], status, **opts).then(**refresh_history)
    boards.favourite.click(h.boards.favourite, [boards.picked, *who], status, **opts).then(**refresh_history)
    undoable = [boards.deleted, boards.undo, boards.bulk_status]
    boards.delete_picked.click(h.boards.delete_picked, [boards.picked, *who], undoable, **opts).then(**refresh_history)
    boards.undo.click(h.boards.undo, [boards.deleted, *who], undoable, **opts).then(**refresh_history)
    boards.zip.click(h.boards.zip, [boards.picked, *who], [boards.zip_file, boards.bulk_status], **opts)
