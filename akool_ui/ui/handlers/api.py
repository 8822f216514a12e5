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
from typing import Any, Callable

import gradio as gr

from ...akool.models import ImageRequest
from ...jobs import JobRecord
from ...service.owners import is_browser_id, new_browser_id
from .. import views
from ..media_files import media_url_path
from .common import (
    QUICK_LANE, TICK_SECONDS, WORK_LANE, StudioAccess, _flag, _key, _text, client_address, in_thread, refuse, user_errors,
)

__all__ = ["ApiHandlers", "API_WAIT_LIMIT"]

log = logging.getLogger(__name__)

# A gradio_client caller that asked to wait gives up after this long (the tracker's own deadline is
# usually shorter and ends the job as "timed out" first).
API_WAIT_LIMIT = 900.0


def _file(link: str | None, name: str | None) -> dict[str, Any] | None:
    """A FileData dict: Gradio serves the link and gradio_client downloads it."""
    return {"path": link, "orig_name": name, "meta": {"_type": "gradio.FileData"}} if link else None


def root_url(request: gr.Request | None) -> str:
    """This app's address as the caller reached it (proxies' X-Forwarded-Host/Proto honoured, as Gradio
    does for its own file URLs); "" when unknown, which leaves ``original_url`` relative."""
    raw = getattr(request, "request", None) if request is not None else None
    if raw is None:
        return ""
    try:
        from gradio import route_utils

        return route_utils.get_root_url(
            raw, route_utils.get_api_call_path(request=raw), os.environ.get("GRADIO_ROOT_PATH") or None
        )
    except Exception:  # noqa: BLE001 - an odd request shape: the relative URL still works on this host
        log.debug("could not tell this app's address from the request", exc_info=True)
        return ""


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

    async def _wait(self, job_ids: list[str], owner: str) -> list[JobRecord]:
        records = await in_thread(self.access.records, job_ids, owner)
        watching = [r.id for r in records if r.is_in_flight]
        if watching:
            # subscribing reads each job's record (its first "Current" event): a thread, not the loop
            subscription = await in_thread(self.access.studio.subscribe, watching)
            deadline = time.monotonic() + API_WAIT_LIMIT
            try:
                while not subscription.done and time.monotonic() < deadline:
                    await subscription.aget(timeout=TICK_SECONDS)
            finally:
                subscription.close()
        return await in_thread(self.access.records, job_ids, owner)

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The typed functions behind the named endpoints (see layout.py)."""
        access, studio = self.access, self.access.studio

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
            model_name: str = "",
            request: gr.Request | None = None,
        ) -> dict:
            """Create 1-4 images (text-to-image, or image-to-image from source_url) and, unless wait is false,
            wait for them. Returns {"session", "jobs": [...]}; pass session back to /job and /press_button.
            Each image has a preview file and an original_url (or use /original for the file).
            api_key is optional (your own Akool key; never stored). model_name: empty (Auto) or one of
            Akool's v4 models. On this app's own Akool setup, its spending limits apply."""
            session = self._session(session)
            owner = access.owner(api_key, session)
            wait = _flag(wait, "wait")
            image_request = ImageRequest(
                prompt=_text(prompt, "prompt"), negative_prompt=_text(negative_prompt, "negative_prompt"),
                scale=_text(scale, "scale"), resolution=_text(resolution, "resolution"),
                batch_quantity=batch, source_image_url=_text(source_url, "source_url").strip() or None, similar=similar,
                model_name=_text(model_name, "model_name").strip() or None,
            )
            records = await in_thread(
                studio.submit, image_request, api_key=_key(api_key), owner=owner, client_address=client_address(request),
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
                studio.press, job_id, button, api_key=_key(api_key), owner=owner, client_address=client_address(request),
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
        async def history(api_key: str = "", session: str = "", cursor: str = "", limit: int = 20) -> dict:
            """Your jobs, newest first (no files: use /job for one job's images). Includes requests whose
            outcome is unknown (state "unknown": Akool may have made them). Pass next_cursor back for more."""
            session = self._session(session)
            owner = access.owner(api_key, session)
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
                raise refuse("limit must be a whole number from 1 to 100.")
            try:
                page = await in_thread(studio.history, owner, cursor=_text(cursor, "cursor") or None, limit=limit)
            except ValueError:
                raise refuse("That cursor is not one this app gave out.") from None
            return {"session": session, "jobs": [views.job_summary(r) for r in page.items],
                    "next_cursor": page.next_cursor}

        return {"generate": generate, "press_button": press_button, "job": job, "original": original,
                "check_again": check_again, "history": history}
