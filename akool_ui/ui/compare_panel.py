"""The compare tray (under the results: "Add to compare", small thumbnails with ✕, Compare) and the compare
view (side by side in a grid, or a before/after slider of two, at one shared zoom).

Same zoom: every pane shows its image as wide as the widest one's pixel width (CSS pixels) times the
zoom, or as wide as the pane ("Fit"), so a 1080p and a 4K line up; the note says which is scaled. The
zoom is applied in the browser (``ZOOM_JS``, no round trip) and the panes' scroll positions follow each
other (``PANE_SYNC_JS``, the grid's ``js_on_load``). Renders are named values (``CompareRender``,
computed in ``handlers/compare.py``); ``ComparePanel.updates`` says which component shows which.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import quote

import gradio as gr

from .compare_tray import MAX_COMPARE

__all__ = [
    "ComparePanel", "CompareTray", "CompareRender", "TrayRender", "ComparePane", "render_compare_tray",
    "render_compare_view", "grid_html", "ZOOMS", "MODES", "SIDE_BY_SIDE", "SLIDER", "ZOOM_JS",
]

Updates = dict[Any, Any]

SIDE_BY_SIDE, SLIDER = "Side by side", "Slider"
MODES = (SIDE_BY_SIDE, SLIDER)
# The zoom choices and the code each puts in the grid's data-zoom (the CSS below sizes the images by it).
ZOOMS = {"Fit": "fit", "100 %": "100", "200 %": "200"}
TRAY_HELP = f"Pick 2–{MAX_COMPARE} images (“Add to compare” on the selected one), then Compare."

# The zoom radio's change, in the browser: every pane of the grid and the slider take the new zoom at once.
# The grid sizes its images by CSS (data-zoom); the slider's two stacked images get one CSS ``scale`` (it
# composes with the slider's own wheel zoom and drag), 100 % being the wider original's pixels 1:1.
ZOOM_JS = """(zoom) => {
    const code = ({"Fit": "fit", "100 %": "100", "200 %": "200"})[zoom] || "fit";
    document.querySelectorAll("#compare-grid .compare-grid").forEach((el) => { el.dataset.zoom = code; });
    const slider = document.querySelector("#compare-slider");
    if (slider) {
        slider.dataset.zoom = code;
        const imgs = [...slider.querySelectorAll("img")];
        Promise.all(imgs.map((i) => i.decode().catch(() => null))).then(() => {
            const widest = Math.max(0, ...imgs.map((i) => i.naturalWidth || 0));
            imgs.forEach((i) => {
                const fit = i.offsetWidth || 0;
                i.style.scale = (code === "fit" || !widest || !fit) ? "" : String(Number(code) / 100 * widest / fit);
            });
        });
    }
    return zoom;
}"""

# Installed once on the grid: a pane that scrolls takes the others along (to the same fraction of their
# scroll range; the images are the same size, so that is the same place). Scroll events do not bubble,
# hence the capturing listener on the grid's root, which outlives every re-render of its content.
PANE_SYNC_JS = """
if (!element.__compareSync) {
    element.__compareSync = true;
    let syncing = false;
    element.addEventListener("scroll", (e) => {
        const src = e.target;
        if (syncing || !src.classList || !src.classList.contains("compare-scroll")) return;
        syncing = true;
        const fx = src.scrollLeft / Math.max(1, src.scrollWidth - src.clientWidth);
        const fy = src.scrollTop / Math.max(1, src.scrollHeight - src.clientHeight);
        element.querySelectorAll(".compare-scroll").forEach((pane) => {
            if (pane === src) return;
            pane.scrollLeft = fx * (pane.scrollWidth - pane.clientWidth);
            pane.scrollTop = fy * (pane.scrollHeight - pane.clientHeight);
        });
        requestAnimationFrame(() => { syncing = false; });
    }, true);
}
"""

GRID_CSS = """
.compare-grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
.compare-grid[data-count="3"] { grid-template-columns: repeat(3, minmax(0, 1fr)); }
.compare-pane { margin: 0; min-width: 0; }
.compare-scroll { overflow: auto; max-height: 70vh; border: 1px solid var(--border-color-primary);
  border-radius: 6px; background: var(--background-fill-secondary); }
.compare-scroll img { display: block; max-width: none; height: auto; }
.compare-grid[data-zoom="fit"] .compare-scroll img { width: 100%; }
.compare-grid[data-zoom="100"] .compare-scroll img { width: calc(var(--ref-w) * 1px); }
.compare-grid[data-zoom="200"] .compare-scroll img { width: calc(var(--ref-w) * 2px); }
.compare-pane figcaption { font-size: 0.85em; padding: 4px 2px; overflow-wrap: anywhere; }
@media (max-width: 640px) { .compare-grid[data-count="3"] { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
"""


@dataclass(frozen=True)
class ComparePane:
    """One image of the compare view: its link (a media link of its owner), label and pixel size."""

    link: str
    label: str
    size: tuple[int, int] | None
    scale: float = 1.0
    """How much it is enlarged to match the widest (1.0: it is the widest, 1:1 at 100 %)."""
    is_original: bool = True


@dataclass(frozen=True)
class TrayRender:
    thumbs: list[tuple[str, str]]
    """(media link of the preview, label) per image in the tray."""
    tray: list[dict[str, Any]]
    note: str = ""


@dataclass(frozen=True)
class CompareRender:
    open: bool
    mode: str = SIDE_BY_SIDE
    panes: Sequence[ComparePane] = ()
    zoom: str = "fit"
    note: str = ""


def grid_html(panes: Sequence[ComparePane], zoom: str) -> str:
    """The side-by-side grid: one scrollable pane per image, all drawn at the same width (``--ref-w``: the
    widest image's pixel width), each with its label (user text escaped)."""
    widest = max((p.size[0] for p in panes if p.size), default=1024)
    figures = []
    for pane in panes:
        ratio = f"aspect-ratio: {pane.size[0]} / {pane.size[1]};" if pane.size else ""
        scaled = f" (scaled ×{pane.scale:.3g})" if pane.scale > 1.0001 else ""
        preview = " · preview (the original is no longer kept)" if not pane.is_original else ""
        label = html.escape(pane.label + scaled + preview)
        figures.append(
            f'<figure class="compare-pane"><div class="compare-scroll">'
            f'<img src="gradio_api/file={quote(pane.link)}" alt="{label}" style="{ratio}" loading="eager">'
            f"</div><figcaption>{label}</figcaption></figure>")
    zoom = zoom if zoom in ZOOMS.values() else "fit"
    return (f'<div class="compare-grid" data-zoom="{zoom}" data-count="{len(panes)}" style="--ref-w: {widest}">'
            + "".join(figures) + "</div>")


@dataclass(frozen=True, eq=False)
class CompareTray:
    """Under the results: add the selected image, the picked ones as thumbnails with ✕, Compare."""

    add: gr.Button
    thumbs: gr.Gallery
    removes: list[gr.Button] = field(repr=False)
    open: gr.Button
    clear: gr.Button
    note: gr.Markdown
    state: gr.State


@dataclass(frozen=True, eq=False)
class ComparePanel:
    tray: CompareTray
    view: gr.Column
    mode: gr.Radio
    zoom: gr.Radio
    close: gr.Button
    note: gr.Markdown
    grid: gr.HTML
    slider: gr.ImageSlider

    def tray_outputs(self) -> list[Any]:
        t = self.tray
        return [t.state, t.thumbs, *t.removes, t.open, t.clear, t.note]

    def view_outputs(self) -> list[Any]:
        return [self.view, self.note, self.grid, self.slider]

    def tray_updates(self, render: TrayRender) -> Updates:
        t, n = self.tray, len(render.tray)
        out: Updates = {
            t.state: render.tray,
            t.thumbs: gr.update(value=render.thumbs or None, visible=n > 0),
            t.open: gr.update(value=f"Compare ({n})" if n else "Compare", interactive=n >= 2),
            t.clear: gr.update(visible=n > 0),
            t.note: render.note or TRAY_HELP,
        }
        for i, button in enumerate(t.removes):
            out[button] = gr.update(visible=i < n)
        return out

    def view_updates(self, render: CompareRender) -> Updates:
        if not render.open:
            return {self.view: gr.update(visible=False), self.grid: "", self.slider: gr.update(value=None)}
        slider = render.mode == SLIDER and len(render.panes) >= 2
        pair = (render.panes[0].link, render.panes[1].link) if slider else None
        return {
            self.view: gr.update(visible=True),
            self.note: render.note,
            self.grid: gr.update(value=grid_html(render.panes, render.zoom) if not slider else "", visible=not slider),
            self.slider: gr.update(value=pair, visible=slider,
                                   label=f"{render.panes[0].label}  ⟷  {render.panes[1].label}" if slider else None),
        }


def render_compare_tray() -> CompareTray:
    """The tray's components, inside the current Blocks (below the selected job's actions)."""
    with gr.Group(elem_id="compare-tray-panel"):
        with gr.Row(equal_height=True):
            add = gr.Button("Add to compare", size="sm", elem_id="add-to-compare", min_width=120)
            open_ = gr.Button("Compare", size="sm", variant="primary", elem_id="compare-open", interactive=False,
                              min_width=110)
            clear = gr.Button("Clear", size="sm", elem_id="compare-clear", visible=False, min_width=70)
        thumbs = gr.Gallery(label="To compare", elem_id="compare-tray", columns=MAX_COMPARE, rows=1, height=110,
                            allow_preview=False, object_fit="cover", interactive=False, buttons=[], visible=False,
                            show_label=False)
        with gr.Row(elem_id="compare-remove-row"):
            removes = [gr.Button(f"✕ {i + 1}", size="sm", elem_id=f"compare-remove-{i + 1}", visible=False,
                                 min_width=50) for i in range(MAX_COMPARE)]
        note = gr.Markdown(TRAY_HELP, elem_id="compare-tray-note")
    return CompareTray(add=add, thumbs=thumbs, removes=removes, open=open_, clear=clear, note=note,
                       state=gr.State([]))


def render_compare_view(tray: CompareTray) -> ComparePanel:
    """The compare view (hidden until Compare is pressed), inside the current Blocks, full width."""
    with gr.Column(visible=False, elem_id="compare-view") as view:
        with gr.Row(equal_height=True, elem_classes=["stack-on-phone"]):
            mode = gr.Radio(list(MODES), value=SIDE_BY_SIDE, label="Compare", elem_id="compare-mode", scale=2)
            zoom = gr.Radio(list(ZOOMS), value="Fit", label="Zoom (all panes together)", elem_id="compare-zoom",
                            scale=2)
            close = gr.Button("Close compare", size="sm", elem_id="compare-close", scale=1, min_width=110)
        note = gr.Markdown("", elem_id="compare-note")
        grid = gr.HTML("", elem_id="compare-grid", css_template=GRID_CSS, js_on_load=PANE_SYNC_JS)
        slider = gr.ImageSlider(label="Drag the handle", type="filepath", elem_id="compare-slider", visible=False,
                                interactive=False, max_height=640, buttons=["fullscreen"])
    return ComparePanel(tray=tray, view=view, mode=mode, zoom=zoom, close=close, note=note, grid=grid,
                        slider=slider)
