"""The page's sections as small dataclasses of components, and how each turns named values into updates.

``layout.py`` builds one of each (``_render_*``); the handlers return ``panel.updates(...)``: dicts keyed
by component, which Gradio matches to an event's outputs by identity. No output depends on its position
in a list, and a component left out of a dict is left as it is (``gr.skip()``).

The ``*Render`` records (and the form's named values) are plain values the handlers compute; only the panels know which
component shows which value, and how (``interactive``, ``visible``, ``variant``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import gradio as gr

from ..akool import fields as request_fields

from .mode_text import AppMode, banner_classes, banner_text
from .boards_panel import BoardsPanel
from .compare_panel import ComparePanel
from .share_panel import SharePanel
from .source_image import SourceImage
from .views import ButtonView, unique

__all__ = [
    "Header", "SourcePanel", "FormPanel", "SOURCE_UPLOAD", "KeyPanel", "ResultsPanel", "ResultsRender",
    "HistoryPanel", "HistoryRender", "Page", "new_view", "new_history_state", "session_of", "AUTO_MODEL",
]

# The model box's first choice: send no model_name and let Akool pick from whether there is a source.
AUTO_MODEL = "Auto"

Updates = dict[Any, Any]  # {component: value or gr.update(...)}


def new_view(
    job_ids: Sequence[str], selected: str | None = None, index: int = 0, *, session: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The results panel's state: which jobs it shows, which image is selected, the gallery's order, and
    ``session``: the jobs this page made since it opened ({job id: cost}, see ``views.session_line``),
    carried from view to view."""
    return {
        "jobs": unique(job_ids),
        "selected": selected if selected is not None else (job_ids[0] if job_ids else None),
        "index": index,
        "items": [],
        "zip": None,
        "session": dict(session or {}),
    }


def session_of(view: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of the jobs the page made so far (empty for a view from before sessions were counted)."""
    session = (view or {}).get("session")
    return dict(session) if isinstance(session, dict) else {}


def new_history_state(query: str = "") -> dict[str, Any]:
    """The history panel's state: the search, the cursor of every page seen so far, the tiles' job ids."""
    return {"query": query, "cursors": [None], "page": 0, "ids": [], "next": None}


def _similar_visibility(shown: bool) -> bool | str:
    """``similar`` only means something with a source; "hidden" keeps it (and its id) in the page."""
    return True if shown else "hidden"


@dataclass(frozen=True, eq=False)
class Header:
    banner: gr.Markdown
    mode: AppMode

    def for_key(self, api_key: str | None) -> Updates:
        """The banner for what the key box holds now (a key changes where requests go and whose history)."""
        own = bool((api_key or "").strip())
        return {self.banner: gr.update(value=banner_text(self.mode, own_key=own),
                                       elem_classes=banner_classes(self.mode, own_key=own))}


@dataclass(frozen=True, eq=False)
class SourcePanel:
    """The image-to-image source: an upload (checked from its header), or a public URL."""

    image: SourceImage
    url: gr.Textbox
    url_preview: gr.Image
    url_check: gr.Markdown

    def checked(self, check: Any) -> Updates:
        """The URL check's outcome beside the field (``None``: an empty box, nothing to say)."""
        if check is None:
            return {self.url_preview: gr.update(value=None, visible=False), self.url_check: ""}
        return {
            self.url_preview: gr.update(value=check.preview, visible=check.ok),
            self.url_check: check.sentence if check.ok else f"⚠️ {check.sentence}",
        }


SOURCE_UPLOAD = "source_upload"  # the form's one value that is not a request field: the uploaded source


@dataclass(frozen=True, eq=False)
class FormPanel:
    """The request form: one widget per form field of ``akool/fields.py``, keyed by the field's name, so
    the handlers take and give named values (``named``, ``fill``) and never positions."""

    widgets: Mapping[str, Any]
    source: SourcePanel
    generate: gr.Button
    cost: gr.Markdown

    prompt = property(lambda self: self.widgets["prompt"])
    negative = property(lambda self: self.widgets["negative_prompt"])
    scale = property(lambda self: self.widgets["scale"])
    resolution = property(lambda self: self.widgets["resolution"])
    batch = property(lambda self: self.widgets["batch_quantity"])
    similar = property(lambda self: self.widgets["similar"])
    model = property(lambda self: self.widgets["model_name"])

    def inputs(self) -> list[Any]:
        """Every component whose value the form holds (the upload too): pass them in a set, Gradio hands the
        handler a dict that ``named`` reads."""
        return [*self.widgets.values(), self.source.image]

    def named(self, values: Mapping[Any, Any]) -> dict[str, Any]:
        """The form's values by field name (and ``SOURCE_UPLOAD``), from Gradio's {component: value}."""
        named = {name: request_fields.field(name).from_widget(values.get(widget)) for name, widget in self.widgets.items()}
        if named.get("model_name") in ("", AUTO_MODEL):
            named["model_name"] = None  # Auto: send none, Akool chooses
        named[SOURCE_UPLOAD] = values.get(self.source.image)
        return named

    def fill(self, values: Mapping[str, Any], *, has_source: bool | None = None) -> Updates:
        """Put named values back (those given), with what a source image changes (``for_source``)."""
        updates: Updates = {}
        for name, widget in self.widgets.items():
            if name in values:
                value = request_fields.field(name).to_widget(values[name])
                updates[widget] = (value or AUTO_MODEL) if name == "model_name" else value
        if SOURCE_UPLOAD in values:
            updates[self.source.image] = values[SOURCE_UPLOAD]
        if has_source is None:
            has_source = bool(values.get(SOURCE_UPLOAD) or request_fields.has_source(values))
        for widget, update in self._for_source(values, has_source).items():
            updates[widget] = gr.update(**{**({"value": updates[widget]} if widget in updates else {}), **update})
        return updates

    def for_source(self, values: Mapping[str, Any]) -> Updates:
        """What a source image (there or not) changes: image-to-image fields show or hide ("hidden" keeps
        them and their ids in the page), choices allowed only with a source come and go."""
        shown = bool(values.get(SOURCE_UPLOAD) or request_fields.has_source(values))
        return {widget: gr.update(**update) for widget, update in self._for_source(values, shown).items()}

    def source_dependent(self) -> list[Any]:
        """The widgets ``for_source`` updates."""
        return [self.widgets[f.name] for f in request_fields.FORM_FIELDS if f.image_to_image or f.source_choices]

    def _for_source(self, values: Mapping[str, Any], shown: bool) -> dict[Any, dict[str, Any]]:
        changes: dict[Any, dict[str, Any]] = {}
        for f in request_fields.FORM_FIELDS:
            change: dict[str, Any] = {}
            if f.image_to_image:
                change["visible"] = _similar_visibility(shown)
                if f.name in values:
                    change["value"] = values[f.name] if values[f.name] is not None else f.default
            if f.source_choices:
                change["choices"] = list(f.choices_for(shown))
                if f.name in values and values[f.name] not in change["choices"]:
                    change["value"] = f.default  # "Original" with no source left: back to the default
            if change:
                changes[self.widgets[f.name]] = change
        return changes

    def restorable(self) -> list[Any]:
        """What a dropped image's settings fill (not the image itself, not the batch): its saved fields,
        and the URL box (emptied: the dropped image is the source)."""
        return [*(self.widgets[name] for name in request_fields.SAVED_FIELDS), self.source.url]

    def use_source(self, link: str) -> Updates:
        """A stored result becomes the source: the upload box gets it, the URL box is cleared."""
        return {**self.for_source({SOURCE_UPLOAD: link}), self.source.image: link, self.source.url: ""}


@dataclass(frozen=True, eq=False)
class KeyPanel:
    """The visitor's own API key: the box, Forget, Remember, and the browser storage behind them."""

    api_key: gr.Textbox
    forget: gr.Button
    remember: gr.Checkbox
    store: gr.BrowserState  # {"k": key}: BrowserState never writes a falsy value, so "" could not clear it

    def forgotten(self) -> Updates:
        return {self.api_key: "", self.store: {"k": ""}, self.remember: False}


@dataclass(frozen=True)
class ResultsRender:
    """What the results panel shows for one view, as named values."""

    status: str
    gallery: list[tuple[str, str]]
    """(media link, caption) per tile."""
    view: dict[str, Any]
    details: str
    original: str | None
    """Media link of the selected image's original (named for download), if it is stored."""
    zip: str | None
    buttons: Sequence[ButtonView]
    final: bool
    """The selected job is final: its settings can be reused and it can be deleted."""
    running: bool
    """The selected job is still being watched: Stop is offered."""
    resumable: bool
    """The selected job timed out or was stopped: Check again is offered."""
    selection: str = ""
    """Which job and candidate the U/V buttons act on."""
    upscale_this: ButtonView | None = None
    """The selected candidate's U button ("Upscale this"), if it has one."""
    vary_this: ButtonView | None = None
    gallery_selected: int | None = None
    """Open the gallery's preview on this tile (a U/V result that just arrived)."""
    undo: bool = False
    """A job deleted from this view can still be brought back: Undo delete is offered."""
    prompt: str = ""
    """The selected job's prompt (shown with a copy button)."""
    starred: bool | None = None
    """The selected job is a favourite (None: nothing selected)."""
    full_size: str = ""
    """A link opening the selected original at 100 % in a new tab."""
    compare: tuple[str, str] | None = None
    """(before, after) for a U result: its parent's candidate and the upscale."""


@dataclass(frozen=True, eq=False)
class ResultsPanel:
    """Status, gallery, the U/V buttons and the selected job's actions; ``view`` is its state."""

    view: gr.State
    status: gr.Markdown
    gallery: gr.Gallery
    full_size: gr.Markdown
    compare: gr.ImageSlider
    selection: gr.Markdown
    upscale_this: gr.Button
    vary_this: gr.Button
    buttons: dict[str, gr.Button] = field(repr=False)
    stop: gr.Button
    check_again: gr.Button
    use_source: gr.Button
    download_one: gr.DownloadButton
    download_all: gr.DownloadButton
    prompt_copy: gr.Textbox
    notify: gr.Checkbox
    """The visitor's opt-in to a browser notification: theirs alone, never a render's output."""
    details: gr.Markdown
    reuse: gr.Button
    delete: gr.Button
    undo_delete: gr.Button
    favourite: gr.Button

    def outputs(self) -> list[Any]:
        """Every component a render updates (all of the panel)."""
        return [self.view, self.status, self.gallery, self.full_size, self.compare, self.selection, self.upscale_this,
                self.vary_this, *self.buttons.values(), self.stop, self.check_again, self.use_source,
                self.download_one, self.download_all, self.prompt_copy, self.details, self.reuse, self.delete,
                self.undo_delete, self.favourite]

    def updates(self, render: ResultsRender, *, gallery: bool = True) -> Updates:
        """``render`` as an update of every component; ``gallery=False`` leaves the gallery alone (re-sending
        it would close the preview a click just opened)."""
        has_image = render.original is not None
        out: Updates = {
            self.view: render.view,
            self.status: render.status,
            self.gallery: self._gallery(render) if gallery else gr.skip(),
            self.selection: render.selection,
            self.full_size: render.full_size,
            self.compare: gr.update(value=render.compare, visible=render.compare is not None),
            self.upscale_this: _this_update("Upscale", render.upscale_this),
            self.vary_this: _this_update("Vary", render.vary_this),
            self.stop: gr.update(visible=render.running),
            self.check_again: gr.update(visible=render.resumable),
            self.use_source: gr.update(interactive=has_image),
            self.download_one: gr.update(value=render.original, interactive=has_image),
            self.download_all: gr.update(value=render.zip, interactive=render.zip is not None),
            self.details: render.details,
            self.prompt_copy: gr.update(value=render.prompt, visible=bool(render.prompt)),
            self.reuse: gr.update(interactive=render.final),
            self.delete: gr.update(interactive=render.final),
            self.undo_delete: gr.update(visible=render.undo),
            self.favourite: gr.update(
                value="★ Favourite" if render.starred else "☆ Favourite", interactive=render.starred is not None
            ),
        }
        for button in render.buttons:
            out[self.buttons[button.name]] = gr.update(
                value=button.label,
                interactive=button.interactive,
                variant="primary" if button.highlighted and button.interactive else "secondary",
                elem_classes=["akool-action", "used"] if button.used else ["akool-action"],
            )
        return out

    @staticmethod
    def _gallery(render: ResultsRender) -> Any:
        if render.gallery_selected is None:
            return render.gallery
        return gr.update(value=render.gallery, selected_index=render.gallery_selected)

    def status_update(self, status: str) -> Updates:
        """Only the status line (the elapsed-seconds tick); everything else stays."""
        return {self.status: status}


def _this_update(verb: str, button: ButtonView | None) -> Any:
    """ "Upscale this (U3)": the selected candidate's button, or a disabled "Upscale this"."""
    if button is None:
        return gr.update(value=f"{verb} this", interactive=False, elem_classes=["akool-action"], variant="secondary")
    label = f"{verb} this ({button.name})" + (" ✓" if button.used else "")
    classes = ["akool-action", "used"] if button.used else ["akool-action"]
    return gr.update(value=label, interactive=button.interactive, elem_classes=classes,
                     variant="primary" if button.interactive else "secondary")


@dataclass(frozen=True)
class HistoryRender:
    """One page of the owner's history, as named values."""

    tiles: list[tuple[str, str]]
    """(media link or placeholder, caption) per job, newest first."""
    state: dict[str, Any]
    label: str
    has_newer: bool
    has_older: bool


@dataclass(frozen=True, eq=False)
class HistoryPanel:
    search: gr.Textbox
    favourites: gr.Checkbox
    refresh: gr.Button
    gallery: gr.Gallery
    newer: gr.Button
    pager: gr.Markdown
    older: gr.Button
    state: gr.State

    def outputs(self) -> list[Any]:
        return [self.gallery, self.state, self.pager, self.newer, self.older]

    def updates(self, render: HistoryRender) -> Updates:
        return {
            self.gallery: render.tiles,
            self.state: render.state,
            self.pager: render.label,
            self.newer: gr.update(interactive=render.has_newer),
            self.older: gr.update(interactive=render.has_older),
        }


@dataclass(frozen=True, eq=False)
class Page:
    """Every section of the page, and the per-browser id that (with the key) decides whose jobs it shows."""

    header: Header
    form: FormPanel
    keys: KeyPanel
    results: ResultsPanel
    history: HistoryPanel
    browser_id: gr.BrowserState
    share: SharePanel
    boards: BoardsPanel
    """Boards, the history's view and filters, and "Select" mode's bulk actions (``boards_panel.py``)."""
    compare: ComparePanel | None = None

    def who(self) -> list[Any]:
        """The inputs every owner-scoped handler ends with: ``api_key, browser_id``."""
        return [self.keys.api_key, self.browser_id]
