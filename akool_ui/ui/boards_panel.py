"""The boards' components: the board a new job goes on (in the form), the history's view (all, favourites,
a board), its search filters, the boards' management and the bulk bar of "Select" mode. No events.

Gradio's Gallery has no multi-select, so "Select" shows the page's jobs again as a CheckboxGroup (numbered
as the tiles are, with their captions): big tap targets that work the same on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..akool.models import MODELS, RESOLUTIONS
from ..akool.validation import SCALES
from ..service import AUTO_MODEL_FILTER, PERIODS, VIEW_ALL, VIEW_FAVOURITES

__all__ = ["BoardsPanel", "render_board_target", "render_history_tools", "render_bulk_bar", "ANY", "ANY_TIME",
           "FILTER_NAMES", "NO_BOARD", "view_choices"]

ANY = "Any"
ANY_TIME = "Any time"
NO_BOARD = ""
# The filters' names, in the order of ``BoardsPanel.filter_inputs`` (and of ``history_filter``'s keywords).
FILTER_NAMES = ("negative_prompt", "model", "scale", "resolution", "when", "date_from", "date_to")


def view_choices(boards: list[Any]) -> list[tuple[str, str]]:
    """The history view's choices: all jobs, the favourites, then each board by name."""
    return [("All jobs", VIEW_ALL), ("★ Favourites", VIEW_FAVOURITES), *((f"▦ {b.name}", b.id) for b in boards)]


@dataclass(frozen=True, eq=False)
class BoardsPanel:
    target: gr.Dropdown
    """The form's "Add to board": where Generate puts the new jobs (none by default)."""
    view: gr.Dropdown
    select: gr.Checkbox
    negative: gr.Textbox
    model: gr.Dropdown
    scale: gr.Dropdown
    resolution: gr.Dropdown
    when: gr.Dropdown
    date_from: gr.Textbox
    date_to: gr.Textbox
    name: gr.Textbox
    create: gr.Button
    rename: gr.Button
    delete: gr.Button
    status: gr.Markdown
    bulk: gr.Column
    picked: gr.CheckboxGroup
    favourite: gr.Button
    board: gr.Dropdown
    add: gr.Button
    remove: gr.Button
    delete_picked: gr.Button
    undo: gr.Button
    zip: gr.Button
    zip_file: gr.File
    bulk_status: gr.Markdown
    deleted: gr.State
    """The ids the last bulk delete took away (what Undo brings back)."""

    def filter_inputs(self) -> list[Any]:
        return [self.negative, self.model, self.scale, self.resolution, self.when, self.date_from, self.date_to]

    def choice_outputs(self) -> list[Any]:
        """What changes when the owner's boards (or the history page) change."""
        return [self.view, self.target, self.board, self.picked]


def render_board_target() -> dict[str, Any]:
    target = gr.Dropdown([("No board", NO_BOARD)], value=NO_BOARD, label="Add new jobs to board", elem_id="board",
                         info="Make boards under History.", interactive=True)
    return {"target": target}


def render_history_tools() -> dict[str, Any]:
    """The view, "Select" and, folded away (compact on a phone), the filters and the boards' management."""
    with gr.Row(equal_height=True, elem_id="history-view-row"):
        view = gr.Dropdown(view_choices([]), value=VIEW_ALL, label="Show", elem_id="history-view", scale=3,
                           min_width=160, interactive=True)
        select = gr.Checkbox(False, label="Select", elem_id="history-select-mode", scale=1, min_width=100)
    with gr.Accordion("Filters", open=False, elem_id="history-filters"):
        with gr.Row(elem_classes=["stack-on-phone"]):
            negative = gr.Textbox(label="Negative prompt contains", elem_id="history-negative", min_width=160)
            model = gr.Dropdown([ANY, AUTO_MODEL_FILTER, *MODELS], value=ANY, label="Model", elem_id="history-model",
                                min_width=160)
        with gr.Row():
            scale = gr.Dropdown([ANY, *SCALES], value=ANY, label="Ratio", elem_id="history-scale", min_width=100)
            resolution = gr.Dropdown([ANY, *RESOLUTIONS], value=ANY, label="Resolution", elem_id="history-resolution",
                                     min_width=100)
        with gr.Row():
            when = gr.Dropdown([ANY_TIME, *PERIODS], value=ANY_TIME, label="When", elem_id="history-when", min_width=120)
            date_from = gr.Textbox(label="From (UTC)", placeholder="YYYY-MM-DD", elem_id="history-from", min_width=100)
            date_to = gr.Textbox(label="To (UTC)", placeholder="YYYY-MM-DD", elem_id="history-to", min_width=100)
    with gr.Accordion("Boards", open=False, elem_id="boards-manage"):
        name = gr.Textbox(label="Board name", placeholder="Trips, Logos…", max_length=40, elem_id="board-name")
        with gr.Row():
            create = gr.Button("New board", size="sm", elem_id="board-create", min_width=90)
            rename = gr.Button("Rename shown board", size="sm", elem_id="board-rename", min_width=90)
            delete = gr.Button("Delete shown board", size="sm", elem_id="board-delete", variant="stop", min_width=90)
        status = gr.Markdown("", elem_id="board-status")
    return dict(view=view, select=select, negative=negative, model=model, scale=scale, resolution=resolution,
                when=when, date_from=date_from, date_to=date_to, name=name, create=create, rename=rename,
                delete=delete, status=status)


def render_bulk_bar() -> dict[str, Any]:
    """The page's jobs as checkboxes and what to do with the picked ones (shown in "Select" mode)."""
    with gr.Column(visible=False, elem_id="history-bulk") as bulk:
        picked = gr.CheckboxGroup([], label="Pick jobs (numbered as the tiles, left to right)",
                                  elem_id="history-picked")
        with gr.Row(elem_classes=["stack-on-phone"]):
            board = gr.Dropdown([], value=None, label="Board", elem_id="bulk-board", min_width=140, scale=2)
            add = gr.Button("Add to board", size="sm", elem_id="bulk-add", min_width=90, scale=1)
            remove = gr.Button("Take off board", size="sm", elem_id="bulk-remove", min_width=90, scale=1)
        with gr.Row():
            favourite = gr.Button("★ Favourite", size="sm", elem_id="bulk-favourite", min_width=90)
            zip_ = gr.Button("Download zip", size="sm", elem_id="bulk-zip", min_width=90)
            delete = gr.Button("Delete", size="sm", elem_id="bulk-delete", variant="stop", min_width=90)
            undo = gr.Button("Undo delete", size="sm", elem_id="bulk-undo", interactive=False, min_width=90)
        zip_file = gr.File(label="Zip of the picked jobs' originals", visible=False, elem_id="bulk-zip-file",
                           interactive=False)
        bulk_status = gr.Markdown("", elem_id="bulk-status")
    return dict(bulk=bulk, picked=picked, favourite=favourite, board=board, add=add, remove=remove,
                delete_picked=delete, undo=undo, zip=zip_, zip_file=zip_file, bulk_status=bulk_status,
                deleted=gr.State([]))
