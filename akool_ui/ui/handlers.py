"""Event functions: thin adapters from widget values to the Studio, and from records back to widgets.

Every function here takes plain values (what the browser sent), calls the service, and returns
component updates. Status streams are async generators that ``await`` the tracker's subscription, so a
watching browser costs no worker thread; only the short blocking calls (creating a job, storing an
upload) run in a thread. Errors reach the page as one sentence through ``user_errors``.

The API key arrives as an ordinary input from the browser (it lives in that browser's localStorage via
``gr.BrowserState``) and is passed straight to the Studio; it is never stored, logged or returned.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Sequence

import anyio.to_thread
import gradio as gr

from ..akool.errors import AkoolError
from ..akool.models import BUTTONS, ImageRequest
from ..service.exports import zip_files
from ..service.images import ImageValidationError
from ..service.owners import is_browser_id, new_browser_id
from ..jobs import JobRecord, RecordState
from ..service.uploads import NoPublicUrl
from . import views
from .media import MediaLinks

if TYPE_CHECKING:  # pragma: no cover
    from ..service.studio import Studio

log = logging.getLogger(__name__)

# Events that wait on Akool (create, press, watch). They are async and await the tracker, so a high limit
# costs no threads: 20 people generating at once must all progress (Gradio's default is 1 at a time).
STREAM_CONCURRENCY = 100
# The named API endpoints: same reasoning; gradio_client callers often fire many at once.
API_CONCURRENCY = 100
# Short disk reads (history pages, selection, reuse): bounded so a burst cannot take every thread.
QUICK_CONCURRENCY = 32
# How often a status stream re-renders while nothing changes, to tick the elapsed seconds.
TICK_SECONDS = 1.0
HISTORY_PAGE_SIZE = 12
# A gradio_client caller that asked to wait gives up after this long (the tracker's own deadline is
# usually shorter and ends the job as "timed out" first).
API_WAIT_LIMIT = 900.0
_PLACEHOLDER_SOURCE = "https://source.invalid/placeholder.png"  # validates other fields before storing an upload

_USER_ERRORS = (AkoolError, ImageValidationError, NoPublicUrl)
_UNEXPECTED = "Something went wrong on our side. Please try again; if it keeps happening, reload the page."


def _to_gr_error(exc: BaseException) -> gr.Error:
    message = getattr(exc, "user_message", None) or _UNEXPECTED
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def _log_failure(fn: Callable[..., Any], exc: BaseException) -> None:
    if isinstance(exc, _USER_ERRORS):
        # ``str(exc)`` is the technical message; AkoolError guarantees it holds no secret.
        log.info("%s refused: %s: %s", fn.__name__, type(exc).__name__, exc)
    else:
        log.exception("%s failed unexpectedly", fn.__name__)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn service errors into ``gr.Error(one sentence)``; anything unexpected becomes a generic sentence.

    Works for plain, async and async-generator functions; the form's inputs are never outputs of the
    events it wraps, so whatever the user typed stays on the page.
    """
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - the page gets a sentence, the log the details
                _log_failure(fn, exc)
                raise _to_gr_error(exc) from None

        return agen_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001
                _log_failure(fn, exc)
                raise _to_gr_error(exc) from None

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001
            _log_failure(fn, exc)
            raise _to_gr_error(exc) from None

    return wrapper


async def _in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking call (HTTP to Akool, SQLite, files) off the event loop that serves every page."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def _key(api_key: str | None) -> str | None:
    text = _text(api_key, "api_key").strip()
    return text or None


def _text(value: Any, name: str) -> str:
    """An API argument that must be text (None counts as empty): checked as sent, never coerced."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise gr.Error(f"'{name}' must be text.", print_exception=False)
    return value


def _flag(value: Any, name: str) -> bool:
    """An API argument that must be true or false (``"false"`` is not)."""
    if not isinstance(value, bool):
        raise gr.Error(f"'{name}' must be true or false.", print_exception=False)
    return value


def _download_name(record: JobRecord, index: int, path: Path | None) -> str | None:
    """The file name a person downloads: which job, which button, which image."""
    if path is None:
        return None
    return f"akool-{record.id}-{record.button or 'image'}-{index + 1}{path.suffix}"


def new_view(job_ids: Sequence[str], selected: str | None = None, index: int = 0) -> dict[str, Any]:
    """The results panel's state: which jobs it shows, which image is selected, the gallery's order."""
    return {
        "jobs": views.unique(job_ids),
        "selected": selected if selected is not None else (job_ids[0] if job_ids else None),
        "index": index,
        "items": [],
        "zip": None,
    }


def new_history_state(query: str = "") -> dict[str, Any]:
    return {"query": query, "cursors": [None], "page": 0, "ids": [], "next": None}


class StudioHandlers:
    """The event functions of one page, bound to one Studio."""

    # Number of values ``_render`` returns; layout.RESULT_OUTPUTS lists the components in the same order.
    RESULT_WIDTH = 7 + len(BUTTONS) + 3

    def __init__(self, studio: "Studio", media: MediaLinks | None = None):
        self.studio = studio
        self.media = media or MediaLinks.for_cache(studio.store.cache_dir)

    # --- plumbing ----------------------------------------------------------------------------------

    def owner(self, api_key: str | None, browser_id: str | None) -> str:
        return self.studio.owner_for(_key(api_key), browser_id if is_browser_id(browser_id) else None)

    def _abspath(self, relative: str) -> Path:
        """The stored file itself: for reading (zips), never handed to Gradio (see ``_link``)."""
        return self.studio.image_path(relative)

    def _link(self, record: JobRecord, path: Path | None, name: str | None = None) -> str | None:
        """What Gradio may show of ``record``'s file: a link only its owner is ever given (media.py)."""
        if path is None:
            return None
        return self.media.publish(path, owner=record.owner, job_id=record.id, name=name)

    def _records(self, job_ids: Sequence[str], owner: str) -> list[JobRecord]:
        records = []
        for job_id in job_ids:
            record = self.studio.get(job_id, owner)
            if record is not None:
                records.append(record)
        return records

    def _original(self, record: JobRecord | None, index: int) -> Path | None:
        if record is None:
            return None
        for entry in record.images:
            if entry.index == index and entry.is_stored and entry.original:
                path = self._abspath(entry.original)
                return path if path.is_file() else None
        return None

    def _selected(self, view: dict[str, Any], records: Sequence[JobRecord]) -> JobRecord | None:
        by_id = {r.id: r for r in records}
        return by_id.get(view.get("selected") or "") or (records[0] if records else None)

    def _zip(self, view: dict[str, Any], records: Sequence[JobRecord]) -> str | None:
        """A zip of every stored original in view, built once per set of files."""
        if not records or any(r.is_in_flight for r in records):
            return None
        files: list[tuple[Path, str]] = []
        for record in records:
            for entry in record.images:
                if entry.is_stored and entry.original:
                    path = self._abspath(entry.original)
                    files.append((path, _download_name(record, entry.index, path)))
        if not files:
            return None
        signature = [str(p) for p, _ in files]
        cached = view.get("zip")
        if cached and cached.get("files") == signature and Path(cached["path"]).is_file():
            return cached["path"]
        path = zip_files(files, f"akool-{records[0].id}.zip")
        view["zip"] = {"files": signature, "path": str(path)}
        return str(path)

    def _render(self, view: dict[str, Any], records: Sequence[JobRecord], *, note: str | None = None) -> tuple:
        """Every result-panel output for ``view`` (order: layout.RESULT_OUTPUTS)."""
        by_id = {r.id: r for r in records}
        items = [
            (item, link)
            for item in views.gallery_items(records, self._abspath)
            if (link := self._link(by_id[item.job_id], item.path)) is not None
        ]
        view["items"] = [[item.job_id, item.index] for item, _ in items]
        selected = self._selected(view, records)
        index = int(view.get("index") or 0)
        if selected is not None:
            view["selected"] = selected.id
        parent = self.studio.get(selected.parent_id, selected.owner) if selected and selected.parent_id else None
        original = self._original(selected, index)
        original_link = self._link(selected, original, _download_name(selected, index, original)) if selected else None
        zip_path = self._zip(view, records)
        buttons = [
            gr.update(
                value=b.label,
                interactive=b.interactive,
                variant="primary" if b.highlighted and b.interactive else "secondary",
                elem_classes=["akool-action", "used"] if b.used else ["akool-action"],
            )
            for b in views.button_views(selected, index if selected is not None else None)
        ]
        has_image = original_link is not None
        final = selected is not None and selected.is_final
        return (
            views.status_markdown(records, note=note),
            [(link, item.caption) for item, link in items],
            view,
            views.job_details(selected, parent=parent),
            gr.update(value=original_link, interactive=has_image),
            gr.update(value=zip_path, interactive=zip_path is not None),
            gr.update(interactive=has_image),
            *buttons,
            gr.update(interactive=final),  # reuse settings
            gr.update(interactive=final),  # delete
            gr.update(visible=selected is not None and selected.state is RecordState.TIMED_OUT),  # check again
        )

    def _status_only(self, view: dict[str, Any], records: Sequence[JobRecord]) -> tuple:
        return (views.status_markdown(records), *([gr.skip()] * (self.RESULT_WIDTH - 1)))

    @staticmethod
    def _signature(records: Sequence[JobRecord]) -> tuple:
        return tuple(
            (r.id, r.state.value, tuple((e.index, e.state.value) for e in r.images), tuple(r.used_buttons), tuple(r.buttons))
            for r in records
        )

    async def _stream(self, view: dict[str, Any], owner: str, records: list[JobRecord]) -> AsyncIterator[tuple]:
        """Render ``view`` now, then on every tracker event (and once a second) until its jobs are final.

        Waiting is ``await subscription.aget``: no thread sleeps per watcher. Renders that read the store
        or write a zip run in a worker thread; the per-second status tick is pure and runs inline."""
        yield await _in_thread(self._render, view, records)
        watching = [r.id for r in records if r.is_in_flight]
        if not watching:
            return
        by_id = {r.id: r for r in records}
        signature = self._signature(records)
        subscription = self.studio.subscribe(watching)
        try:
            while not subscription.done:
                event = await subscription.aget(timeout=TICK_SECONDS)
                if event is not None and event.record.id in by_id:
                    by_id[event.record.id] = event.record
                current = [by_id[r.id] for r in records]
                now_signature = self._signature(current)
                if now_signature != signature:
                    signature = now_signature
                    yield await _in_thread(self._render, view, current)
                else:
                    yield self._status_only(view, current)
        finally:
            subscription.close()
        # The subscription is done: re-read so buttons/used_buttons written after the last event show.
        final = await _in_thread(self._records, [r.id for r in records], owner)
        yield await _in_thread(self._render, view, final or [by_id[r.id] for r in records])

    # --- form --------------------------------------------------------------------------------------

    def _build_request(
        self, prompt: str, negative: str, source_image: str | None, source_url: str, scale: str,
        resolution: str, batch: float, similar: float,
    ) -> ImageRequest:
        """Validate the form; store an upload only once everything else is valid."""
        url = (source_url or "").strip() or None
        fields = dict(
            prompt=prompt, negative_prompt=negative or "", scale=scale, resolution=resolution,
            batch_quantity=1 if batch is None else batch, similar=0.5 if similar is None else similar,
        )
        if not source_image:
            return ImageRequest(**fields, source_image_url=url)
        uploads = self.studio.uploads
        ImageRequest(**fields, source_image_url=_PLACEHOLDER_SOURCE)  # raises on a bad prompt, ratio, ...
        if not uploads.can_serve:
            raise NoPublicUrl()
        upload = uploads.add_file(source_image)
        return ImageRequest(**fields, source_image_url=uploads.url_for(upload))

    @user_errors
    async def generate(
        self, prompt: str, negative: str, source_image: str | None, source_url: str, scale: str,
        resolution: str, batch: float, similar: float, api_key: str, browser_id: str,
    ) -> AsyncIterator[tuple]:
        owner = self.owner(api_key, browser_id)
        request = await _in_thread(
            self._build_request, prompt, negative, source_image, source_url, scale, resolution, batch, similar
        )
        records = await _in_thread(self.studio.submit, request, api_key=_key(api_key), owner=owner)
        view = new_view([r.id for r in records])
        async for update in self._stream(view, owner, list(records)):
            yield update

    def press_handler(self, button: str) -> Callable[..., AsyncIterator[tuple]]:
        """The click function of one U/V button."""

        @user_errors
        async def press(view: dict[str, Any], api_key: str, browser_id: str) -> AsyncIterator[tuple]:
            owner = self.owner(api_key, browser_id)
            job_id = (view or {}).get("selected")
            if not job_id:
                raise gr.Error("Select an image first, then press a button.", print_exception=False)
            child = await _in_thread(self.studio.press, job_id, button, api_key=_key(api_key), owner=owner)
            view = {**view, "jobs": views.unique([*view["jobs"], child.id])}
            records = await _in_thread(self._records, view["jobs"], owner)
            async for update in self._stream(view, owner, records):
                yield update

        press.__name__ = press.__qualname__ = f"press_{button}"
        return press

    @user_errors
    async def check_again(self, view: dict[str, Any], api_key: str, browser_id: str) -> AsyncIterator[tuple]:
        owner = self.owner(api_key, browser_id)
        job_id = (view or {}).get("selected")
        if not job_id:
            raise gr.Error("Select a job first.", print_exception=False)
        await _in_thread(self.studio.check_again, job_id, api_key=_key(api_key), owner=owner)
        records = await _in_thread(self._records, view["jobs"], owner)
        async for update in self._stream(view, owner, records):
            yield update

    @user_errors
    def select(self, view: dict[str, Any], api_key: str, browser_id: str, evt: gr.SelectData) -> tuple:
        """A gallery tile was clicked: it becomes the selected job/image (buttons follow)."""
        owner = self.owner(api_key, browser_id)
        items = (view or {}).get("items") or []
        if isinstance(evt.index, int) and 0 <= evt.index < len(items):
            view = {**view, "selected": items[evt.index][0], "index": items[evt.index][1]}
        rendered = self._render(view, self._records(view.get("jobs") or [], owner))
        return (rendered[0], gr.skip(), *rendered[2:])  # re-sending the gallery would close its preview

    @user_errors
    def use_as_source(self, view: dict[str, Any], api_key: str, browser_id: str) -> tuple:
        """Put the selected result into the source box: the next Generate is image-to-image from it."""
        owner = self.owner(api_key, browser_id)
        records = self._records((view or {}).get("jobs") or [], owner)
        record = self._selected(view, records)
        index = int(view.get("index") or 0)
        original = self._link(record, self._original(record, index)) if record else None
        if original is None:
            raise gr.Error("Select a finished image first.", print_exception=False)
        gr.Info("Source image set. Describe the change you want and press Generate.")
        return original, "", gr.update(visible=True)

    @staticmethod
    def source_changed(source_image: str | None, source_url: str) -> dict:
        """``similar`` only means something for image-to-image."""
        return gr.update(visible=True if source_image or (source_url or "").strip() else "hidden")

    @user_errors
    def reuse_settings(self, view: dict[str, Any], api_key: str, browser_id: str) -> tuple:
        """Fill the form with the selected job's parameters (the source too, if we still have it)."""
        owner = self.owner(api_key, browser_id)
        records = self._records((view or {}).get("jobs") or [], owner)
        record = self._selected(view or {}, records)
        if record is None:
            raise gr.Error("Open a job from the history first.", print_exception=False)
        request = dict(record.request)
        if not request.get("scale") and record.parent_id:
            parent = self.studio.get(record.parent_id, owner)
            request = {**(parent.request if parent else {}), **request}
        source_url = request.get("source_image_url") or ""
        upload = self.studio.uploads.resolve_url(source_url) if source_url else None
        return (
            request.get("prompt", ""),
            request.get("negative_prompt", ""),
            self._link(record, upload.path) if upload else None,
            "" if upload else source_url,
            request.get("scale", "1:1"),
            request.get("resolution", "1080p"),
            int(request.get("batch_quantity", 1)),
            gr.update(value=float(request.get("similar", 0.5)), visible=True if source_url else "hidden"),
        )

    @user_errors
    def delete(self, view: dict[str, Any], api_key: str, browser_id: str) -> tuple:
        owner = self.owner(api_key, browser_id)
        job_id = (view or {}).get("selected")
        if not job_id:
            raise gr.Error("Select a job first.", print_exception=False)
        if not self.studio.delete(job_id, owner):
            raise gr.Error("That job is no longer in your history.", print_exception=False)
        self.media.revoke(owner, job_id)
        gr.Info("Deleted from your history and from disk.")
        remaining = [j for j in view["jobs"] if j != job_id]
        view = new_view(remaining)
        return self._render(view, self._records(remaining, owner))

    # --- history -----------------------------------------------------------------------------------

    def _history_outputs(self, state: dict[str, Any], owner: str) -> tuple:
        cursor = state["cursors"][state["page"]]
        page = self.studio.history(owner, cursor=cursor, limit=HISTORY_PAGE_SIZE, query=state["query"] or None)
        tiles = []
        for record in page.items:
            rel = views.first_display_path(record)
            link = self._link(record, self._abspath(rel)) if rel else None
            tiles.append((link or str(self.studio_placeholder(record)), views.history_caption(record)))
        state = {**state, "ids": [r.id for r in page.items], "next": page.next_cursor}
        if page.items:
            label = f"Page {state['page'] + 1}"
        elif state["query"]:
            label = "No jobs match that search."
        else:
            label = "No jobs yet: your results will appear here."
        return (
            tiles,
            state,
            label,
            gr.update(interactive=state["page"] > 0),
            gr.update(interactive=page.next_cursor is not None),
        )

    def studio_placeholder(self, record: JobRecord) -> Path:
        from .assets import placeholder_for

        return placeholder_for(record.state)

    @user_errors
    def history_refresh(self, query: str, api_key: str, browser_id: str) -> tuple:
        owner = self.owner(api_key, browser_id)
        self.studio.remember(_key(api_key), owner)  # their own key is back: resume their unfinished jobs
        return self._history_outputs(new_history_state((query or "").strip()), owner)

    @user_errors
    def forget_key(self, query: str, browser_id: str) -> tuple:
        """Clear the key from the box and from this browser's storage (and stop remembering it); show the
        browser's own history."""
        state = new_history_state((query or "").strip())
        return ("", {"k": ""}, False, *self._history_outputs(state, self.owner(None, browser_id)))

    @user_errors
    def history_older(self, state: dict[str, Any], api_key: str, browser_id: str) -> tuple:
        state = dict(state or new_history_state())
        if state.get("next"):
            state["cursors"] = [*state["cursors"][: state["page"] + 1], state["next"]]
            state["page"] += 1
        return self._history_outputs(state, self.owner(api_key, browser_id))

    @user_errors
    def history_newer(self, state: dict[str, Any], api_key: str, browser_id: str) -> tuple:
        state = dict(state or new_history_state())
        state["page"] = max(0, state["page"] - 1)
        return self._history_outputs(state, self.owner(api_key, browser_id))

    @user_errors
    async def reopen(
        self, state: dict[str, Any], api_key: str, browser_id: str, evt: gr.SelectData
    ) -> AsyncIterator[tuple]:
        """A history tile was clicked: show that job (and its U/V results) in the results panel."""
        owner = self.owner(api_key, browser_id)
        ids = (state or {}).get("ids") or []
        if not (isinstance(evt.index, int) and 0 <= evt.index < len(ids)):
            raise gr.Error("That job is no longer in your history.", print_exception=False)
        record = await _in_thread(self.studio.get, ids[evt.index], owner)
        if record is None:
            raise gr.Error("That job is no longer in your history.", print_exception=False)
        children = [c.id for c in await _in_thread(self.studio.children, record.id, owner)]
        view = new_view([record.id, *children], selected=record.id)
        async for update in self._stream(view, owner, await _in_thread(self._records, view["jobs"], owner)):
            yield update

    # --- session -----------------------------------------------------------------------------------

    @user_errors
    def start_session(self, browser_id: str | None, api_key: str | None) -> tuple:
        """After page load (the browser id is made in the browser): resume the visitor's jobs, show history."""
        if not is_browser_id(browser_id) and not _key(api_key):
            return self._history_outputs_empty()
        owner = self.owner(api_key, browser_id)
        self.studio.remember(_key(api_key), owner)
        return self._history_outputs(new_history_state(), owner)

    @staticmethod
    def _history_outputs_empty() -> tuple:
        state = new_history_state()
        return [], state, "No jobs yet: your results will appear here.", gr.update(interactive=False), gr.update(interactive=False)

    # --- named API endpoints (gradio_client) -------------------------------------------------------

    def _api_session(self, session: str) -> str:
        session = _text(session, "session").strip()
        if session and not is_browser_id(session):
            raise gr.Error(
                "The session must be 16-64 characters of letters, digits, '-' or '_' (or empty for a new one).",
                print_exception=False,
            )
        return session or new_browser_id()

    def _api_job(self, record: JobRecord) -> dict[str, Any]:
        data = views.job_summary(record)
        images = []
        for entry in record.images:
            item: dict[str, Any] = {"index": entry.index, "state": entry.state.value, "width": entry.width, "height": entry.height}
            for key, rel in (("preview", entry.preview), ("original", entry.original)):
                path = self._abspath(rel) if rel else None
                name = f"{record.id}-{entry.index}{path.suffix}" if path is not None else None
                link = self._link(record, path, name)
                # A FileData dict: Gradio serves the link and gradio_client downloads it.
                item[key] = {"path": link, "orig_name": name, "meta": {"_type": "gradio.FileData"}} if link else None
            images.append(item)
        data["images"] = images
        return data

    async def _api_wait(self, job_ids: list[str], owner: str) -> list[JobRecord]:
        records = await _in_thread(self._records, job_ids, owner)
        watching = [r.id for r in records if r.is_in_flight]
        if watching:
            subscription = self.studio.subscribe(watching)
            deadline = time.monotonic() + API_WAIT_LIMIT
            try:
                while not subscription.done and time.monotonic() < deadline:
                    await subscription.aget(timeout=TICK_SECONDS)
            finally:
                subscription.close()
        return await _in_thread(self._records, job_ids, owner)

    def api_functions(self) -> dict[str, Callable[..., Any]]:
        """The typed functions behind ``/generate``, ``/press_button`` and ``/job`` (see layout.py)."""

        @user_errors
        async def generate(
            prompt: str,
            negative_prompt: str = "",
            scale: str = "1:1",
            resolution: str = "1080p",
            batch: int = 1,
            source_url: str = "",
            similar: float = 0.5,
            api_key: str = "",
            session: str = "",
            wait: bool = True,
        ) -> dict:
            """Create 1-4 images (text-to-image, or image-to-image from source_url) and, unless wait is false,
            wait for them. Returns {"session", "jobs": [...]}; pass session back to /job and /press_button.
            api_key is optional (your own Akool key; never stored)."""
            session = self._api_session(session)
            owner = self.owner(api_key, session)
            wait = _flag(wait, "wait")
            request = ImageRequest(
                prompt=_text(prompt, "prompt"), negative_prompt=_text(negative_prompt, "negative_prompt"),
                scale=_text(scale, "scale"), resolution=_text(resolution, "resolution"),
                batch_quantity=batch, source_image_url=_text(source_url, "source_url").strip() or None, similar=similar,
            )
            records = await _in_thread(self.studio.submit, request, api_key=_key(api_key), owner=owner)
            ids = [r.id for r in records]
            records = await self._api_wait(ids, owner) if wait else list(records)
            return {"session": session, "jobs": await _in_thread(lambda: [self._api_job(r) for r in records])}

        @user_errors
        async def press_button(
            job_id: str, button: str, api_key: str = "", session: str = "", wait: bool = True
        ) -> dict:
            """Press U1-U4 (4K upscale) or V1-V4 (variation) on a finished job of yours; returns the new job."""
            session = self._api_session(session)
            owner = self.owner(api_key, session)
            wait = _flag(wait, "wait")
            job_id, button = _text(job_id, "job_id"), _text(button, "button")
            child = await _in_thread(self.studio.press, job_id, button, api_key=_key(api_key), owner=owner)
            records = await self._api_wait([child.id], owner) if wait else [child]
            return {"session": session, "jobs": await _in_thread(lambda: [self._api_job(r) for r in records])}

        @user_errors
        async def job(job_id: str, api_key: str = "", session: str = "") -> dict:
            """One of your jobs as it is now: state, buttons, lineage and its images (preview and original)."""
            session = self._api_session(session)
            record = await _in_thread(self.studio.get, _text(job_id, "job_id"), self.owner(api_key, session))
            if record is None:
                raise gr.Error("There is no job with that id in this session's history.", print_exception=False)
            return {"session": session, "jobs": [self._api_job(record)]}

        return {"generate": generate, "press_button": press_button, "job": job}
