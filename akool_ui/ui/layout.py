"""The page: a gr.Blocks tree with the element ids from design.md, then the event wiring.

Declare the components, wire them to ``StudioHandlers``, nothing else: no HTTP, no disk, no logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ..akool.models import BUTTONS, RESOLUTIONS, SCALES, UPSCALE_BUTTONS, VARIATION_BUTTONS
from .assets import EXAMPLE_SOURCE
from .media import MediaLinks
from .source_image import SourceImage
from .handlers import (
    API_CONCURRENCY,
    QUICK_CONCURRENCY,
    STREAM_CONCURRENCY,
    StudioHandlers,
    new_history_state,
    new_view,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..service.studio import Studio

__all__ = ["build_ui", "BROWSER_ID_KEY", "API_KEY_KEY"]

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
    "using this browser could read it."
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
    return text, classes


def build_ui(studio: "Studio", *, browser_secret: str, media: MediaLinks | None = None) -> gr.Blocks:
    """The Blocks app for ``studio``. ``browser_secret`` encrypts this site's localStorage values;
    ``media`` publishes stored images for their owners (default: in Gradio's folder)."""
    h = StudioHandlers(studio, media)
    banner_text, banner_classes = _banner(studio)

    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        # Per-browser values, kept in that browser's localStorage, never on the server. BrowserState
        # "encrypts" them with a secret that is in every visitor's page config: obfuscation, not protection.
        browser_store = gr.BrowserState(None, storage_key=BROWSER_ID_KEY, secret=browser_secret)
        # Stored as {"k": key}: BrowserState never writes a falsy value, so "" could not clear a saved key.
        key_store = gr.BrowserState(None, storage_key=API_KEY_KEY, secret=browser_secret)
        view = gr.State(new_view([]))
        history_state = gr.State(new_history_state())

        with gr.Row(equal_height=True):
            gr.Markdown(f"# {TITLE}")
            banner = gr.Markdown(banner_text, elem_id="mode-banner", elem_classes=banner_classes)

        with gr.Row():
            # --- the form ---------------------------------------------------------------------------
            with gr.Column(scale=2, min_width=320):
                prompt = gr.Textbox(
                    label="Prompt", lines=3, max_lines=10, elem_id="prompt",
                    placeholder="A lighthouse on a cliff at dawn, watercolour",
                )
                negative = gr.Textbox(label="Negative prompt", elem_id="negative-prompt", placeholder="blurry, text")
                # Always rendered (an Accordion would keep these ids out of the page until opened).
                with gr.Group(elem_id="source-panel"):
                    with gr.Row(equal_height=True):
                        source_image = SourceImage(
                            label="Source image (optional: image-to-image)", type="filepath",
                            sources=["upload", "clipboard"], height=170, elem_id="source-image", min_width=160,
                        )
                        source_url = gr.Textbox(
                            label="…or a public image URL", elem_id="source-url", placeholder="https://…",
                            info="Used when no image is uploaded.", min_width=160,
                        )
                with gr.Row():
                    scale = gr.Dropdown(list(SCALES), value="1:1", label="Aspect ratio", elem_id="scale")
                    resolution = gr.Radio(list(RESOLUTIONS), value=DEFAULT_RESOLUTION, label="Resolution", elem_id="resolution")
                batch = gr.Slider(1, 4, value=1, step=1, label="Images (each is a separate job)", elem_id="batch")
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
                    inputs=[prompt, source_image],
                    label="Try",
                )
                with gr.Group(elem_id="api-key-panel"):
                    with gr.Row(equal_height=True):
                        api_key = gr.Textbox(
                            label="Your Akool API key (optional)", type="password", elem_id="api-key",
                            placeholder="Paste your key (leave empty to use this app's own setup)", scale=4,
                            info=KEY_INFO,
                        )
                        forget_key = gr.Button("Forget key", size="sm", elem_id="forget-key", scale=1, min_width=90)
                    remember_key = gr.Checkbox(
                        False, label="Remember my key on this browser", elem_id="remember-key", container=False,
                    )

            # --- the results ------------------------------------------------------------------------
            with gr.Column(scale=3, min_width=360):
                status = gr.Markdown("Ready. Write a prompt and press **Generate**.", elem_id="status")
                gallery = gr.Gallery(
                    label="Results", elem_id="gallery", columns=2, height="auto", object_fit="contain",
                    buttons=["fullscreen"], interactive=False,
                )
                with gr.Column(elem_id="result-actions"):
                    with gr.Row():
                        buttons = {}
                        for name in UPSCALE_BUTTONS:
                            buttons[name] = gr.Button(
                                name, elem_id=f"btn-{name}", interactive=False, size="sm", elem_classes=["akool-action"]
                            )
                    with gr.Row():
                        for name in VARIATION_BUTTONS:
                            buttons[name] = gr.Button(
                                name, elem_id=f"btn-{name}", interactive=False, size="sm", elem_classes=["akool-action"]
                            )
                    gr.Markdown("U = 4K upscale of that image · V = a variation of it", elem_id="button-help")
                    check_again = gr.Button("Check again", visible=False, elem_id="check-again", size="sm")
                    with gr.Row():
                        use_source = gr.Button("Use as source", size="sm", elem_id="use-as-source", interactive=False)
                        download_one = gr.DownloadButton(
                            "Download original", size="sm", elem_id="download-original", interactive=False
                        )
                        download_all = gr.DownloadButton(
                            "Download all (zip)", size="sm", elem_id="download-all", interactive=False
                        )
                    details = gr.Markdown(elem_id="job-details")
                    with gr.Row():
                        reuse = gr.Button("Reuse settings", size="sm", elem_id="reuse-settings", interactive=False)
                        delete = gr.Button("Delete", size="sm", variant="stop", elem_id="delete-job", interactive=False)

        # --- history ----------------------------------------------------------------------------------
        with gr.Group(elem_id="history-panel"):
            with gr.Row(equal_height=True):
                history_search = gr.Textbox(
                    label="History", placeholder="Search your prompts…", elem_id="history-search", scale=4,
                    show_label=True,
                )
                history_refresh = gr.Button("Refresh", size="sm", elem_id="history-refresh", scale=1)
            history = gr.Gallery(
                label="Your earlier jobs (newest first; click one to open it)", elem_id="history", columns=6,
                height="auto", allow_preview=False, object_fit="cover", interactive=False, buttons=[],
                fit_columns=False,
            )
            with gr.Row():
                history_newer = gr.Button("← Newer", size="sm", elem_id="history-newer", interactive=False)
                history_pager = gr.Markdown("", elem_id="history-pager")
                history_older = gr.Button("Older →", size="sm", elem_id="history-older", interactive=False)

        # --- wiring -----------------------------------------------------------------------------------
        form = [prompt, negative, source_image, source_url, scale, resolution, batch, similar]
        who = [api_key, browser_store]
        result_outputs = [
            status, gallery, view, details, download_one, download_all, use_source,
            *[buttons[name] for name in BUTTONS], reuse, delete, check_again,
        ]
        assert len(result_outputs) == StudioHandlers.RESULT_WIDTH
        history_outputs = [history, history_state, history_pager, history_newer, history_older]
        refresh_history = dict(fn=h.history_refresh, inputs=[history_search, *who], outputs=history_outputs, **_QUICK, **_PRIVATE)

        # Page load, in the browser alone (no round trip, so it is done before anyone can click): give this
        # browser its random id if it has none, and put a remembered key back in its box. Then the history.
        demo.load(
            None, [browser_store, key_store], [browser_store, api_key, remember_key], js=_SESSION_JS, **_PRIVATE
        ).then(
            h.start_session, [browser_store, api_key], history_outputs, **_QUICK, **_PRIVATE
        )
        for remembered in (api_key, remember_key):
            remembered.change(None, [api_key, remember_key], key_store, js=_STORE_KEY_JS, queue=False, **_PRIVATE)
        api_key.submit(**refresh_history)
        api_key.blur(**refresh_history)
        forget_key.click(
            h.forget_key, [history_search, browser_store], [api_key, key_store, remember_key, *history_outputs],
            **_QUICK, **_PRIVATE,
        )

        for source in (source_image, source_url):
            # Queued (not queue=False): only queued events show a refused upload's sentence as a toast.
            source.change(h.source_changed, [source_image, source_url], similar, **_QUICK, **_PRIVATE)

        # Private events still get an api_name (from the function name unless given): name them so they
        # never take "generate" & co. from the public endpoints below.
        generate.click(
            h.generate, [*form, *who], result_outputs, trigger_mode="once", api_name="ui_generate", **_STREAM,
            **_PRIVATE,
        ).then(**refresh_history)
        prompt.submit(
            h.generate, [*form, *who], result_outputs, trigger_mode="once", api_name="ui_generate_submit",
            **_STREAM, **_PRIVATE,
        ).then(**refresh_history)
        for name in BUTTONS:
            buttons[name].click(
                h.press_handler(name), [view, *who], result_outputs, trigger_mode="once", **_STREAM, **_PRIVATE
            ).then(**refresh_history)
        check_again.click(h.check_again, [view, *who], result_outputs, trigger_mode="once", **_STREAM, **_PRIVATE).then(
            **refresh_history
        )
        gallery.select(h.select, [view, *who], result_outputs, **_QUICK, **_PRIVATE)
        use_source.click(h.use_as_source, [view, *who], [source_image, source_url, similar], **_QUICK, **_PRIVATE)
        reuse.click(h.reuse_settings, [view, *who], form, **_QUICK, **_PRIVATE)
        delete.click(h.delete, [view, *who], result_outputs, **_QUICK, **_PRIVATE).then(**refresh_history)

        history_search.submit(**refresh_history)
        history_refresh.click(**refresh_history)
        history_older.click(h.history_older, [history_state, *who], history_outputs, **_QUICK, **_PRIVATE)
        history_newer.click(h.history_newer, [history_state, *who], history_outputs, **_QUICK, **_PRIVATE)
        history.select(h.reopen, [history_state, *who], result_outputs, **_STREAM, **_PRIVATE)

        # Named endpoints for gradio_client: typed functions, no components, documented on the API page.
        api = h.api_functions()
        gr.api(api["generate"], api_name="generate", concurrency_limit=API_CONCURRENCY, concurrency_id="akool-api")
        gr.api(api["press_button"], api_name="press_button", concurrency_limit=API_CONCURRENCY, concurrency_id="akool-api")
        gr.api(api["job"], api_name="job", concurrency_limit=QUICK_CONCURRENCY, concurrency_id="quick")

    demo.queue(default_concurrency_limit=QUICK_CONCURRENCY)
    return demo
