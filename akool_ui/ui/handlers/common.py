"""What every handler shares: errors as one sentence, a worker thread for blocking calls, the checks of raw
values, and the Studio as one visitor sees it (their owner id, their records, links to their files).

Errors reach the page through ``user_errors``: the app's own refusals (``StudioError``) and Akool's
(``AkoolError``) show their ``user_message``; anything else is logged with its traceback and the page gets
a generic sentence.
"""

from __future__ import annotations

import asyncio
import functools
import html
import inspect
import logging
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Sequence

import anyio.to_thread
import gradio as gr

from ...akool.errors import AkoolError
from ...errors import StudioError
from ...jobs import JobRecord
from ...service import is_browser_id
from ..media import MediaLinks

if TYPE_CHECKING:  # pragma: no cover
    from ...service import Studio

log = logging.getLogger(__name__)

__all__ = [
    "STREAM_CONCURRENCY", "API_CONCURRENCY", "QUICK_CONCURRENCY", "TICK_SECONDS", "USER_ERRORS",
    "StudioAccess", "user_errors", "in_thread", "refuse", "request_peer", "QUICK_LANE", "WORK_LANE", "LANE_THREADS",
]

# Events that wait on Akool (create, press, watch). They are async and await the tracker, so a high limit
# costs no threads: 20 people generating at once must all progress (Gradio's default is 1 at a time).
STREAM_CONCURRENCY = 100
# The named API endpoints that may wait for images (/generate, /press_button): no limit at all. Waiting is
# an await on the tracker's subscription (no thread; a place in Gradio's queue, of which the server asks
# for plenty: server.EVENT_SLOTS), and what they do besides waiting runs in the bounded thread lanes below,
# so a hundred scripts waiting at once cost a hundred coroutines.
API_CONCURRENCY = None
# Short disk reads (history pages, selection, reuse): bounded so a burst cannot take every thread.
QUICK_CONCURRENCY = 32
# Blocking work of the handlers runs in two thread lanes of its own (anyio capacity limiters), apart from
# the pool Gradio and Starlette use for sync handlers and file reads: a burst of slow work (a create or a
# press is an HTTP call to Akool; zips, publishing originals) queues in the work lane while quick reads
# (a job, a history page, a selection) always find a free thread in theirs.
QUICK_LANE = "quick"
WORK_LANE = "work"
LANE_THREADS = {QUICK_LANE: 8, WORK_LANE: 8}
# How often a status stream re-renders while nothing changes, to tick the elapsed seconds.
TICK_SECONDS = 1.0

# The two roots whose ``user_message`` is meant for the page: Akool's errors and the app's own refusals.
USER_ERRORS = (AkoolError, StudioError)
_UNEXPECTED = "Something went wrong on our side. Please try again; if it keeps happening, reload the page."


def refuse(sentence: str) -> gr.Error:
    """A refusal written in the handler itself (nothing selected, bad raw value): one sentence, no trace."""
    return gr.Error(sentence, print_exception=False)


def _to_gr_error(exc: BaseException) -> gr.Error:
    message = getattr(exc, "user_message", None) or _UNEXPECTED
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def _log_failure(fn: Callable[..., Any], exc: BaseException) -> None:
    if isinstance(exc, USER_ERRORS):
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


_lanes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, anyio.CapacityLimiter]]" = (
    weakref.WeakKeyDictionary()
)


def _limiter(lane: str) -> anyio.CapacityLimiter:
    """The lane's limiter on the running event loop (each launched app serves from a loop of its own)."""
    loop = asyncio.get_running_loop()
    lanes = _lanes.get(loop)
    if lanes is None:
        lanes = _lanes[loop] = {name: anyio.CapacityLimiter(n) for name, n in LANE_THREADS.items()}
    return lanes[lane]


async def in_thread(fn: Callable[..., Any], *args: Any, lane: str = QUICK_LANE, **kwargs: Any) -> Any:
    """Run a blocking call (HTTP to Akool, SQLite, files) off the event loop that serves every page, in
    ``lane`` (``QUICK_LANE``: short reads; ``WORK_LANE``: HTTP to Akool, zips, bulk file work)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=_limiter(lane))


def request_peer(request: gr.Request | None) -> tuple[str | None, list[str]]:
    """The TCP peer of ``request`` and its X-Forwarded-For values, as the server received them (the app turns
    off uvicorn's own rewriting of the peer, ``server.launch``: whom to trust is ``ClientAddress``'s call)."""
    if request is None:
        return None, []
    client = getattr(request, "client", None)
    peer = str(getattr(client, "host", "") or "") if client is not None else ""
    return peer or None, _forwarded_for(request)


def _forwarded_for(request: gr.Request) -> list[str]:
    """Every ``X-Forwarded-For`` value of the request (headers may repeat)."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return []
    if hasattr(headers, "getlist"):  # Starlette's Headers, while the request is live
        return list(headers.getlist("x-forwarded-for"))
    return [str(v) for k, v in dict(headers).items() if str(k).lower() == "x-forwarded-for"]


def _text(value: Any, name: str) -> str:
    """An API argument that must be text (None counts as empty): checked as sent, never coerced."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise refuse(f"'{name}' must be text.")
    return value


def _flag(value: Any, name: str) -> bool:
    """An API argument that must be true or false (``"false"`` is not)."""
    if not isinstance(value, bool):
        raise refuse(f"'{name}' must be true or false.")
    return value


def _key(api_key: str | None) -> str | None:
    """The visitor's own API key, or None for the app's setup."""
    text = _text(api_key, "api_key").strip()
    return text or None


class StudioAccess:
    """The Studio as one visitor may see it: whose jobs these are, their records, links to their files.

    Every stored image handed to Gradio goes through ``link`` (a per-owner media link, media.py); the
    store's own paths (``abspath``) are for reading only.
    """

    def __init__(self, studio: "Studio", media: MediaLinks):
        self.studio = studio
        self.media = media

    def client_address(self, request: gr.Request | None) -> str | None:
        """The address the visitor behind ``request`` is counted under: the peer, or what the proxies this
        app trusts vouch for (never a header the client wrote itself); None when nothing is known."""
        return self.studio.client_address(*request_peer(request))

    def owner(self, api_key: str | None, browser_id: str | None) -> str:
        return self.studio.owner_for(_key(api_key), browser_id if is_browser_id(browser_id) else None)

    def abspath(self, relative: str) -> Path:
        """The stored file itself: for reading (zips), never handed to Gradio (see ``link``)."""
        return self.studio.image_path(relative)

    def link(self, record: JobRecord, path: Path | None, name: str | None = None) -> str | None:
        """What Gradio may show of ``record``'s file: a link only its owner is ever given (media.py)."""
        if path is None:
            return None
        return self.media.publish(path, owner=record.owner, job_id=record.id, name=name)

    def records(self, job_ids: Sequence[str], owner: str) -> list[JobRecord]:
        """``owner``'s records among ``job_ids``, in order (others' ids and deleted jobs are skipped: ``Studio.get``)."""
        records = []
        for job_id in job_ids:
            record = self.studio.get(job_id, owner)
            if record is not None:
                records.append(record)
        return records

    def original(self, record: JobRecord | None, index: int) -> Path | None:
        """The stored original of ``record``'s image ``index``, if it is still on disk."""
        if record is None:
            return None
        for entry in record.images:
            if entry.index == index and entry.is_stored and entry.original:
                path = self.abspath(entry.original)
                return path if path.is_file() else None
        return None

    @staticmethod
    def selected(view: dict[str, Any], records: Sequence[JobRecord]) -> JobRecord | None:
        """The job selected in ``view`` (the first one when the selection is gone)."""
        by_id = {r.id: r for r in records}
        return by_id.get(view.get("selected") or "") or (records[0] if records else None)

    def view_records(self, view: dict[str, Any] | None, owner: str) -> list[JobRecord]:
        """``owner``'s records among the jobs a results view shows."""
        return self.records((view or {}).get("jobs") or [], owner)
