"""HTTP face of the simulator: Akool's six endpoints (five of image generation, and the account's credit), result files, and ``/_sim`` control routes.

Routes are thin: they read the raw request, call the Simulator and wrap the answer in Akool's
envelope ``{"code": 1000, "msg": "OK", "data": ...}``. Failures are HTTP 200 with
``{"code": N, "msg": "...", "data": null}`` (``auth_http_status`` can turn 1101/1102 into 401/403).

``FaultMiddleware`` sits outside everything: it classifies each request into a kind (see faults.py),
counts it, and applies at most one armed transport fault:

* ``http_status``: the request is NOT processed; a bare ``<status>`` with a text/html body.
* ``delay``: processed, then the complete answer is held back for ``seconds``.
* ``malformed_json``: processed; HTTP 200 whose body is the first half of the real one.
* ``drop_connection``: processed; status line and headers (with the real Content-Length) are sent,
  then the connection is closed without any body byte.
* ``truncate_body``: like drop_connection, but half of the body is sent first.

Control routes (JSON in, JSON out; 400 on bad arguments), for a simulator in another process:

    POST /_sim/advance {"seconds": s}           POST /_sim/faults/<name> {kwargs}  (names: faults.FAULTS)
    POST /_sim/reset_faults                     GET  /_sim/faults
    GET  /_sim/stats   POST /_sim/reset_stats   GET|POST /_sim/options {kwargs}
    POST /_sim/accounts {api_key, client_id, client_secret, credit}
    POST /_sim/credit {api_key, credit}         GET  /_sim/credit?api_key=K
    POST /_sim/expire_tokens                    GET  /_sim/jobs/<id>     GET /_sim/state
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from .codes import OK, SimError
from .faults import FAULTS
from .results import NOT_FOUND
from .state import Simulator

__all__ = ["create_app", "request_kind", "FaultMiddleware", "PATHS"]

TOKEN_PATH = "/api/open/v3/getToken"
V3_CREATE_PATH = "/api/open/v3/content/image/createbyprompt"
V4_CREATE_PATH = "/api/open/v4/content/image/createBySourcePrompt"
BUTTON_PATH = "/api/open/v3/content/image/createbybutton"
INFO_PATH = "/api/open/v3/content/image/infobymodelid"
# The account's credit; documented under face swap, yet account-wide (akool-api.md §9, docs/credits.md).
QUOTA_PATH = "/api/open/v3/faceswap/quota/info"
PATHS = {"token": TOKEN_PATH, "create_v3": V3_CREATE_PATH, "create_v4": V4_CREATE_PATH,
         "button": BUTTON_PATH, "info": INFO_PATH, "quota": QUOTA_PATH}
_KIND_BY_ROUTE = {
    ("POST", TOKEN_PATH): "token",
    ("POST", V3_CREATE_PATH): "create_v3",
    ("POST", V4_CREATE_PATH): "create_v4",
    ("POST", BUTTON_PATH): "button",
    ("GET", INFO_PATH): "info",
    ("GET", QUOTA_PATH): "quota",
}
FILE_NAME = re.compile(r"[0-9]{10,16}-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}-[0-9]{4}\.jpeg")
_CACHE_CONTROL = "public, max-age=604800"  # what a CDN would say about an immutable object
_HTML_ERROR = "<html><head><title>{0} {1}</title></head><body><center><h1>{0} {1}</h1></center>" \
              "<hr><center>simulated gateway</center></body></html>"
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 429: "Too Many Requests"}

log = logging.getLogger(__name__)


def request_kind(method: str, path: str) -> str | None:
    """The fault/stats kind of a request, or None for anything that is not an Akool request."""
    kind = _KIND_BY_ROUTE.get((method, path))
    if kind is None and method in ("GET", "HEAD") and FILE_NAME.fullmatch(path[1:]):
        kind = "file"
    return kind


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status_code=status, media_type="application/json")


class _DroppedConnection(Exception):
    """Raised on purpose so uvicorn closes the connection in the middle of an answer."""


class _HideDroppedConnection(logging.Filter):
    """Keep uvicorn from logging our deliberate connection drops as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _DroppedConnection))


_DROP_FILTER = _HideDroppedConnection()


class FaultMiddleware:
    """Counts Akool requests and applies armed transport faults (see the module docstring)."""

    def __init__(self, app: Callable[..., Awaitable[None]], sim: Simulator):
        self.app = app
        self.sim = sim

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = request_kind(scope["method"], scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        job_id = None
        if kind == "info":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            job_id = (query.get("image_model_id") or [""])[0].strip().lower() or None
        self.sim.count_request(kind, job_id)
        fault = self.sim.take_transport_fault(kind)
        if fault is None:
            await self.app(scope, receive, send)
            return
        log.debug("injecting %s into a %s request", fault.name, kind)
        if fault.name == "http_status":
            status = int(fault.params["status"])
            body = _HTML_ERROR.format(status, _REASONS.get(status, "Error")).encode()
            await _send_whole(send, status, [(b"content-type", b"text/html")], body)
            return
        status, headers, body = await _capture(self.app, scope, receive)
        if fault.name == "delay":
            await asyncio.sleep(float(fault.params["seconds"]))
            await _send_whole(send, status, headers, body)
        elif fault.name == "malformed_json":
            await _send_whole(send, status, headers, body[: len(body) // 2])
        else:  # drop_connection, truncate_body: promise the whole body, deliver less, hang up
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if fault.name == "truncate_body":
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise _DroppedConnection(fault.name)


async def _capture(app: Callable, scope: dict, receive: Callable) -> tuple[int, list, bytes]:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return int(start.get("status", 500)), list(start.get("headers", [])), b"".join(chunks)


async def _send_whole(send: Callable, status: int, headers: list, body: bytes) -> None:
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(sim: Simulator, *, control: bool = True) -> FaultMiddleware:
    """The ASGI app serving ``sim``; ``control=False`` leaves out the ``/_sim`` routes."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _DROP_FILTER not in uvicorn_log.filters:
        uvicorn_log.addFilter(_DROP_FILTER)
    api = FastAPI(title="Akool simulator", docs_url=None, redoc_url=None, openapi_url=None)

    def failure(exc: SimError) -> Response:
        status = sim.auth_http_status if exc.code in (1101, 1102) else 200
        return _json({"code": exc.code, "msg": exc.msg, "data": None}, status)

    async def authed(request: Request, fn: Callable[..., Any], *args: Any) -> Response:
        try:
            account = sim.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
            data = await run_in_threadpool(fn, account, *args)
        except SimError as exc:
            return failure(exc)
        return _json({"code": OK, "msg": "OK", "data": data})

    @api.post(TOKEN_PATH)
    async def get_token(request: Request) -> Response:
        raw = await request.body()
        try:
            token = await run_in_threadpool(sim.get_token, raw)
        except SimError as exc:
            return failure(exc)
        return _json({"code": OK, "token": token})  # token is top-level here, not in data

    @api.post(V3_CREATE_PATH)
    async def create_by_prompt(request: Request) -> Response:
        return await authed(request, sim.create_v3, await request.body())

    @api.post(V4_CREATE_PATH)
    async def create_by_source_prompt(request: Request) -> Response:
        return await authed(request, sim.create_v4, await request.body())

    @api.post(BUTTON_PATH)
    async def create_by_button(request: Request) -> Response:
        return await authed(request, sim.press_button, await request.body())

    @api.get(INFO_PATH)
    async def info_by_model_id(request: Request) -> Response:
        return await authed(request, sim.job_info, request.query_params.get("image_model_id"))

    @api.get(QUOTA_PATH)
    async def quota_info(request: Request) -> Response:
        return await authed(request, sim.credit_info)

    if control:
        api.include_router(_control_router(sim))

    @api.api_route("/{name}", methods=["GET", "HEAD"])
    async def result_file(name: str) -> Response:
        answer = NOT_FOUND if not FILE_NAME.fullmatch(name) else await run_in_threadpool(sim.read_file, name)
        headers = {"Cache-Control": _CACHE_CONTROL} if answer.status == 200 else {}
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=headers)

    return FaultMiddleware(api, sim)


def _control_router(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix="/_sim")
    faults: dict[str, Callable[..., Any]] = {name: getattr(sim, name) for name in FAULTS}

    async def kwargs_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    async def run(request: Request, fn: Callable[..., Any]) -> Response:
        try:
            result = fn(**await kwargs_of(request))
        except (TypeError, ValueError) as exc:
            return _json({"detail": str(exc)}, 400)
        return _json(result)

    def state() -> dict[str, Any]:
        return {"now": sim.now(), "offset": sim.clock.offset, "options": sim.options(),
                "faults": sim.active_faults(), "base_url": sim.base_url}

    @router.post("/advance")
    async def advance(request: Request) -> Response:
        return await run(request, lambda seconds=0: {"now": sim.advance(seconds)})

    @router.post("/faults/{name}")
    async def arm_fault(name: str, request: Request) -> Response:
        if name not in faults:
            return _json({"detail": f"unknown fault {name[:40]!r}; known: {', '.join(FAULTS)}"}, 404)
        return await run(request, lambda **kw: {"result": faults[name](**kw), "faults": sim.active_faults()})

    @router.get("/faults")
    async def list_faults() -> Response:
        return _json({"faults": sim.active_faults()})

    @router.post("/reset_faults")
    async def reset_faults() -> Response:
        sim.reset_faults()
        return _json(state())

    @router.post("/expire_tokens")
    async def expire_tokens() -> Response:
        return _json({"expired": sim.expire_tokens()})

    @router.get("/stats")
    async def stats() -> Response:
        return _json(sim.stats())

    @router.post("/reset_stats")
    async def reset_stats() -> Response:
        sim.reset_stats()
        return _json(sim.stats())

    @router.get("/options")
    async def get_options() -> Response:
        return _json(sim.options())

    @router.post("/options")
    async def set_options(request: Request) -> Response:
        return await run(request, sim.set_options)

    @router.post("/accounts")
    async def add_account(request: Request) -> Response:
        return await run(request, lambda api_key=None, client_id=None, client_secret=None, credit=None: {
            "uid": sim.add_account(api_key=api_key, client_id=client_id, client_secret=client_secret,
                                   credit=credit).uid})

    @router.post("/credit")
    async def set_credit(request: Request) -> Response:
        return await run(request, lambda api_key="", credit=None: {"credit": sim.set_credit(api_key, credit)})

    @router.get("/credit")
    async def get_credit(request: Request) -> Response:
        try:
            return _json({"credit": sim.credit(request.query_params.get("api_key", ""))})
        except ValueError as exc:
            return _json({"detail": str(exc)}, 400)

    @router.get("/jobs/{job_id}")
    async def get_job(job_id: str) -> Response:
        doc = sim.job(job_id)
        return _json(doc) if doc is not None else _json({"detail": "no such job"}, 404)

    @router.get("/state")
    async def get_state() -> Response:
        return _json(state())

    return router
