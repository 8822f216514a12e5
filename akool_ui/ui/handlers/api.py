"""The named endpoints for gradio_client (``/generate``, ``/press_button``, ``/job``, ``/original``,
``/check_again``, ``/history``): typed functions, no components, documented on the API page.

Values are judged as sent (``_text``, ``_flag``, ``ImageRequest``'s own checks): ``"false"`` is not
false, 2.5 is not a batch size, and each refusal is one sentence.

What a caller downloads is its choice: gradio_client downloads every FileData in a result, so a job's
images carry only their preview as one (small WebP files); each original comes as ``original_url`` (fetch
it when and if you want it; served with immutable cache headers, ``media_files.py``), or as a file from
``/original``. The existing endpoints keep their parameters, so raw HTTP callers that send every value
still match. Calls that wait hold no thread and no worker
slot while they wait (``API_CONCURRENCY`` is unlimited): they await the tracker, and their blocking
steps run in the handlers' bounded thread lanes (``common.in_thread``).
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import urlsplit
from typing import Any, Awaitable, Callable

import gradio as gr

from ...akool import fields as request_fields
from ...jobs import JobRecord
from ...service import is_browser_id, new_browser_id
from .. import views
from ..media_files import media_url_path
from .boards import history_filter
from .common import (
    QUICK_LANE, TICK_SECONDS, WORK_LANE, StudioAccess, _flag, _key, _text, in_thread, refuse, user_errors,
)

__all__ = ["ApiHandlers", "API_WAIT_LIMIT"]

log = logging.getLogger(__name__)

# A gradio_client caller that asked to wait gives up after this long (the tracker's own deadline is
# usually shorter and ends the job as "timed out" first).
API_WAIT_LIMIT = 900.0
_MCP_ROUTE = "/gradio_api/mcp"  # Gradio's MCP server (ui/agents.py)


def _file(link: str | None, name: str | None) -> dict[str, Any] | None:
    """A FileData dict: Gradio serves the link and gradio_client downloads it."""
    return {"path": link, "orig_name": name, "meta": {"_type": "gradio.FileData"}} if link else None


def root_url(request: gr.Request | None) -> str:
    """This app's address as the caller reached it, through the API or MCP (proxies' X-Forwarded-Host/Proto
    honoured, as Gradio does for its own file URLs); "" when unknown, which leaves ``original_url`` relative."""
    if request is None:
        return ""
    # Gradio hands an MCP tool call a copy of the request (url and headers, no live request): use that
    raw = getattr(request, "request", None) or request
    try:
        from gradio import route_utils

        path = urlsplit(str(raw.url)).path.rstrip("/")
        mcp = path.rfind(_MCP_ROUTE)  # an agent's tool call (agent_tools.py), served inside the MCP request
        route = path[mcp:] if mcp >= 0 else route_utils.get_api_call_path(request=raw)
        return route_utils.get_root_url(raw, route, os.environ.get("GRADIO_ROOT_PATH") or None)
    except Exception:  # noqa: BLE001 - an odd request shape: the relative URL still works on this host
        log.debug("could not tell this app's address from the request", exc_info=True)
        return ""


_DEFAULT = request_fields.defaults()


def _named(given: dict[str, Any]) -> dict[str, Any]:
    """/generate's parameters (named as the API has always named them) as request fields; text is judged
    as sent (a number is not a prompt), an empty optional text is the field's default."""
    named = {}
    for f in request_fields.FIELDS:
        if f.api is None or f.api not in given:
            continue
        value = given[f.api]
        if f.kind is list:  # one item may come as itself
            if not isinstance(value, (str, list)) and value is not None:
                raise refuse(f"'{f.api}' must be text (a URL) or a list of URLs.")
            if not isinstance(value, list):
                value = [value.strip()] if value and value.strip() else []
        elif f.kind is str:
            value = _text(value, f.api)
            value = value if f.name == "prompt" else (value.strip() or None)
        named[f.name] = value
    return named


def _index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse("'index' must be a whole number (the image's index in the job, from 0).")
    return value


class ApiHandlers:
    """The functions behind the named endpoints, bound to one Studio."""

    def __init__(self, access: StudioAccess):
        self.access = access

    def _session(self, session: str) -> str:
        session = _text(session, "session").strip()
        if session and not is_browser_id(session):
            raise refuse(
                "The session must be 16-64 characters of letters, digits, '-' or '_' (or empty for a new one)."
            )
        return session or new_browser_id()

    def _job(self, record: JobRecord, *, root: str = "") -> dict[str, Any]:
        """A record as JSON: its images' previews as files, their originals as URLs."""
        data = views.job_summary(record)
        images = []
        for entry in record.images:
            item: dict[str, Any] = {"index": entry.index, "state": entry.state.value, "width": entry.width, "height": entry.height}
            preview = self.access.abspath(entry.preview) if entry.preview else None
            name = f"{record.id}-{entry.index}-preview{preview.suffix}" if preview is not None else None
            item["preview"] = _file(self.access.link(record, preview, name), name)
            original = self.access.abspath(entry.original) if entry.original else None
            name = f"{record.id}-{entry.index}{original.suffix}" if original is not None else None
            link = self.access.link(record, original, name)
            url_path = media_url_path(self.access.media, link) if link else None
            item["original_url"] = root + url_path if url_path else None
            images.append(item)
        data["images"] = images
        return data

    async def _jobs(self, records: list[JobRecord], *, root: str, lane: str = QUICK_LANE) -> list[dict[str, Any]]:
        # Publishing links is file work (stat, hard link): a thread, not the event loop. The results of
        # calls that waited arrive in bursts (a hundred jobs finishing together): those go to the work
        # lane, so a quick /job never queues behind them.
        return await in_thread(lambda: [self._job(r, root=root) for r in records], lane=lane)

    async def _wait(
        self, job_ids: list[str], owner: str, report: Callable[[list[JobRecord]], Awaitable[None]] | None = None
    ) -> list[JobRecord]:
        """``owner``'s jobs once none is in flight (or API_WAIT_LIMIT passed); ``report`` hears where they
        are after each event and tick (an agent's progress, ``agent_tools``)."""
        records = await in_thread(self.access.records, job_ids, owner)
        watching = [r.id for r in records if r.is_in_flight]
        if watching:
            # subscribing reads each job's record (its first "Current" event): a thread, not the loop
            subscription = await in_thread(self.access.studio.subscribe, watching)
            deadline = time.monotonic() + API_WAIT_LIMIT
            try:
                while not subscription.done and time.monotonic() < deadline:
                    await subscription.aget(timeout=TICK_SECONDS)
                    if report is not None:
                        await report(list(subscription.records.values()))
            finally:
                subscription.close()
        return await in_thread(self.access.records, job_ids, owner)

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The typed functions behind the named endpoints (see layout.py)."""
        access, studio = self.access, self.access.studio

        @user_errors
        async def generate(
            prompt: str,
            negative_prompt: str = _DEFAULT["negative_prompt"],
            scale: str = _DEFAULT["scale"],
            resolution: str = _DEFAULT["resolution"],
            batch: int = _DEFAULT["batch_quantity"],
            source_url: str | list[str] = "",
            similar: float = _DEFAULT["similar"],
            api_key: str = "",
            session: str = "",
            wait: bool = True,
            model_name: str = "",
            request: gr.Request | None = None,
        ) -> dict:
            """Create 1-4 images (text-to-image, or image-to-image from source_url) and, unless wait is false,
            wait for them. Returns {"session", "jobs": [...]}; pass session back to /job and /press_button.
            Each image has a preview file and an original_url (or use /original for the file).
            api_key is optional (your own Akool key; never stored). model_name: empty (Auto) or one of
            Akool's v4 models. source_url: one image URL, or a list of them (Akool's source_images; it uses
            the first). scale "Original" keeps the source's ratio. On this app's own Akool setup, its
            spending limits apply."""
            session = self._session(session)
            owner = access.owner(api_key, session)
            wait = _flag(wait, "wait")
            given = dict(prompt=prompt, negative_prompt=negative_prompt, scale=scale, resolution=resolution,
                         batch=batch, source_url=source_url, similar=similar, model_name=model_name)
            image_request = request_fields.request_from(_named(given), as_sent=True)
            records = await in_thread(
                studio.submit, image_request, api_key=_key(api_key), owner=owner, client_address=access.client_address(request),
                lane=WORK_LANE,
            )
            ids = [r.id for r in records]
            records = await self._wait(ids, owner) if wait else list(records)
            jobs = await self._jobs(records, root=root_url(request), lane=WORK_LANE)
            return {"session": session, "jobs": jobs}

        @user_errors
        async def press_button(
            job_id: str, button: str, api_key: str = "", session: str = "", wait: bool = True,
            request: gr.Request | None = None,
        ) -> dict:
            """Press U1-U4 (4K upscale) or V1-V4 (variation) on a finished job of yours; returns the new job
            (its preview files and original_url)."""
            session = self._session(session)
            owner = access.owner(api_key, session)
            wait = _flag(wait, "wait")
            job_id, button = _text(job_id, "job_id"), _text(button, "button")
            child = await in_thread(
                studio.press, job_id, button, api_key=_key(api_key), owner=owner, client_address=access.client_address(request),
                lane=WORK_LANE,
            )
            records = await self._wait([child.id], owner) if wait else [child]
            jobs = await self._jobs(records, root=root_url(request), lane=WORK_LANE)
            return {"session": session, "jobs": jobs}

        @user_errors
        async def job(job_id: str, api_key: str = "", session: str = "", request: gr.Request | None = None) -> dict:
            """One of your jobs as it is now: state, buttons, lineage and its images (preview files and
            original_url)."""
            session = self._session(session)
            record = await in_thread(studio.get, _text(job_id, "job_id"), access.owner(api_key, session))
            if record is None:
                raise refuse("There is no job with that id in this session's history.")
            return {"session": session, "jobs": await self._jobs([record], root=root_url(request))}

        @user_errors
        async def original(job_id: str, index: int = 0, api_key: str = "", session: str = "") -> dict:
            """The full-size file of one image of your job (index as in the job's "images", from 0)."""
            session = self._session(session)
            index = _index(index)
            record = await in_thread(studio.get, _text(job_id, "job_id"), access.owner(api_key, session))
            if record is None:
                raise refuse("There is no job with that id in this session's history.")
            path = await in_thread(access.original, record, index)
            if path is None:
                raise refuse("That image has no stored original (it is not ready, failed, or was removed to save space).")
            name = f"{record.id}-{index}{path.suffix}"
            link = await in_thread(access.link, record, path, name)
            if link is None:
                raise refuse("That image has no stored original (it is not ready, failed, or was removed to save space).")
            return _file(link, name)

        @user_errors
        async def check_again(
            job_id: str, api_key: str = "", session: str = "", wait: bool = True,
            request: gr.Request | None = None,
        ) -> dict:
            """Look again at a job of yours that timed out, was stopped, or whose downloads gave up: poll
            Akool now (a fresh deadline) and fetch what it still holds; unless wait is false, wait for it."""
            session = self._session(session)
            owner = access.owner(api_key, session)
            wait = _flag(wait, "wait")
            record = await in_thread(
                studio.check_again, _text(job_id, "job_id"), api_key=_key(api_key), owner=owner, lane=WORK_LANE
            )
            records = await self._wait([record.id], owner) if wait else [record]
            jobs = await self._jobs(records, root=root_url(request), lane=WORK_LANE)
            return {"session": session, "jobs": jobs}

        @user_errors
        async def history(
            api_key: str = "", session: str = "", cursor: str = "", limit: int = 20, query: str = "",
            negative_prompt: str = "", model: str = "", scale: str = "", resolution: str = "",
            date_from: str = "", date_to: str = "", view: str = "all",
        ) -> dict:
            """Your jobs, newest first (no files: use /job for one job's images). Includes requests whose
            outcome is unknown (state "unknown": Akool may have made them). Pass next_cursor back for more.
            Narrow it with query (in the prompt), negative_prompt (in it), model ("Auto" for Akool's choice),
            scale, resolution, date_from / date_to (YYYY-MM-DD, UTC, both days included) and view ("all",
            "favourites" or a board id). A narrow search may return a short page with a next_cursor."""
            session = self._session(session)
            owner = access.owner(api_key, session)
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
                raise refuse("limit must be a whole number from 1 to 100.")
            filters = history_filter(
                negative_prompt=_text(negative_prompt, "negative_prompt"), model=_text(model, "model"),
                scale=_text(scale, "scale"), resolution=_text(resolution, "resolution"),
                date_from=_text(date_from, "date_from"), date_to=_text(date_to, "date_to"),
            )
            try:
                page = await in_thread(studio.history, owner, cursor=_text(cursor, "cursor") or None, limit=limit,
                                       query=_text(query, "query").strip() or None, filters=filters,
                                       view=_text(view, "view") or None)
            except ValueError:
                raise refuse("That cursor is not one this app gave out.") from None
            return {"session": session, "jobs": [views.job_summary(r) for r in page.items],
                    "next_cursor": page.next_cursor}

        return {"generate": generate, "press_button": press_button, "job": job, "original": original,
                "check_again": check_again, "history": history}
