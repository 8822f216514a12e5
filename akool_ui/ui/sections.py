"""The page's sections: a ``gr.Blocks`` tree with the element ids from design.md, no events.

``render_page`` composes small section builders (``_render_*``), each returning a ``panels`` dataclass of
its components; ``layout.py`` wires their events. No HTTP, no disk, no logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ..akool import fields as request_fields
from ..akool.models import MODELS, RESOLUTIONS, UPSCALE_BUTTONS, VARIATION_BUTTONS
from ..service import default_estimate
from .assets import EXAMPLE_SOURCE
from .boards_panel import BoardsPanel, render_board_target, render_bulk_bar, render_history_tools
from .panels import (
    AUTO_MODEL,
    FormPanel, Header, HistoryPanel, KeyPanel, Page, ResultsPanel, SourcePanel, new_history_state, new_view,
)
from .compare_panel import render_compare_tray, render_compare_view
from .captions import BATCH_INFO, BATCH_LABEL, cost_line, selection_line
from .mode_text import AppMode, banner_classes, banner_text, key_label, key_placeholder
from .share_panel import render_share_panel
from .source_image import SourceImage

if TYPE_CHECKING:  # pragma: no cover
    from ..service import Studio

__all__ = ["render_page", "TITLE", "BROWSER_ID_KEY", "API_KEY_KEY", "KEY_INFO"]

TITLE = "Akool Image Studio"
# localStorage keys; stable so a browser keeps its id (demo history) and key across server restarts.
BROWSER_ID_KEY = "akool-studio-browser-id"
API_KEY_KEY = "akool-studio-api-key"
# Honest about what "encrypted" localStorage is worth: the secret is in the page config every visitor gets.
KEY_INFO = (
    "Sent to Akool for your requests only; this server never stores it. Unless you tick Remember, it is "
    "forgotten when you close the page. A remembered key sits in this browser's storage, where anyone "
    "using this browser could read it. With your own key, only your Akool account limits what you spend; "
    "its remaining credit is shown under Generate."
)


def _default(name: str):
    return request_fields.field(name).default


def _banner(studio: "Studio") -> tuple[str, list[str]]:
    """The banner as a page opens (no key yet: the key box then updates it, see ``mode_text``)."""
    mode = AppMode.of(studio)
    return banner_text(mode, own_key=False), banner_classes(mode, own_key=False)


def render_page(studio: "Studio", *, browser_secret: str) -> Page:
    """Every section of the page, inside the current ``gr.Blocks`` (no events)."""
    # Per-browser values, kept in that browser's localStorage, never on the server. BrowserState
    # "encrypts" them with a secret that is in every visitor's page config: obfuscation, not protection.
    browser_id = gr.BrowserState(None, storage_key=BROWSER_ID_KEY, secret=browser_secret)
    # Stored as {"k": key}: BrowserState never writes a falsy value, so "" could not clear a saved key.
    key_store = gr.BrowserState(None, storage_key=API_KEY_KEY, secret=browser_secret)
    header = _render_header(studio)
    # On a phone the two columns stack: the form, then the results (the key panel waits below both, so the
    # status line is right under Generate's examples rather than under the key's small print).
    with gr.Row(elem_id="main-row", elem_classes=["stack-on-phone"]):
        with gr.Column(scale=2, min_width=320, elem_id="form-column"):
            form, board_target = _render_form()
        with gr.Column(scale=3, min_width=320, elem_id="results-column"):
            results = _render_results()
            share = render_share_panel()
            compare_tray = render_compare_tray()
    compare = render_compare_view(compare_tray)
    keys = _render_key_panel(key_store, AppMode.of(studio))
    history, board_parts = _render_history()
    return Page(header=header, form=form, keys=keys, results=results, history=history, browser_id=browser_id,
                share=share, boards=BoardsPanel(**board_target, **board_parts), compare=compare)


def _render_header(studio: "Studio") -> Header:
    banner_text, banner_classes = _banner(studio)
    with gr.Row(equal_height=True, elem_id="page-header", elem_classes=["stack-on-phone"]):
        gr.Markdown(f"# {TITLE}")
        banner = gr.Markdown(banner_text, elem_id="mode-banner", elem_classes=banner_classes)
    return Header(banner=banner, mode=AppMode.of(studio))


def _render_source() -> SourcePanel:
    # Always rendered (an Accordion would keep these ids out of the page until opened).
    with gr.Group(elem_id="source-panel"):
        with gr.Row(equal_height=True, elem_classes=["stack-on-phone"]):
            image = SourceImage(
                label="Source image (optional: image-to-image)", type="filepath",
                sources=["upload", "clipboard"], height=170, elem_id="source-image", min_width=160,
            )
            url = gr.Textbox(
                label="…or a public image URL", elem_id="source-url", placeholder="https://…",
                info="Used when no image is uploaded. Checked as you enter it.", min_width=160,
            )
        with gr.Row(equal_height=True):
            url_check = gr.Markdown("", elem_id="source-url-check")
            url_preview = gr.Image(
                None, type="pil", label="Preview of the URL's image", elem_id="source-url-preview", height=120,
                interactive=False, visible=False, buttons=[], min_width=120,
            )
    return SourcePanel(image=image, url=url, url_preview=url_preview, url_check=url_check)


def _render_form() -> tuple[FormPanel, dict]:
    prompt = gr.Textbox(
        label="Prompt", lines=3, max_lines=10, elem_id="prompt",
        placeholder="A lighthouse on a cliff at dawn, watercolour  (Ctrl/⌘+Enter generates)",
    )
    negative = gr.Textbox(label="Negative prompt", elem_id="negative-prompt", placeholder="blurry, text")
    source = _render_source()
    with gr.Row():
        scale = gr.Dropdown(list(request_fields.field("scale").choices_for(False)), value=_default("scale"), label="Aspect ratio", elem_id="scale")
        resolution = gr.Radio(list(RESOLUTIONS), value=_default("resolution"), label="Resolution", elem_id="resolution")
    with gr.Row():
        batch = gr.Slider(1, 4, value=_default("batch_quantity"), step=1, label=BATCH_LABEL, info=BATCH_INFO, elem_id="batch", scale=2)
        model = gr.Dropdown(
            [AUTO_MODEL, *MODELS], value=AUTO_MODEL, label="Model", elem_id="model", scale=1,
            info="Auto lets Akool choose from whether there is a source image.",
        )
    similar = gr.Slider(  # "hidden": in the page (stable id) but not shown until there is a source
        0, 1, value=_default("similar"), step=0.05, label="Similar to the source", visible="hidden", elem_id="similar",
        info="0 = more creative, 1 = closer to the source",
    )
    board_target = render_board_target()  # which board the new jobs go on (boards_panel.py)
    generate = gr.Button("Generate", variant="primary", elem_id="generate")
    # The measured figures until the page has loaded; then the learned estimate and the balance (layout).
    cost = gr.Markdown(cost_line(default_estimate(1, _default("resolution"))), elem_id="generate-cost")
    with gr.Column(elem_id="examples"):
        gr.Examples(
            [
                ["A fox in a snowy forest at golden hour, detailed illustration", None],
                ["The same landscape as a watercolour painting", str(EXAMPLE_SOURCE)],
            ],
            inputs=[prompt, source.image],
            label="Try",
        )
    widgets = {"prompt": prompt, "negative_prompt": negative, "scale": scale, "resolution": resolution,
               "batch_quantity": batch, request_fields.SOURCE: source.url, "similar": similar, "model_name": model}
    return FormPanel(widgets=widgets, source=source, generate=generate, cost=cost), board_target


def _render_key_panel(store: gr.BrowserState, mode: AppMode) -> KeyPanel:
    with gr.Group(elem_id="api-key-panel"):
        with gr.Row(equal_height=True, elem_classes=["stack-on-phone"]):
            api_key = gr.Textbox(
                label=key_label(mode), type="password", elem_id="api-key",
                placeholder=key_placeholder(mode), scale=4, info=KEY_INFO,
            )
            forget = gr.Button("Forget key", size="sm", elem_id="forget-key", scale=1, min_width=90)
        remember = gr.Checkbox(False, label="Remember my key on this browser", elem_id="remember-key", container=False)
    return KeyPanel(api_key=api_key, forget=forget, remember=remember, store=store)


def _action_button(name: str) -> gr.Button:
    return gr.Button(name, elem_id=f"btn-{name}", interactive=False, size="sm", elem_classes=["akool-action"])


def _render_results() -> ResultsPanel:
    view = gr.State(new_view([]))
    status = gr.Markdown("Ready. Write a prompt and press **Generate**.", elem_id="status")
    notify = gr.Checkbox(False, label="Tell me when a job finishes while this tab is in the background",
                         elem_id="notify", container=False)
    gallery = gr.Gallery(
        label="Results", elem_id="gallery", columns=2, height="auto", object_fit="contain",
        buttons=["fullscreen"], interactive=False,
    )
    full_size = gr.Markdown("", elem_id="full-size")
    compare = gr.ImageSlider(
        label="Before / after: the candidate and its 4K upscale (drag the handle)", type="filepath",
        elem_id="compare", visible=False, interactive=False, max_height=520, buttons=["fullscreen"],
    )
    with gr.Column(elem_id="result-actions"):
        selection = gr.Markdown(selection_line(None, "", 0, 0), elem_id="selection")
        with gr.Row():
            upscale_this = gr.Button("Upscale this", elem_id="upscale-this", interactive=False, size="sm",
                                     elem_classes=["akool-action"])
            vary_this = gr.Button("Vary this", elem_id="vary-this", interactive=False, size="sm",
                                  elem_classes=["akool-action"])
        with gr.Row():
            buttons = {name: _action_button(name) for name in UPSCALE_BUTTONS}
        with gr.Row():
            buttons.update({name: _action_button(name) for name in VARIATION_BUTTONS})
        gr.Markdown("U*n* = a 4K upscale of candidate #*n* · V*n* = a variation of it", elem_id="button-help")
        with gr.Row():
            stop = gr.Button("Stop", visible=False, elem_id="stop", size="sm", variant="stop")
            check_again = gr.Button("Check again", visible=False, elem_id="check-again", size="sm")
        with gr.Row():
            use_source = gr.Button("Use as source", size="sm", elem_id="use-as-source", interactive=False)
            download_one = gr.DownloadButton("Download original", size="sm", elem_id="download-original", interactive=False)
            download_all = gr.DownloadButton("Download all (zip)", size="sm", elem_id="download-all", interactive=False)
        prompt_copy = gr.Textbox(
            label="Prompt of the selected job", interactive=False, buttons=["copy"], elem_id="selected-prompt",
            lines=1, max_lines=4, visible=False,
        )
        details = gr.Markdown(elem_id="job-details")
        with gr.Row():
            reuse = gr.Button("Reuse settings", size="sm", elem_id="reuse-settings", interactive=False)
            delete = gr.Button("Delete", size="sm", variant="stop", elem_id="delete-job", interactive=False)
            undo_delete = gr.Button("Undo delete", size="sm", elem_id="undo-delete", visible=False)
            favourite = gr.Button("☆ Favourite", size="sm", elem_id="favourite", interactive=False)
    return ResultsPanel(
        view=view, status=status, gallery=gallery, full_size=full_size, compare=compare, selection=selection, upscale_this=upscale_this,
        vary_this=vary_this, buttons=buttons, stop=stop, check_again=check_again,
        use_source=use_source,
        download_one=download_one, download_all=download_all, prompt_copy=prompt_copy, notify=notify, details=details, reuse=reuse, delete=delete,
        undo_delete=undo_delete, favourite=favourite,
    )


def _render_history() -> tuple[HistoryPanel, dict]:
    state = gr.State(new_history_state())
    with gr.Group(elem_id="history-panel"):
        with gr.Row(equal_height=True, elem_classes=["stack-on-phone"]):
            search = gr.Textbox(
                label="History", placeholder="Search your prompts…", elem_id="history-search", scale=4, show_label=True,
            )
            favourites = gr.Checkbox(False, label="★ Favourites only", elem_id="history-favourites", scale=1,
                                     min_width=140)
            refresh = gr.Button("Refresh", size="sm", elem_id="history-refresh", scale=1)
        tools = render_history_tools()  # view, Select, filters, boards (boards_panel.py)
        gallery = gr.Gallery(
            label="Your earlier jobs (newest first; click one to open it)", elem_id="history", columns=6,
            height="auto", allow_preview=False, object_fit="cover", interactive=False, buttons=[],
            fit_columns=False,
        )
        bulk = render_bulk_bar()
        with gr.Row(elem_id="history-pager-row"):
            newer = gr.Button("← Newer", size="sm", elem_id="history-newer", interactive=False, min_width=90)
            pager = gr.Markdown("", elem_id="history-pager", min_width=120)
            older = gr.Button("Older →", size="sm", elem_id="history-older", interactive=False, min_width=90)
    return HistoryPanel(search=search, favourites=favourites, refresh=refresh, gallery=gallery, newer=newer, pager=pager, older=older,
                        state=state), {**tools, **bulk}
