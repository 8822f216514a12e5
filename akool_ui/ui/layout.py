"""The page's events: ``build_ui`` renders the sections (``sections.py``), then wires each area's events
(``_setup_*_events``) to ``StudioHandlers``. Nothing else: no HTTP, no disk, no logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import gradio as gr

from . import agents
from .compare_panel import ZOOM_JS
from .board_events import setup_board_events
from .handlers import API_CONCURRENCY, QUICK_CONCURRENCY, STREAM_CONCURRENCY, StudioHandlers
from .handlers.boards import BOARD_VALUE
from .media import MediaLinks
from .panels import Page
from .scripts import NOTIFY_OPT_IN_JS, PAGE_SETUP_JS, scroll_into_view
from .share_panel import ABSOLUTE_LINK_JS
from .sections import API_KEY_KEY, BROWSER_ID_KEY, KEY_INFO, TITLE, _banner, render_page

if TYPE_CHECKING:  # pragma: no cover
    from ..service import Studio

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


def build_ui(
    studio: "Studio", *, browser_secret: str, media: MediaLinks | None = None, agent_tools: bool = False
) -> gr.Blocks:
    """The Blocks app for ``studio``. ``browser_secret`` encrypts this site's localStorage values;
    ``media`` publishes stored images for their owners (default: in Gradio's folder); ``agent_tools``
    adds the MCP tools' endpoints (``agents.py``)."""
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        page = render_page(studio, browser_secret=browser_secret)
        handlers = StudioHandlers(studio, page, media)
        _setup_events(demo, page, handlers)
        if agent_tools:
            agents.register(handlers)
    demo.queue(default_concurrency_limit=QUICK_CONCURRENCY)
    return demo


# --- events ------------------------------------------------------------------------------------------


def _setup_events(demo: gr.Blocks, page: Page, h: StudioHandlers) -> None:
    _setup_session_events(demo, page, h)
    _setup_create_events(page, h)
    _setup_results_events(page, h)
    _setup_history_events(page, h)
    _setup_share_events(page, h)
    _setup_compare_events(page, h)
    setup_board_events(page, h, _refresh_history(page, h), _QUICK, _PRIVATE)
    _setup_api(h)


def _refresh_history(page: Page, h: StudioHandlers) -> dict[str, Any]:
    """The history reload that follows anything which may have changed it (``.then(**...)``)."""
    return dict(fn=h.history.refresh, inputs=[page.history.search, page.history.favourites, *page.who(),
                                              page.boards.view, *page.boards.filter_inputs()],
                outputs=page.history.outputs(),
                **_QUICK, **_PRIVATE)


def _show_share(event: Any, page: Page, h: StudioHandlers) -> None:
    """After ``event`` (which may have changed the selection): the selected image's share link, made whole."""
    event.then(h.shares.show, [page.results.view, *page.who()], page.share.outputs(), **_QUICK, **_PRIVATE).then(
        None, page.share.link, page.share.link, js=ABSOLUTE_LINK_JS, queue=False, **_PRIVATE)


def _refresh_cost(page: Page, h: StudioHandlers) -> dict[str, Any]:
    """The price and the credit left, read again after anything that may change them (``.then(**...)``)."""
    form = page.form
    return dict(fn=h.create.cost, inputs=[form.batch, form.resolution, page.keys.api_key], outputs=form.cost,
                **_QUICK, **_PRIVATE)


def _setup_session_events(demo: gr.Blocks, page: Page, h: StudioHandlers) -> None:
    keys, history = page.keys, page.history
    refresh_history = _refresh_history(page, h)
    refresh_cost = _refresh_cost(page, h)
    # Page load, in the browser alone (no round trip, so it is done before anyone can click): give this
    # browser its random id if it has none, and put a remembered key back in its box. Then the history.
    demo.load(None, js=PAGE_SETUP_JS, **_PRIVATE)  # Ctrl/Cmd+Enter, the tab title when a job finishes
    started = demo.load(
        None, [page.browser_id, keys.store], [page.browser_id, keys.api_key, keys.remember], js=_SESSION_JS,
        **_PRIVATE,
    ).then(h.history.start_session, [page.browser_id, keys.api_key], history.outputs(), **_QUICK, **_PRIVATE)
    started.then(h.history.catch_up, [history.state, *page.who()], history.outputs(), **_QUICK, **_PRIVATE)
    started.then(**refresh_cost)  # the learned price, and the balance of whoever pays (once the key is back)
    for remembered in (keys.api_key, keys.remember):
        remembered.change(None, [keys.api_key, keys.remember], keys.store, js=_STORE_KEY_JS, queue=False, **_PRIVATE)
    # The banner says what the key in the box does (typed, restored on load, or forgotten): pure, no queue.
    keys.api_key.change(page.header.for_key, keys.api_key, page.header.banner, queue=False, show_progress="hidden",
                        **_PRIVATE)
    for entered in (keys.api_key.submit, keys.api_key.blur):
        entered(**refresh_history)
        entered(**refresh_cost)  # whose balance it is follows the key
    keys.forget.click(
        h.history.forget_key, [history.search, page.browser_id],
        [keys.api_key, keys.store, keys.remember, *history.outputs()], **_QUICK, **_PRIVATE,
    ).then(**refresh_cost)


def _from_form(page: Page, handler: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """Generate's event function: its inputs go in as a set, so Gradio hands over {component: value}; the
    handler gets the form's values by field name (``FormPanel.named``), then the view and who is asking."""
    form, view, (api_key, browser_id), board = page.form, page.results.view, page.who(), page.boards.target

    async def from_form(values: dict[Any, Any], request: gr.Request) -> AsyncIterator[Any]:
        named = {**form.named(values), BOARD_VALUE: values.get(board)}  # the board the new jobs go on
        async for update in handler(named, values[view], values[api_key], values[browser_id], request):
            yield update

    from_form.__name__ = from_form.__qualname__ = handler.__name__
    return from_form


def _setup_create_events(page: Page, h: StudioHandlers) -> None:
    form, results, who = page.form, page.results, page.who()
    refresh_history = _refresh_history(page, h)
    refresh_cost = _refresh_cost(page, h)
    for option in (form.batch, form.resolution):  # the price before Generate (and whether it is over the credit)
        option.change(**refresh_cost)
    url_checked = [form.source.url_preview, form.source.url_check]
    for trigger in (form.source.url.blur, form.source.url.submit):
        trigger(h.create.check_source_url, form.source.url, url_checked, **_QUICK, **_PRIVATE)
    form.source.url.change(h.create.source_url_edited, form.source.url, url_checked, queue=False,
                           show_progress="hidden", **_PRIVATE)
    # A dropped image carrying this app's settings (any download from here) restores the form.
    form.source.image.upload(h.create.restore_from_image, form.source.image, form.restorable(), **_QUICK, **_PRIVATE)
    for source in (form.source.image, form.source.url):
        # Queued (not queue=False): only queued events show a refused upload's sentence as a toast.
        source.change(h.create.source_changed, set(form.inputs()), form.source_dependent(), **_QUICK, **_PRIVATE)
    # Private events still get an api_name (from the function name unless given): name them so they
    # never take "generate" & co. from the public endpoints below.
    watching = []  # every event that streams the results panel: Stop cancels whichever is running
    for trigger, api_name in ((form.generate.click, "ui_generate"), (form.prompt.submit, "ui_generate_submit")):
        # The status line is where "it started" shows: on a phone it is below the form, out of view.
        trigger(None, js=scroll_into_view("#status", "center"), queue=False, **_PRIVATE)
        trigger(h.shares.hide, None, page.share.outputs(), queue=False, show_progress="hidden", **_PRIVATE)
        event = trigger(
            _from_form(page, h.create.generate), {*form.inputs(), results.view, page.boards.target, *who},
            results.outputs(),
            trigger_mode="once",
            api_name=api_name,
            **_STREAM, **_PRIVATE,
        )
        event.then(**refresh_history)
        event.then(**refresh_cost)  # the jobs ended: the balance is read again
        watching.append(event)
    presses = [(button, h.create.press_handler(name)) for name, button in results.buttons.items()]
    presses += [(results.upscale_this, h.create.press_this_handler("U")),
                (results.vary_this, h.create.press_this_handler("V"))]
    for button, press in presses:
        button.click(None, js=scroll_into_view("#status", "center"), queue=False, **_PRIVATE)  # where it shows
        button.click(h.shares.hide, None, page.share.outputs(), queue=False, show_progress="hidden", **_PRIVATE)
        event = button.click(
            press, [results.view, *who], results.outputs(), trigger_mode="once", **_STREAM, **_PRIVATE,
        )
        event.then(**refresh_history)
        event.then(**refresh_cost)
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
    for event in watching:
        _show_share(event, page, h)
    results.stop.click(
        h.create.stop, [results.view, *who], results.outputs(), cancels=watching, **_QUICK, **_PRIVATE,
    ).then(**refresh_history)
    # Opt-in: the browser asks for permission; a refusal unticks the box again (scripts.py).
    results.notify.change(None, results.notify, results.notify, js=NOTIFY_OPT_IN_JS, queue=False, **_PRIVATE)
    results.use_source.click(
        h.create.use_as_source, [results.view, *who], [form.source.image, form.source.url, *form.source_dependent()],
        **_QUICK, **_PRIVATE,
    )
    results.reuse.click(h.create.reuse_settings, [results.view, *who], form.inputs(), **_QUICK, **_PRIVATE).then(
        None, js=scroll_into_view("#prompt", "center"), queue=False, **_PRIVATE
    )


def _setup_results_events(page: Page, h: StudioHandlers) -> None:
    results, who = page.results, page.who()
    _show_share(results.gallery.select(h.results.select, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE),
                page, h)
    deleting = results.delete.click(h.results.delete, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE)
    deleting.then(**_refresh_history(page, h))
    _show_share(deleting, page, h)
    results.favourite.click(
        h.results.toggle_favourite, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE
    ).then(**_refresh_history(page, h))
    undoing = results.undo_delete.click(
        h.results.undo_delete, [results.view, *who], results.outputs(), **_QUICK, **_PRIVATE)
    undoing.then(**_refresh_history(page, h))
    _show_share(undoing, page, h)


def _setup_share_events(page: Page, h: StudioHandlers) -> None:
    share, view, who = page.share, page.results.view, page.who()
    made = share.share.click(h.shares.create, [view, share.include_prompt, *who], share.outputs(), **_QUICK, **_PRIVATE)
    made.then(None, share.link, share.link, js=ABSOLUTE_LINK_JS, queue=False, **_PRIVATE)
    share.revoke.click(h.shares.revoke, [share.state, view, *who], share.outputs(), **_QUICK, **_PRIVATE)


def _setup_compare_events(page: Page, h: StudioHandlers) -> None:
    compare, who = page.compare, page.who()
    if compare is None or h.compare is None:
        return
    tray, both = compare.tray, [*compare.tray_outputs(), *compare.view_outputs()]
    tray.add.click(h.compare.add, [tray.state, page.results.view, *who], compare.tray_outputs(), **_QUICK, **_PRIVATE)
    for position, remove in enumerate(tray.removes):
        remove.click(h.compare.remove_handler(position), [tray.state, *who], compare.tray_outputs(), **_QUICK, **_PRIVATE)
    tray.clear.click(h.compare.clear, None, both, queue=False, show_progress="hidden", **_PRIVATE)
    showing = [tray.state, compare.mode, compare.zoom, *who]
    rezoom = dict(fn=None, inputs=compare.zoom, outputs=compare.zoom, js=ZOOM_JS, queue=False, **_PRIVATE)
    tray.open.click(h.compare.open, showing, both, **_QUICK, **_PRIVATE).then(**rezoom).then(
        None, js=scroll_into_view("#compare-view"), queue=False, **_PRIVATE)
    compare.mode.change(h.compare.open, showing, both, **_QUICK, **_PRIVATE).then(**rezoom)
    compare.zoom.input(**rezoom)  # in the browser: no round trip
    compare.close.click(h.compare.close, None, compare.view_outputs(), queue=False, show_progress="hidden", **_PRIVATE)


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
