"""The web app: Gradio's FastAPI app plus our routes, with the cache directory kept private.

Routes added next to Gradio's (through ``launch(app_kwargs={"routes": ...})``, so they exist before the
first request and Gradio's own routes are untouched):

* ``GET /uploads/<token>.<ext>``  image-to-image sources, for Akool (or the demo simulator) to fetch;
  unguessable 256-bit tokens, nothing else in the cache is reachable this way.
* ``POST /webhooks/akool``       Akool's callbacks; verified and applied by the Studio.
* ``GET /healthz``               liveness and mode, for scripts and tests.
* ``GET /media/<dir>/<name>``    a media link (API callers' ``original_url``), with immutable cache headers
  (``media_files.py``; the same answer as Gradio's file route gives for media links through
  ``MediaFastPath``).
* ``GET /share/<id>``            a share link's read-only page and its images (``share_page.py``).

The cache directory (records, images, uploads, keys) is private. Gradio's ``/gradio_api/file=`` route
serves anything under ``allowed_paths`` to whoever can spell its path, and job ids are guessable, so
the cache is never an allowed path: it is a ``blocked_path`` instead (Gradio refuses it after resolving
``..`` and symlinks, and will not copy out of it either). Pages and API callers only ever receive links
made for their owner in Gradio's own folder (``media.MediaLinks``: keyed-hash directories, removed when
the job is deleted). ``PrivateFilesGuard`` is a second, independent wall in front of Gradio's route: it
resolves a requested path the way Gradio does (cwd-relative, percent-decoded, ``..``, symlinks) and
answers 404 for anything under the cache.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from gradio.utils import get_upload_folder

import anyio.to_thread
import gradio as gr
from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..akool.errors import AkoolError, ReplayedWebhook
from ..service import INTENT_PARAM, UPLOAD_ROUTE, WEBHOOK_ROUTE
from ..settings import Settings
from .assets import ASSETS_DIR, CSS_PATH
from . import agents
from .call_guard import CallGuard
from .layout import DELETE_CACHE, build_ui
from .media import MediaLinks
from .media_files import MEDIA_ROUTE, MediaFastPath, media_response, resolve_media
from .share_page import share_routes
from .upload_guard import MAX_UPLOAD_REQUEST_BYTES, UploadGuard

if TYPE_CHECKING:  # pragma: no cover
    from ..service import Studio

log = logging.getLogger(__name__)

__all__ = ["WEBHOOK_ROUTE", "RunningApp", "PrivateFilesGuard", "browser_secret", "check_private_cache",
           "create_routes", "launch", "install_sigterm_handler"]

HEALTH_ROUTE = "/healthz"
# Akool's webhook body is four short fields; anything much larger is not from Akool.
MAX_WEBHOOK_BYTES = 64 * 1024
_FILE_MARKERS = ("/file=", "/file/")
# Gradio fetches these remotely (through its public-address-only client) instead of reading a file.
_REMOTE_PREFIXES = ("http://", "https://")
# How many times a path is percent-decoded when looking for a spelling of the cache (the server decodes
# once; more catches proxies and clients that decode again).
_DECODE_ROUNDS = 3


def browser_secret(studio: "Studio") -> str:
    """The key ``gr.BrowserState`` encrypts localStorage with: stable across restarts (so a browser keeps
    its id and history), derived from the app's private owner key so the key itself never leaves."""
    return studio.derived_key("browser-state").hex()[:32]


class PrivateFilesGuard:
    """ASGI middleware: 404 for any ``/gradio_api/file=...`` request that names a file under ``roots``."""

    def __init__(self, app: ASGIApp, roots: list[Path]):
        self.app = app
        self.roots = [Path(os.path.realpath(r)) for r in roots]

    def _is_private(self, path: str) -> bool:
        return any(self._under_root(target) for target in _file_targets(path))

    def _under_root(self, target: str) -> bool:
        """Whether Gradio would read ``target`` from under a root, by any of the ways it might resolve it."""
        if target.startswith(_REMOTE_PREFIXES):  # exactly what Gradio treats as a URL (gradio_client.utils)
            return False
        spellings = {target, "/" + target.lstrip("/")}  # as given (cwd-relative too), and rooted
        try:
            candidates = {Path(os.path.realpath(os.path.abspath(s))) for s in spellings}
        except (OSError, ValueError):  # NUL bytes and the like: nothing legitimate looks like this
            return True
        return any(c == root or root in c.parents for c in candidates for root in self.roots)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_private(scope.get("path", "")):
            await Response(status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _file_targets(path: str) -> set[str]:
    """Every file path a request path may name after the file-route marker, once and repeatedly decoded."""
    targets: set[str] = set()
    for marker in _FILE_MARKERS:
        idx = path.find(marker)
        if idx < 0:
            continue
        target = path[idx + len(marker):]
        for _ in range(_DECODE_ROUNDS + 1):
            targets.add(target)
            target = unquote(target)
    return targets


def check_private_cache(cache_dir: Path, gradio_cache: str | os.PathLike[str]) -> None:
    """Refuse to start when Gradio's served folder and the private cache overlap (one inside the other)."""
    cache, served = Path(os.path.realpath(cache_dir)), Path(os.path.realpath(gradio_cache))
    if cache == served or cache in served.parents or served in cache.parents:
        raise ValueError(
            f"AKOOL_CACHE_DIR ({cache}) and Gradio's file folder (GRADIO_TEMP_DIR, {served}) must not contain "
            "each other: Gradio serves its folder to every visitor. Choose separate folders."
        )


def create_routes(studio: "Studio", media: MediaLinks | None = None) -> list[APIRoute]:
    """Our HTTP routes (uploads, webhook, health, media links, share pages), mounted beside Gradio's."""

    def upload(name: str) -> Response:
        found = studio.upload_named(name)
        if found is None:
            return Response(status_code=404)
        return FileResponse(
            found.path,
            media_type=found.media_type,
            headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
            content_disposition_type="inline",
        )

    async def read_capped_body(request: Request) -> bytes | None:
        """The request body, or None as soon as it is known to exceed MAX_WEBHOOK_BYTES: a declared
        length is refused before reading anything, and a chunked body is cut off at the cap, so an
        oversize body never sits in memory."""
        try:
            declared = int(request.headers.get("content-length", ""))
        except ValueError:
            declared = None  # chunked (the server itself refuses a malformed length)
        if declared is not None and declared > MAX_WEBHOOK_BYTES:
            return None
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_WEBHOOK_BYTES:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def is_webhook_shape(payload: object) -> bool:
        """A JSON object whose four Akool fields are strings or numbers (JSON true/false are not)."""
        if not isinstance(payload, dict):
            return False
        values = [payload.get(name) for name in ("signature", "dataEncrypt", "timestamp", "nonce")]
        return all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values)

    async def webhook(request: Request) -> Response:
        body = await read_capped_body(request)
        if body is None:
            log.warning("refused a webhook body over %d bytes", MAX_WEBHOOK_BYTES)
            return JSONResponse({"ok": False}, status_code=413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # deep nesting raises RecursionError well under the cap
            return JSONResponse({"ok": False}, status_code=400)
        if not is_webhook_shape(payload):
            return JSONResponse({"ok": False}, status_code=400)
        try:
            token = request.query_params.get(INTENT_PARAM) or None
            accepted = await anyio.to_thread.run_sync(lambda: studio.on_webhook(payload, intent_token=token))
        except ReplayedWebhook:
            # Verified, and applied when it first came. Akool retries anything but 200, and an exact
            # copy is most likely its retry of a delivery whose 200 got lost: answer 200 so it stops
            # (a 400 would only bring more copies), with ok false because nothing was applied again.
            # A captured copy replayed by someone else gets the same answer and changes nothing.
            log.info("ignored a repeated webhook delivery")
            return JSONResponse({"ok": False, "duplicate": True}, status_code=200)
        except AkoolError as exc:  # WebhookError: bad signature, stale, undecryptable
            log.warning("refused a webhook: %s", type(exc).__name__)
            accepted = False
        # Akool retries anything but 200; a callback we cannot verify is not worth a retry.
        return JSONResponse({"ok": bool(accepted)}, status_code=200 if accepted else 400)

    def health() -> dict[str, Any]:
        return {"status": "ok", "mode": studio.mode}

    async def media_file(link_dir: str, name: str, request: Request) -> Response:
        # async: one stat on the loop, the body streamed by Starlette's own worker-thread reads
        path = resolve_media(media, link_dir, name) if media is not None else None
        return media_response(path, request.headers) if path is not None else Response(status_code=404)

    return [
        APIRoute(UPLOAD_ROUTE + "/{name}", upload, methods=["GET", "HEAD"], include_in_schema=False),
        APIRoute(WEBHOOK_ROUTE, webhook, methods=["POST"], include_in_schema=False),
        APIRoute(HEALTH_ROUTE, health, methods=["GET"], include_in_schema=False),
        APIRoute(MEDIA_ROUTE + "/{link_dir}/{name}", media_file, methods=["GET", "HEAD"], include_in_schema=False),
        *share_routes(studio),
    ]


@dataclass
class RunningApp:
    """A launched app: its Studio, Blocks and where it listens; ``close`` takes down what was built."""

    studio: "Studio"
    demo: gr.Blocks
    local_url: str
    share_url: str | None = None
    built: Any = None
    """``bootstrap.Built`` (the studio and the demo simulator), closed after the web server."""
    mcp_url: str | None = None
    """Where MCP clients connect (streamable HTTP), or None when the MCP server is off."""

    def close(self) -> None:
        try:
            self.demo.close()
        finally:
            (self.built or self.studio).close()

    def block(self) -> None:
        """Serve until interrupted (Ctrl-C or SIGTERM), then shut down cleanly."""
        try:
            self.demo.block_thread()
        finally:
            self.close()


# Gradio's queue runs at most ``max_threads`` events at once, and an event keeps its place while it waits:
# an API call waiting for its images holds one for the whole job. With Gradio's default of 40, forty waiting
# scripts left no place for a quick /job or a click on the page (they queued behind whole jobs). Our event
# handlers are async and do their blocking work in bounded lanes of their own (handlers/common.py), so a
# place costs a coroutine, not a thread.
EVENT_SLOTS = 1000
_static_roots: set[Path] = set()


def _trusted_address(studio: "Studio", scope: Scope) -> str | None:
    """The client address a raw request is counted under (as the handlers count it: ``Studio.client_address``)."""
    client = scope.get("client")
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
    return studio.client_address(str(client[0]) if client else None, forwarded)


def _keep_the_peer() -> None:
    """Stop uvicorn from replacing the TCP peer with X-Forwarded-For's client: by default it does that for
    any request from loopback, so a caller on this machine (or behind a tunnel) could be anyone it liked.
    Whom to believe is decided in one place, ``visitors.ClientAddress``, from AKOOL_TRUSTED_PROXIES. Read
    by uvicorn when ``launch`` makes its server."""
    previous = os.environ.get("FORWARDED_ALLOW_IPS")
    if previous:
        log.warning("FORWARDED_ALLOW_IPS is ignored: set AKOOL_TRUSTED_PROXIES to the proxies in front of the app")
    os.environ["FORWARDED_ALLOW_IPS"] = ""


def _self_url(host: str | None, port: int) -> str:
    """How this process reaches itself (the demo simulator fetches uploads from here)."""
    if not host or host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def launch(
    settings: Settings,
    *,
    built: Any,
    host: str | None = None,
    port: int | None = None,
    share: bool = False,
    quiet: bool = False,
) -> RunningApp:
    """Serve the web app for an already built studio (``bootstrap.launch_app`` builds one and calls this).

    Returns at once; call ``.block()`` to serve until stopped. ``host``/``port`` default to
    GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, as in ``gr.Blocks.launch``.
    """
    studio: "Studio" = built.studio
    try:
        # The data folder and, when it lives apart (off a network filesystem), the SQLite index folder.
        private = [Path(folder) for folder in studio.private_folders()]
        for folder in private:
            check_private_cache(folder, get_upload_folder())
        media = MediaLinks.for_studio(studio)
        media.prune(DELETE_CACHE[1])  # links a crashed earlier process left behind
        # Results handed to API callers are media links: as static paths Gradio takes them as they are,
        # skipping the dozen path resolutions per file it spends checking and "moving" a file it already
        # holds (~2 ms of the event loop per image: a hundred finishing jobs stalled quick calls). Who may
        # fetch a link does not change: its folder name is the owner's secret either way (media.py).
        if media.root not in _static_roots:  # Gradio keeps one process-wide list and never drops a repeat
            gr.set_static_paths([media.root])
            _static_roots.add(media.root)
        # Gradio re-summarises its last 10,000 events with pandas after every event (5-20 ms of CPU each,
        # holding the GIL) for its /monitoring page, which this app turns off below (it would show anyone
        # every endpoint's traffic): never summarise. Read when build_ui makes the queue.
        os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**31))
        _keep_the_peer()
        mcp = settings.mcp and agents.available()
        if settings.mcp and not mcp:
            log.warning("AKOOL_MCP is on but the mcp package is not installed: no MCP server (pip install -r requirements.txt)")
        demo = build_ui(studio, browser_secret=browser_secret(studio), media=media, agent_tools=mcp)
        _, local_url, share_url = demo.launch(
            mcp_server=mcp,  # the agent tools only (agents.expose), at /gradio_api/mcp/
            server_name=host,
            server_port=port,
            share=share,
            prevent_thread_lock=True,
            quiet=quiet,
            show_error=False,  # our handlers raise gr.Error sentences; anything else stays in the log
            # Only public assets (placeholders, examples). Stored images reach pages as per-owner links in
            # Gradio's own folder (media.py); the cache is blocked outright, however a path is spelt.
            allowed_paths=[str(ASSETS_DIR)],
            blocked_paths=[str(folder) for folder in private],
            app_kwargs={
                "routes": create_routes(studio, media),
                # The guard first (outermost): nothing under the cache is ever answered, by either.
                "middleware": [Middleware(PrivateFilesGuard, roots=private),
                               Middleware(UploadGuard, address_of=lambda scope: _trusted_address(studio, scope)),
                               Middleware(CallGuard, blocks=demo), Middleware(MediaFastPath, media=media)],
            },
            # No run history: it would keep every event's inputs (the API key among them) in the browser.
            run_history=False,
            # A backstop just above UploadGuard's request cap, so the guard's 413 and sentence always come
            # first (at Gradio's own per-file cap of 20 MB the two raced on a streamed body); a file over
            # 20 MB is refused with a sentence where a source upload is stored (UploadStore).
            max_file_size=MAX_UPLOAD_REQUEST_BYTES,
            footer_links=["api", "gradio"],
            theme=gr.themes.Soft(primary_hue="violet", secondary_hue="slate"),
            css_paths=[CSS_PATH],
            ssr_mode=False,
            max_threads=EVENT_SLOTS,
            enable_monitoring=False,
        )
        # max_threads also gave Gradio a thread limiter of that size (components' pre/postprocessing, sync
        # handlers): back to its default, anyio's shared pool of 40, so threads stay bounded however many
        # events run. (Set after launch: Gradio makes its limiter in the start-up that launch waits for.)
        demo.limiter = None
        mcp = mcp and agents.expose(demo)
    except BaseException:
        built.close()
        raise
    studio.set_local_url(_self_url(host or os.environ.get("GRADIO_SERVER_NAME"), demo.server_port))
    log.info("Akool Image Studio (%s mode) at %s", studio.mode, local_url)
    return RunningApp(studio=studio, demo=demo, local_url=local_url, share_url=share_url, built=built,
                      mcp_url=agents.mcp_url(share_url or local_url) if mcp else None)


def _interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: a second must not interrupt the shutdown
    raise KeyboardInterrupt


def install_sigterm_handler() -> None:
    """Make SIGTERM (docker stop, a test harness) shut down like Ctrl-C, so the store closes cleanly."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
