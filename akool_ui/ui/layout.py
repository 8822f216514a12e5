"""The page: a gr.Blocks tree with the element ids from design.md, then the event wiring.

``build_ui`` composes small section builders (``_render_*``, each returning a ``panels`` dataclass of its
components), then wires each area's events (``_setup_*_events``) to ``StudioHandlers``. Nothing else: no
HTTP, no disk, no logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from ..akool.models import MODELS, RESOLUTIONS, SCALES, UPSCALE_BUTTONS, VARIATION_BUTTONS
from .assets import EXAMPLE_SOURCE
from .handlers import API_CONCURRENCY, QUICK_CONCURRENCY, STREAM_CONCURRENCY, StudioHandlers
from .media import MediaLinks
from .panels import (
    AUTO_MODEL,
    FormPanel, Header, HistoryPanel, KeyPanel, Page, ResultsPanel, SourcePanel, new_history_state, new_view,
)
from .source_image import SourceImage

if TYPE_CHECKING:  # pragma: no cover
    from ..service.studio import Studio

__all__ = ["build_ui", "render_page", "BROWSER_ID_KEY", "API_KEY_KEY"]

TITLE = "Akool Image Studio"
# localStorage keys; stable so a browser keeps its id (demo history) and key across server restarts.
BROWSER_ID_KEY = "akool-studio-browser-id"
API_KEY_KEY = "akool-studio-api-key"
DEFAULT_RESOLUTION = "1080p"
# Gradio's clean-up of the files it handed out (media links included): every hour, those over 6 h old.
DELETE_CACHE = (3600, 6 * 3600)
_STREAM = dict(concurrency_limit=STREAM_CONCURRENCY, concurrency_id="akool-stream", show_progress="hidden")
_QUICK = dict(concurrency_limit=QUICK_CONCURRENCY, concurrency_id="quick", show_progress="hidden")
_PRIVATE = dict(api_visibility="private")  # the page's own events: not in the API docs, not callable by clients
# 24 random bytes as base64url (32 characters): the shape service.owners.is_browser_id accepts.
_SESSION_JS = """(id, key) => {
    if (typeof id !== "string" || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
        const bytes = crypto.getRandomValues(new Uint8Array(24));
        id = btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    }
    const saved = (key && typeof key.k === "string") ? key.k : "";
    return [id, saved, saved !== ""];
}"""
# What goes into the key's localStorage entry: the key only when "remember" is ticked.
_STORE_KEY_JS = "(k, remember) => ({k: remember ? (k || '') : ''})"
# Honest about what "encrypted" localStorage is worth: the secret is in the page config every visitor gets.
KEY_INFO = (
    "Sent to Akool for your requests only; this server never stores it. Unless you tick Remember, it is "
    "forgotten when you close the page. A remembered key sits in this browser's storage, where anyone "
    "using this browser could read it. With your own key, only your Akool account limits what you spend; "
    "its remaining credit is shown on Akool's site."
)


def _banner(studio: "Studio") -> tuple[str, list[str]]:
    text = studio.describe_mode()
    classes = ["demo"] if studio.mode == "demo" else ["akool"]
    uploads = studio.uploads
    if studio.mode != "demo" and not uploads.can_serve:
        text += (
            "  \n⚠️ Uploaded source images cannot reach Akool until this app has a public address: set "
            "`AKOOL_PUBLIC_URL` to the URL people use to open this page (automatic on Hugging Face Spaces). "
            "Until then, paste a public image URL as the source."
        )
    settings = getattr(studio, "settings", None)  # page tests render with a stand-in studio that has none
    if settings is not None and settings.ephemeral_cache:
        text += (
            "  \n⚠️ This Space has no persistent storage: history and images are lost when it restarts. "
            "To keep them, its owner can enable persistent storage or attach a Storage Bucket at `/data` "
            "(or set `AKOOL_CACHE_DIR`)."
        )
    return text, classes


def build_ui(studio: "Studio", *, browser_secret: str, media: MediaLinks | None = None) -> gr.Blocks:
    """The Blocks app for ``studio``. ``browser_secret`` encrypts this site's localStorage values;
    ``media`` publishes stored images for their owners (default: in Gradio's folder)."""
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        page = render_page(studio, browser_secret=browser_secret)
        _setup_events(demo, page, StudioHandlers(studio, page, media))
    demo.queue(default_concurrency_limit=QUICK_CONCURRENCY)
    return demo


# --- sections ----------------------------------------------------------------------------------------


def render_page(studio: "Studio", *, browser_secret: str) -> Page:
    """Every section of the page, inside the current ``gr.Blocks`` (no events)."""
    # Per-browser values, kept in that browser's localStorage, never on the server. BrowserState
    # "encrypts" them with a secret that is in every visitor's page config: obfuscation, not protection.
    browser_id = gr.BrowserState(None, storage_key=BROWSER_ID_KEY, secret=browser_secret)
    # Stored as {"k": key}: BrowserState never writes a falsy value, so "" could not clear a saved key.
    key_store = gr.BrowserState(None, storage_key=API_KEY_KEY, secret=browser_secret)
    header = _render_header(studio)
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            form = _render_form()
            keys = _render_key_panel(key_store)
        with gr.Column(scale=3, min_width=360):
            results = _render_results()
    history = _render_history()
    return Page(header=header, form=form, keys=keys, results=results, history=history, browser_id=browser_id)


def _render_header(studio: "Studio") -> Header:
    banner_text, banner_classes = _banner(studio)
    with gr.Row(equal_height=True):
        gr.Markdown(f"# {TITLE}")
        banner = gr.Markdown(banner_text, elem_id="mode-banner", elem_classes=banner_classes)
    return Header(banner=banner)


def _render_source() -> SourcePanel:
    # Always rendered (an Accordion would keep these ids out of the page until opened).
    with gr.Group(elem_id="source-panel"):
        with gr.Row(equal_height=True):
            image = SourceImage(
                label="Source image (optional: image-to-image)", type="filepath",
                sources=["upload", "clipboard"], height=170, elem_id="source-image", min_width=160,
            )
            url = gr.Textbox(
                label="…or a public image URL", elem_id="source-url", placeholder="https://…",
                info="Used when no image is uploaded.", min_width=160,
            )
    return SourcePanel(image=image, url=url)


def _render_form() -> FormPanel:
    prompt = gr.Textbox(
        label="Prompt", lines=3, max_lines=10, elem_id="prompt",
        placeholder="A lighthouse on a cliff at dawn, watercolour",
    )
    negative = gr.Textbox(label="Negative prompt", elem_id="negative-prompt", placeholder="blurry, text")
    source = _render_source()
    with gr.Row():
        scale = gr.Dropdown(list(SCALES), value="1:1", label="Aspect ratio", elem_id="scale")
        resolution = gr.Radio(list(RESOLUTIONS), value=DEFAULT_RESOLUTION, label="Resolution", elem_id="resolution")
    with gr.Row():
        batch = gr.Slider(1, 4, value=1, step=1, label="Images (each is a separate job)", elem_id="batch", scale=2)
        model = gr.Dropdown(
            [AUTO_MODEL, *MODELS], value=AUTO_MODEL, label="Model", elem_id="model", scale=1,
            info="Auto lets Akool choose from whether there is a source image.",
        )
    similar = gr.Slider(  # "hidden": in the page (stable id) but not shown until there is a source
        0, 1, value=0.5, step=0.05, label="Similar to the source", visible="hidden", elem_id="similar",
        info="0 = more creative, 1 = closer to the source",
    )
    generate = gr.Button("Generate", variant="primary", elem_id="generate")
    gr.Examples(
        [
            ["A fox in a snowy forest at golden hour, detailed illustration", None],
            ["The same landscape as a watercolour painting", str(EXAMPLE_SOURCE)],
        ],
        inputs=[prompt, source.image],
        label="Try",
    )
    return FormPanel(prompt=prompt, negative=negative, source=source, scale=scale, resolution=resolution,
                     batch=batch, similar=similar, model=model, generate=generate)


def _render_key_panel(store: gr.BrowserState) -> KeyPanel:
    with gr.Group(elem_id="api-key-panel"):
        with gr.Row(equal_height=True):
            api_key = gr.Textbox(
                label="Your Akool API key (optional)", type="password", elem_id="api-key",
                placeholder="Paste your key (leave empty to use this app's own setup)", scale=4, info=KEY_INFO,
            )
            forget = gr.Button("Forget key", size="sm", elem_id="forget-key", scale=1, min_width=90)
        remember = gr.Checkbox(False, label="Remember my key on this browser", elem_id="remember-key", container=False)
    return KeyPanel(api_key=api_key, forget=forget, remember=remember, store=store)


def _action_button(name: str) -> gr.Button:
    return gr.Button(name, elem_id=f"btn-{name}", interactive=False, size="sm", elem_classes=["akool-action"])


def _render_results() -> ResultsPanel:
    view = gr.State(new_view([]))
    status = gr.Markdown("Ready. Write a prompt and press **Generate**.", elem_id="status")
    gallery = gr.Gallery(
        label="Results", elem_id="gallery", columns=2, height="auto", object_fit="contain",
        buttons=["fullscreen"], interactive=False,
    )
    with gr.Column(elem_id="result-actions"):
        with gr.Row():
            buttons = {name: _action_button(name) for name in UPSCALE_BUTTONS}
        with gr.Row():
            buttons.update({name: _action_button(name) for name in VARIATION_BUTTONS})
        gr.Markdown("U = 4K upscale of that image · V = a variation of it", elem_id="button-help")
        with gr.Row():
            stop = gr.Button("Stop", visible=False, elem_id="stop", size="sm", variant="stop")
            check_again = gr.Button("Check again", visible=False, elem_id="check-again", size="sm")
        with gr.Row():
            use_source = gr.Button("Use as source", size="sm", elem_id="use-as-source", interactive=False)
            download_one = gr.DownloadButton("Download original", size="sm", elem_id="download-original", interactive=False)
            download_all = gr.DownloadButton("Download all (zip)", size="sm", elem_id="download-all", interactive=False)
        details = gr.Markdown(elem_id="job-details")
        with gr.Row():
            reuse = gr.Button("Reuse settings", size="sm", elem_id="reuse-settings", interactive=False)
            delete = gr.Button("Delete", size="sm", variant="stop", elem_id="delete-job", interactive=False)
    return ResultsPanel(
        view=view, status=status, gallery=gallery, buttons=buttons, stop=stop, check_again=check_again,
        use_source=use_source,
        download_one=download_one, download_all=download_all, details=details, reuse=reuse, delete=delete,
    )


def _render_history() -> HistoryPanel:
    state = gr.State(new_history_state())
    with gr.Group(elem_id="history-panel"):
        with gr.Row(equal_height=True):
            search = gr.Textbox(
                label="History", placeholder="Search your prompts…", elem_id="history-search", scale=4, show_label=True,
            )
            refresh = gr.Button("Refresh", size="sm", elem_id="history-refresh", scale=1)
        gallery = gr.Gallery(
            label="Your earlier jobs (newest first; click one to open it)", elem_id="history", columns=6,
            height="auto", allow_preview=False, object_fit="cover", interactive=False, buttons=[],
            fit_columns=False,
        )
        with gr.Row():
            newer = gr.Button("← Newer", size="sm", elem_id="history-newer", interactive=False)
            pager = gr.Markdown("", elem_id="history-pager")
            older = gr.Button("Older →", size="sm", elem_id="history-older", interactive=False)
    return HistoryPanel(search=search, refresh=refresh, gallery=gallery, newer=newer, pager=pager, older=older,
                        state=state)


# --- events ------------------------------------------------------------------------------------------


def _setup_events(demo: gr.Blocks, page: Page, h: StudioHandlers) -> None:
    _setup_session_events(demo, page, h)
    _setup_create_events(page, h)
    _setup_results_events(page, h)
    _setup_history_events(page, h)
    _setup_api(h)


def _refresh_history(page: Page, h: StudioHandlers) -> dict[str, Any]:
    """The history reload that follows anything which may have changed it (``.then(**...)``)."""
    return dict(fn=h.history.refresh, inputs=[page.history.search, *page.who()], outputs=page.history.outputs(),
                **_QUICK, **_PRIVATE)


def _setup_session_events(demo: gr.Blocks, page: Page, h: StudioHandlers) -> None:
    keys, history = page.keys, page.history
    refresh_history = _refresh_history(page, h)
    # Page load, in the browser alone (no round trip, so it is done before anyone can click): give this
    # browser its random id if it has none, and put a remembered key back in its box. Then the history.
    demo.load(
        None, [page.browser_id, keys.store], [page.browser_id, keys.api_key, keys.remember], js=_SESSION_JS,
        **_PRIVATE,
    ).then(h.history.start_session, [page.browser_id, keys.api_key], history.outputs(), **_QUICK, **_PRIVATE)
    for remembered in (keys.api_key, keys.remember):
        remembered.change(None, [keys.api_key, keys.remember], keys.store, js=_STORE_KEY_JS, queue=False, **_PRIVATE)
    keys.api_key.submit(**refresh_history)
    keys.api_key.blur(**refresh_history)
    keys.forget.click(
        h.history.forget_key, [history.search, page.browser_id],
        [keys.api_key, keys.store, keys.remember, *history.outputs()], **_QUICK, **_PRIVATE,
    )


def _setup_create_events(page: Page, h: StudioHandlers) -> None:
    form, results, who = page.form, page.results, page.who()
    refresh_history = _refresh_history(page, h)
    for source in (form.source.image, form.source.url):
        # Queued (not queue=False): only queued events show a refused upload's sentence as a toast.
        source.change(h.create.source_changed, [form.source.image, form.source.url], form.similar, **_QUICK, **_PRIVATE)
    # Private events still get an api_name (from the function name unless given): name them so they
    # never take "generate" & co. from the public endpoints below.
    watching = []  # every event that streams the results panel: Stop cancels whichever is running
    for trigger, api_name in ((form.generate.click, "ui_generate"), (form.prompt.submit, "ui_generate_submit")):
        event = trigger(
            h.create.generate, [*form.inputs(), results.view, *who], results.outputs(), trigger_mode="once",
            api_name=api_name,
            **_STREAM, **_PRIVATE,
        )
        event.then(**refresh_history)
        watching.append(event)
    for name, button in results.buttons.items():
        event = button.click(
            h.create.press_handler(name), [results.view, *who], results.outputs(), trigger_mode="once",
            **_STREAM, **_PRIVATE,
        )
        event.then(**refresh_history)
        watching.append(event)
    event = results.check_again.click(
        h.create.check_again, [results.view, *who], results.outputs(), trigger_mode="once", api_name="ui_check_again",
        **_STREAM, **_PRIVATE,
    )
    event.then(**refresh_history)
    watching.append(event)
    watching.append(page.history.gallery.select(
        h.history.reopen, [page.history.state, results.view, *who], results.outputs(), **_STREAM, **_PRIVATE
    ))
    results.stop.click(
        h.create.stop, [results.view, *who], results.outputs(), cancels=watching, **_QUICK, **_PRIVATE,
    ).then(**refresh_history)
    results.use_source.click(
        h.create.use_as_source, [results.view, *who], [form.source.image, form.source.url, form.similar],
        **_QUICK, **_PRIVATE,
    )
    results.reuse.click(h.create.reuse_settings, [results.view, *who], form.inputs(), **_QUICK, **_PRIVATE)


def _setup_results_events(page: Page, h: StudioHandlers) -> None:
    results, who = page.results, page.who()
    results.gallery.select(h.results.select, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE)
    results.delete.click(h.results.delete, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE).then(
        **_refresh_history(page, h)
    )


def _setup_history_events(page: Page, h: StudioHandlers) -> None:
    history, who = page.history, page.who()
    refresh_history = _refresh_history(page, h)
    history.search.submit(**refresh_history)
    history.refresh.click(**refresh_history)
    history.older.click(h.history.older, [history.state, *who], history.outputs(), **_QUICK, **_PRIVATE)
    history.newer.click(h.history.newer, [history.state, *who], history.outputs(), **_QUICK, **_PRIVATE)


def _setup_api(h: StudioHandlers) -> None:
    """Named endpoints for gradio_client: typed functions, no components, documented on the API page."""
    api = h.api.functions()
    gr.api(api["generate"], api_name="generate", concurrency_limit=API_CONCURRENCY, concurrency_id="akool-api")
    gr.api(api["press_button"], api_name="press_button", concurrency_limit=API_CONCURRENCY, concurrency_id="akool-api")
    gr.api(api["job"], api_name="job", concurrency_limit=QUICK_CONCURRENCY, concurrency_id="quick")
    gr.api(api["original"], api_name="original", concurrency_limit=QUICK_CONCURRENCY, concurrency_id="quick")
    gr.api(api["check_again"], api_name="check_again", concurrency_limit=API_CONCURRENCY, concurrency_id="akool-api")
    gr.api(api["history"], api_name="history", concurrency_limit=QUICK_CONCURRENCY, concurrency_id="quick")
