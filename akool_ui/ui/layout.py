"""The page's events: ``build_ui`` renders the sections (``sections.py``), then wires each area's events
(``_setup_*_events``) to ``StudioHandlers``. Nothing else: no HTTP, no disk, no logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from .handlers import API_CONCURRENCY, QUICK_CONCURRENCY, STREAM_CONCURRENCY, StudioHandlers
from .media import MediaLinks
from .panels import Page
from .scripts import NOTIFY_OPT_IN_JS, PAGE_SETUP_JS, scroll_into_view
from .sections import API_KEY_KEY, BROWSER_ID_KEY, KEY_INFO, TITLE, _banner, render_page

if TYPE_CHECKING:  # pragma: no cover
    from ..service.studio import Studio

__all__ = ["build_ui", "render_page", "BROWSER_ID_KEY", "API_KEY_KEY", "KEY_INFO", "TITLE", "_banner"]

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


def build_ui(studio: "Studio", *, browser_secret: str, media: MediaLinks | None = None) -> gr.Blocks:
    """The Blocks app for ``studio``. ``browser_secret`` encrypts this site's localStorage values;
    ``media`` publishes stored images for their owners (default: in Gradio's folder)."""
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        page = render_page(studio, browser_secret=browser_secret)
        _setup_events(demo, page, StudioHandlers(studio, page, media))
    demo.queue(default_concurrency_limit=QUICK_CONCURRENCY)
    return demo


# --- events ------------------------------------------------------------------------------------------


def _setup_events(demo: gr.Blocks, page: Page, h: StudioHandlers) -> None:
    _setup_session_events(demo, page, h)
    _setup_create_events(page, h)
    _setup_results_events(page, h)
    _setup_history_events(page, h)
    _setup_api(h)


def _refresh_history(page: Page, h: StudioHandlers) -> dict[str, Any]:
    """The history reload that follows anything which may have changed it (``.then(**...)``)."""
    return dict(fn=h.history.refresh, inputs=[page.history.search, page.history.favourites, *page.who()],
                outputs=page.history.outputs(),
                **_QUICK, **_PRIVATE)


def _setup_session_events(demo: gr.Blocks, page: Page, h: StudioHandlers) -> None:
    keys, history = page.keys, page.history
    refresh_history = _refresh_history(page, h)
    # Page load, in the browser alone (no round trip, so it is done before anyone can click): give this
    # browser its random id if it has none, and put a remembered key back in its box. Then the history.
    demo.load(None, js=PAGE_SETUP_JS, **_PRIVATE)  # Ctrl/Cmd+Enter, the tab title when a job finishes
    demo.load(
        None, [page.browser_id, keys.store], [page.browser_id, keys.api_key, keys.remember], js=_SESSION_JS,
        **_PRIVATE,
    ).then(h.history.start_session, [page.browser_id, keys.api_key], history.outputs(), **_QUICK, **_PRIVATE)
    for remembered in (keys.api_key, keys.remember):
        remembered.change(None, [keys.api_key, keys.remember], keys.store, js=_STORE_KEY_JS, queue=False, **_PRIVATE)
    # The banner says what the key in the box does (typed, restored on load, or forgotten): pure, no queue.
    keys.api_key.change(page.header.for_key, keys.api_key, page.header.banner, queue=False, show_progress="hidden",
                        **_PRIVATE)
    keys.api_key.submit(**refresh_history)
    keys.api_key.blur(**refresh_history)
    keys.forget.click(
        h.history.forget_key, [history.search, page.browser_id],
        [keys.api_key, keys.store, keys.remember, *history.outputs()], **_QUICK, **_PRIVATE,
    )


def _setup_create_events(page: Page, h: StudioHandlers) -> None:
    form, results, who = page.form, page.results, page.who()
    refresh_history = _refresh_history(page, h)
    form.batch.change(h.create.cost, form.batch, form.cost, queue=False, show_progress="hidden", **_PRIVATE)  # the price before Generate
    url_checked = [form.source.url_preview, form.source.url_check]
    for trigger in (form.source.url.blur, form.source.url.submit):
        trigger(h.create.check_source_url, form.source.url, url_checked, **_QUICK, **_PRIVATE)
    form.source.url.change(h.create.source_url_edited, form.source.url, url_checked, queue=False,
                           show_progress="hidden", **_PRIVATE)
    # A dropped image carrying this app's settings (any download from here) restores the form.
    form.source.image.upload(h.create.restore_from_image, form.source.image, form.restorable(), **_QUICK, **_PRIVATE)
    for source in (form.source.image, form.source.url):
        # Queued (not queue=False): only queued events show a refused upload's sentence as a toast.
        source.change(h.create.source_changed, [form.source.image, form.source.url], form.similar, **_QUICK, **_PRIVATE)
    # Private events still get an api_name (from the function name unless given): name them so they
    # never take "generate" & co. from the public endpoints below.
    watching = []  # every event that streams the results panel: Stop cancels whichever is running
    for trigger, api_name in ((form.generate.click, "ui_generate"), (form.prompt.submit, "ui_generate_submit")):
        # The status line is where "it started" shows: on a phone it is below the form, out of view.
        trigger(None, js=scroll_into_view("#status", "center"), queue=False, **_PRIVATE)
        event = trigger(
            h.create.generate, [*form.inputs(), results.view, *who], results.outputs(), trigger_mode="once",
            api_name=api_name,
            **_STREAM, **_PRIVATE,
        )
        event.then(**refresh_history)
        watching.append(event)
    presses = [(button, h.create.press_handler(name)) for name, button in results.buttons.items()]
    presses += [(results.upscale_this, h.create.press_this_handler("U")),
                (results.vary_this, h.create.press_this_handler("V"))]
    for button, press in presses:
        button.click(None, js=scroll_into_view("#status", "center"), queue=False, **_PRIVATE)  # where it shows
        event = button.click(
            press, [results.view, *who], results.outputs(), trigger_mode="once", **_STREAM, **_PRIVATE,
        )
        event.then(**refresh_history)
        watching.append(event)
    event = results.check_again.click(
        h.create.check_again, [results.view, *who], results.outputs(), trigger_mode="once", api_name="ui_check_again",
        **_STREAM, **_PRIVATE,
    )
    event.then(**refresh_history)
    watching.append(event)
    # A history click fills the results panel, far above the history on every screen: go there.
    page.history.gallery.select(None, js=scroll_into_view("#results-column"), queue=False, **_PRIVATE)
    watching.append(page.history.gallery.select(
        h.history.reopen, [page.history.state, results.view, *who], results.outputs(), **_STREAM, **_PRIVATE
    ))
    results.stop.click(
        h.create.stop, [results.view, *who], results.outputs(), cancels=watching, **_QUICK, **_PRIVATE,
    ).then(**refresh_history)
    # Opt-in: the browser asks for permission; a refusal unticks the box again (scripts.py).
    results.notify.change(None, results.notify, results.notify, js=NOTIFY_OPT_IN_JS, queue=False, **_PRIVATE)
    results.use_source.click(
        h.create.use_as_source, [results.view, *who], [form.source.image, form.source.url, form.similar],
        **_QUICK, **_PRIVATE,
    )
    results.reuse.click(h.create.reuse_settings, [results.view, *who], form.inputs(), **_QUICK, **_PRIVATE).then(
        None, js=scroll_into_view("#prompt", "center"), queue=False, **_PRIVATE
    )


def _setup_results_events(page: Page, h: StudioHandlers) -> None:
    results, who = page.results, page.who()
    results.gallery.select(h.results.select, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE)
    results.delete.click(h.results.delete, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE).then(
        **_refresh_history(page, h)
    )
    results.favourite.click(
        h.results.toggle_favourite, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE
    ).then(**_refresh_history(page, h))
    results.undo_delete.click(
        h.results.undo_delete, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE
    ).then(**_refresh_history(page, h))


def _setup_history_events(page: Page, h: StudioHandlers) -> None:
    history, who = page.history, page.who()
    refresh_history = _refresh_history(page, h)
    history.search.submit(**refresh_history)
    history.refresh.click(**refresh_history)
    history.favourites.change(**refresh_history)
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
