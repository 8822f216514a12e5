"""The studio as an agent's tools: ``generate``, ``press``, ``job_status``, ``search_history``,
``download_original``, ``account_credit`` (served over MCP by Gradio: ``ui/agents.py``).

Gradio makes each function a tool: its name, its docstring (the description, and one ``name: text`` line
per parameter), its type hints (the input schema: a ``Literal`` is an enum the MCP server checks before
the call). ``generate`` takes the request table's fields (``akool/fields.py``, the rows with an ``api``
name): its signature is built from the table, so a new field reaches agents with no edit here.

Who calls: their own Akool key as the ``X-Akool-Api-Key`` header or the ``api_key`` parameter (used for
the call only: never stored, logged or returned), else a stranger on the app's key, counted as a page
visitor is (the MCP request's TCP peer, the spending limits), under a session (the ``X-Akool-Session``
header or the ``session`` parameter; a new one is made and returned when neither is given). Results are
JSON text; a refusal is one sentence, as a tool error.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from typing import Any, Callable, Literal, Optional

import gradio as gr

from ...akool import fields as request_fields
from ...akool.validation import BUTTONS
from ...jobs import JobRecord, RecordState
from ...service import credits_of
from .. import views
from ..media_files import media_url_path
from .api import ApiHandlers, _named, root_url
from .common import WORK_LANE, _flag, _key, _text, in_thread, refuse, user_errors

__all__ = ["AgentTools", "ToolError", "KEY_HEADER", "SESSION_HEADER"]

log = logging.getLogger(__name__)

KEY_HEADER = "x-akool-api-key"
SESSION_HEADER = "x-akool-session"
# How many of the caller's newest jobs account_credit adds up (a page of the history each).
CREDIT_PAGES, CREDIT_PAGE_SIZE = 10, 100
_COMMON_DOCS = {
    "session": "your session id from an earlier result (or the X-Akool-Session header); empty: a new one, "
               "unless you use your own Akool key",
    "api_key": "your own Akool API key (better: the X-Akool-Api-Key header); used for this call only, never "
               "stored; empty: this app's key, within its spending limits",
}


class ToolError(gr.Error):
    """A refusal as an MCP tool error: the sentence itself (``gr.Error`` shows its repr, in quotes)."""

    def __str__(self) -> str:
        return str(self.message)


def _doc(description: str, params: dict[str, str]) -> str:
    return description + "\n\nArgs:\n" + "\n".join(f"    {name}: {text}" for name, text in params.items())


def _tool(fn: Callable[..., Any], *, name: str, signature: inspect.Signature, doc: str) -> Callable[..., Any]:
    """``fn`` as Gradio reads a tool: this name, signature, type hints and docstring; errors as sentences."""
    checked = user_errors(fn)

    @functools.wraps(checked)
    async def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return await checked(*args, **kwargs)
        except gr.Error as exc:
            raise ToolError(exc.message, print_exception=False) from None

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = doc
    tool.__signature__ = signature  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    tool.__annotations__["return"] = signature.return_annotation
    del tool.__wrapped__  # type: ignore[attr-defined] # the signature above is the tool's, not fn's
    return tool


def _param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


def _caller_params(*, wait: bool = False) -> list[inspect.Parameter]:
    """The parameters every tool ends with: wait (where it waits), session, api_key, and Gradio's request."""
    params = [_param("wait", bool, True)] if wait else []
    return [*params, _param("session", str, ""), _param("api_key", str, ""),
            _param("request", Optional[gr.Request], None)]


def _field_param(f: request_fields.RequestField) -> tuple[inspect.Parameter, str]:
    """A request field as a tool parameter (named as ``/generate`` names it) and its description."""
    text = f.help
    if f.kind is list:
        annotation, default = str | list[str], ""
    elif f.choices or f.source_choices:
        values = tuple("" if v is None else v for v in f.choices_for(True))
        annotation, default = Literal[values], "" if f.default is None else f.default  # type: ignore[valid-type]
        if "" in values:
            text += " ('' for Auto)"
    else:  # a number's range is in its help ("1-4"); ImageRequest judges it
        annotation, default = f.kind, "" if f.default is None else f.default
    if f.name == "prompt":
        default = inspect.Parameter.empty
    return _param(f.api or f.name, annotation, default), text


class AgentTools:
    """The tool functions, bound to one Studio (through the API handlers' job rendering and waiting)."""

    def __init__(self, api: ApiHandlers):
        self.api = api
        self.access = api.access

    # --- who is calling ------------------------------------------------------------------------------

    def _who(self, api_key: Any, session: Any, request: gr.Request | None) -> tuple[str | None, str, str]:
        """(their key or None, their session, their owner id): parameters first, then the headers."""
        key = _key(api_key) or _key(_header(request, KEY_HEADER))
        session = self.api._session(_text(session, "session").strip() or _header(request, SESSION_HEADER))
        return key, session, self.access.owner(key, session)

    async def _result(self, records: list[JobRecord], session: str, request: gr.Request | None) -> str:
        root = root_url(request)
        jobs = await self.api._jobs(records, root=root, lane=WORK_LANE)
        return json.dumps({"session": session, "jobs": [self._slim(job, root) for job in jobs]})

    def _slim(self, job: dict[str, Any], root: str) -> dict[str, Any]:
        """A job as an agent reads it: each image's preview as a URL (not a Gradio file object)."""
        for image in job["images"]:
            preview = image.pop("preview", None)
            path = media_url_path(self.access.media, preview["path"]) if preview else None
            image["preview_url"] = root + path if path else None
        job["buttons_free"] = [b for b in job["buttons"] if b not in job["used_buttons"]]
        return job

    async def _wait(self, ids: list[str], owner: str) -> list[JobRecord]:
        return await self.api._wait(ids, owner, report=_progress_reporter())

    # --- the tools -----------------------------------------------------------------------------------

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The tools by name (see ``agents.register``)."""
        return {fn.__name__: fn for fn in (self._generate(), self._press(), self._job_status(),
                                            self._search_history(), self._download_original(),
                                            self._account_credit())}

    def _generate(self) -> Callable[..., Any]:
        fields = [_field_param(f) for f in request_fields.FIELDS if f.api is not None]
        signature = inspect.Signature([*(p for p, _ in fields), *_caller_params(wait=True)], return_annotation=str)
        docs = {p.name: text for p, text in fields}
        docs["wait"] = "true (default): return when the images are ready, reporting progress; false: at once"
        doc = _doc(
            "Create 1-4 images with Akool (text-to-image, or image-to-image from source_url); each image is a "
            "job. Returns JSON {session, jobs: [{id, state, buttons_free, images: [{index, preview_url, "
            "original_url}]}]}. Then: press U1-U4 (4K upscale) or V1-V4 (variation) with the press tool, look "
            "at an image with download_original, check a job with job_status.", {**docs, **_COMMON_DOCS})

        async def generate(*args: Any, **kwargs: Any) -> str:
            given = signature.bind(*args, **kwargs)
            given.apply_defaults()
            values, request = dict(given.arguments), given.arguments.get("request")
            key, session, owner = self._who(values.pop("api_key"), values.pop("session"), request)
            wait = _flag(values.pop("wait"), "wait")
            image_request = request_fields.request_from(_named(values), as_sent=True)
            records = await in_thread(
                self.access.studio.submit, image_request, api_key=key, owner=owner,
                client_address=self.access.client_address(request), lane=WORK_LANE,
            )
            ids = [r.id for r in records]
            return await self._result(await self._wait(ids, owner) if wait else list(records), session, request)

        return _tool(generate, name="generate", signature=signature, doc=doc)

    def _press(self) -> Callable[..., Any]:
        signature = inspect.Signature([_param("job_id", str), _param("button", Literal[BUTTONS]),
                                       *_caller_params(wait=True)], return_annotation=str)
        doc = _doc(
            "Press a button of a finished job of yours: U1-U4 makes a 4K upscale of that image, V1-V4 a "
            "variation of it (each a new job that costs credits; a button works once, see buttons_free). "
            "Returns the new job as JSON, like generate.",
            {"job_id": "the finished job's id", "button": "U1-U4 (upscale) or V1-V4 (variation)",
             "wait": "true (default): return when the new image is ready, reporting progress; false: at once",
             **_COMMON_DOCS})

        async def press(job_id: str, button: str, wait: bool = True, session: str = "", api_key: str = "",
                        request: gr.Request | None = None) -> str:
            key, session, owner = self._who(api_key, session, request)
            wait = _flag(wait, "wait")
            child = await in_thread(
                self.access.studio.press, _text(job_id, "job_id").strip(), _text(button, "button"), api_key=key,
                owner=owner, client_address=self.access.client_address(request), lane=WORK_LANE,
            )
            return await self._result(await self._wait([child.id], owner) if wait else [child], session, request)

        return _tool(press, name="press", signature=signature, doc=doc)

    def _job_status(self) -> Callable[..., Any]:
        signature = inspect.Signature([_param("job_id", str), *_caller_params()], return_annotation=str)
        doc = _doc("One of your jobs as it is now: state (queued, processing, succeeded, failed, timed_out ...), "
                   "buttons_free, lineage, error, credits and its images' URLs. Returns JSON, like generate.",
                   {"job_id": "the job's id (from generate, press or search_history)", **_COMMON_DOCS})

        async def job_status(job_id: str, session: str = "", api_key: str = "",
                             request: gr.Request | None = None) -> str:
            _, session, owner = self._who(api_key, session, request)
            record = await in_thread(self.access.studio.get, _text(job_id, "job_id").strip(), owner)
            if record is None:
                raise refuse("There is no job with that id in your history (check the id and the session or key).")
            return await self._result([record], session, request)

        return _tool(job_status, name="job_status", signature=signature, doc=doc)

    def _search_history(self) -> Callable[..., Any]:
        signature = inspect.Signature([_param("query", str, ""), _param("limit", int, 10), _param("cursor", str, ""),
                                       *_caller_params()], return_annotation=str)
        doc = _doc("Your own jobs, newest first, optionally only those whose prompt contains the query. Returns "
                   "JSON {session, jobs: [{id, state, prompt, ...}], next_cursor} (no image URLs: use job_status).",
                   {"query": "words the prompt contains (empty: every job)", "limit": "how many, 1-100",
                    "cursor": "next_cursor from the previous page (empty: the newest)", **_COMMON_DOCS})

        async def search_history(query: str = "", limit: int = 10, cursor: str = "", session: str = "",
                                 api_key: str = "", request: gr.Request | None = None) -> str:
            _, session, owner = self._who(api_key, session, request)
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
                raise refuse("limit must be a whole number from 1 to 100.")
            try:
                page = await in_thread(self.access.studio.history, owner, cursor=_text(cursor, "cursor") or None,
                                       limit=limit, query=_text(query, "query").strip() or None)
            except ValueError:
                raise refuse("That cursor is not one this app gave out.") from None
            return json.dumps({"session": session, "jobs": [views.job_summary(r) for r in page.items],
                               "next_cursor": page.next_cursor})

        return _tool(search_history, name="search_history", signature=signature, doc=doc)

    def _download_original(self) -> Callable[..., Any]:
        signature = inspect.Signature([_param("job_id", str), _param("index", int, 0), *_caller_params()],
                                      return_annotation=dict)
        doc = _doc("The full-size image of one of your jobs, as an image, with its URL.",
                   {"job_id": "the job's id", "index": "the image's index in the job's images, from 0",
                    **_COMMON_DOCS})

        original = self.api.functions()["original"]  # /original's checks and refusals, as they are

        async def download_original(job_id: str, index: int = 0, session: str = "", api_key: str = "",
                                    request: gr.Request | None = None) -> dict:
            key, session, _ = self._who(api_key, session, request)
            return await original(job_id, index, api_key=key or "", session=session)

        return _tool(download_original, name="download_original", signature=signature, doc=doc)

    def _account_credit(self) -> Callable[..., Any]:
        signature = inspect.Signature(_caller_params(), return_annotation=str)
        doc = _doc("Akool credits: the balance left on the account that pays for you (your own key's; this "
                   "app's only for its operator, never for visitors of a shared app), what one job probably "
                   "costs (learned from what Akool charged here), what your jobs here cost (Akool's figure), "
                   "and, on this app's key, what its spending limits leave you.", _COMMON_DOCS)

        async def account_credit(session: str = "", api_key: str = "", request: gr.Request | None = None) -> str:
            key, session, owner = self._who(api_key, session, request)
            spent, estimated, jobs = await in_thread(self._spent, owner)
            studio = self.access.studio
            usage = await in_thread(studio.spending_usage, key, owner, self.access.client_address(request))
            balance = await in_thread(studio.credit_balance, key)
            estimate = studio.credit_estimate(1, request_fields.field("resolution").default)
            return json.dumps({
                "session": session, "paid_by": "your own Akool key" if key else "this app's Akool key",
                "balance": balance, "balance_note": None if balance is not None else (
                    "Not shown: the account that pays for you is this app's." if not studio.shows_balance(key)
                    else "Akool did not say just now; ask again in a moment."),
                "about_per_job": estimate.per_job, "about_per_press": estimate.per_press,
                "credits_spent_here": spent, "estimated": estimated, "jobs_counted": jobs,
                "limits": usage,
            })

        return _tool(account_credit, name="account_credit", signature=signature, doc=doc)

    def _spent(self, owner: str) -> tuple[int, bool, int]:
        """Credits of the owner's newest jobs that Akool made (failed and never-sent ones cost nothing)."""
        total, estimated, count, cursor = 0, False, 0, None
        for _ in range(CREDIT_PAGES):
            page = self.access.studio.history(owner, cursor=cursor, limit=CREDIT_PAGE_SIZE)
            for record in page.items:
                if record.state is RecordState.FAILED or record.is_intent:
                    continue
                total, count = total + credits_of(record), count + 1
                estimated = estimated or record.credits is None
            if not (cursor := page.next_cursor):
                break
        return total, estimated, count


def _header(request: gr.Request | None, name: str) -> str:
    headers = getattr(request, "headers", None) if request is not None else None
    value = headers.get(name) if headers is not None else None
    return value if isinstance(value, str) else ""


def _progress_reporter() -> Callable[[list[JobRecord]], Any] | None:
    """Progress notifications for the MCP call being served (None: not an MCP call, or no progress asked
    for): the jobs' status lines (their elapsed seconds tick, so about one a second) whenever they change."""
    try:
        from mcp.server.lowlevel.server import request_ctx

        ctx = request_ctx.get()
    except (ImportError, LookupError):
        return None
    token = getattr(ctx.meta, "progressToken", None) if ctx.meta is not None else None
    if token is None:
        return None
    sent: list[str] = []

    async def report(records: list[JobRecord]) -> None:
        message = "; ".join(views.status_lines(records))
        if sent and message == sent[-1]:
            return
        sent.append(message)
        try:  # progress must grow with each notification: the count of them
            await ctx.session.send_progress_notification(
                token, float(len(sent)), None, message, related_request_id=str(ctx.request_id)
            )
        except Exception:  # noqa: BLE001 - a client gone away stops hearing progress; the call goes on
            log.debug("could not send an MCP progress notification", exc_info=True)

    return report
