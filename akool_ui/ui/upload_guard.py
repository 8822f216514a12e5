"""Uploads to Gradio, bounded per client (a size cap per request, a rate per rolling minute), and the
test of whether a file a call names was really uploaded (``file_refusal``, used by ``call_guard``).

Why: Gradio's ``/gradio_api/upload`` caps each *file* (``max_file_size``) but not a request (a thousand
files per request) nor a client: twenty 19 MB uploads were stored in 1.9 s, on a local app as well as a
shared one, and every one sits in Gradio's folder for hours. The only thing this app takes uploads for
is a source image, which a person picks a few times a minute. ``UploadGuard`` refuses a declared
``Content-Length`` over the cap with 413 before reading anything, cuts a chunked body off at the cap
(Gradio then deletes what it had written), and answers 429 with when to try again once a client has
made ``UPLOADS_PER_MINUTE`` uploads or sent ``UPLOAD_BYTES_PER_MINUTE`` in the last minute.

A call may name only files Gradio really holds: Gradio checks file objects carrying its ``meta``
marker, but a file input reads ``path`` from any dict, so ``{"path": "/any/file.png"}`` sent to the
source image was read from disk. ``file_refusal`` says why a value's files are not acceptable, if so.

Clients are told apart by ``address_of(scope)`` (the app passes its trusted-address function; default:
the connection's peer). Addresses are kept only as keyed hashes, for a minute, for at most
``MAX_TRACKED_CLIENTS`` clients; requests whose address is unknown (None) share one budget.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import os
import secrets
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Iterator

from gradio import utils as gradio_utils
from starlette.formparsers import MultiPartException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..service import MAX_UPLOAD_BYTES

__all__ = ["UploadGuard", "UploadLedger", "file_refusal", "is_uploaded_file", "peer_address", "MAX_UPLOAD_REQUEST_BYTES", "UPLOADS_PER_MINUTE",
           "UPLOAD_BYTES_PER_MINUTE", "UPLOAD_WINDOW_SECONDS", "MAX_TRACKED_CLIENTS", "UPLOAD_ROUTES"]

log = logging.getLogger(__name__)

# One source image of the largest size we accept plus its multipart wrapping (boundary, headers, a long
# file name): a request over this cannot be an upload we would use.
MAX_UPLOAD_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
# A person picks (or re-picks) a source image a few times a minute; 10 leaves room for retries and
# several tabs, and stops a script storing hundreds a minute.
UPLOADS_PER_MINUTE = 10
# Three maximum-size images a minute; a phone photo is 2-8 MB, so even a quick re-picker stays within it.
UPLOAD_BYTES_PER_MINUTE = 60 * 2**20
UPLOAD_WINDOW_SECONDS = 60.0
# Each tracked client holds at most UPLOADS_PER_MINUTE small entries: 10,000 clients stay within a few MB.
MAX_TRACKED_CLIENTS = 10_000
# Gradio's routes that store request bodies as files (process_recording: one file, same cap).
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")
# Nothing the page sends nests deeper than ~5 levels, and Gradio walks values recursively.
MAX_DEPTH = 32
# IPv6 clients are counted per /64: a home line is given one and can pick any address in it.
_IPV6_PREFIX = 64


def peer_address(scope: Scope) -> str | None:
    """The connection's peer: the default ``address_of`` (the app passes its trusted-address rule)."""
    client = scope.get("client")
    return str(client[0]) if client else None


class UploadLedger:
    """Uploads per client in a rolling window: admits an upload (and its declared bytes) or says when."""

    def __init__(self, *, uploads: int = UPLOADS_PER_MINUTE, total_bytes: int = UPLOAD_BYTES_PER_MINUTE,
                 window: float = UPLOAD_WINDOW_SECONDS, max_clients: int = MAX_TRACKED_CLIENTS,
                 clock: Callable[[], float] = time.monotonic):
        self.uploads, self.total_bytes, self.window, self.max_clients = uploads, total_bytes, window, max_clients
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._clients: OrderedDict[str, deque[list[float]]] = OrderedDict()  # key -> [[time, bytes], ...]

    def key(self, address: str | None) -> str:
        """A keyed hash of the address's bucket (IPv4 address, IPv6 /64), never the address itself."""
        bucket = ""
        if address:
            text = address.strip().strip("[]").split("%", 1)[0][:100]
            try:
                ip = ipaddress.ip_address(text)
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                    ip = ip.ipv4_mapped
                bucket = (str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
                          if isinstance(ip, ipaddress.IPv6Address) else str(ip))
            except ValueError:
                bucket = text
        return hmac.new(self._key, bucket.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:24]

    def admit(self, key: str, declared: int) -> tuple[list[float] | None, float]:
        """Record an upload of ``declared`` bytes (0 when unknown): (its entry, 0), or (None, seconds to
        wait) when it would go over either budget."""
        now = self._clock()
        entries = self._entries(key, now)
        wait = 0.0
        if len(entries) >= self.uploads:
            wait = entries[0][0] + self.window - now
        used = sum(e[1] for e in entries)
        if used + declared > self.total_bytes:
            for when, size in entries:  # the first moment enough of the minute's bytes have aged out
                used -= size
                if used + declared <= self.total_bytes:
                    wait = max(wait, when + self.window - now)
                    break
        if wait > 0:
            return None, wait
        entry = [now, float(declared)]
        entries.append(entry)
        return entry, 0.0

    def add_bytes(self, key: str, entry: list[float], size: int) -> float:
        """Count ``size`` more bytes of an admitted upload; seconds to wait once over the byte budget, else 0."""
        entry[1] += size
        entries = self._clients.get(key)
        used = sum(e[1] for e in entries) if entries else entry[1]
        return self.window if used > self.total_bytes else 0.0

    def _entries(self, key: str, now: float) -> deque[list[float]]:
        entries = self._clients.get(key)
        if entries is None:
            self._forget(now)  # before adding: a new client must not be the one forgotten
            entries = self._clients[key] = deque()
        self._clients.move_to_end(key)
        while entries and entries[0][0] <= now - self.window:
            entries.popleft()
        return entries

    def _forget(self, now: float) -> None:
        """Bound memory: make room for one more client within ``max_clients``, forgetting idle clients
        first, then the least recently seen."""
        if len(self._clients) < self.max_clients:
            return
        for key in [k for k, e in self._clients.items() if not e or e[-1][0] <= now - self.window]:
            del self._clients[key]
        while len(self._clients) >= self.max_clients:
            self._clients.popitem(last=False)

    def __len__(self) -> int:
        return len(self._clients)


class _Cut(MultiPartException):
    """Raised from ``receive`` to stop Gradio's multipart parser: it deletes its files on this type."""


class UploadGuard:
    """ASGI middleware: size cap and per-client rate on Gradio's upload routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, address_of: Callable[[Scope], str | None] | None = None,
                 max_bytes: int = MAX_UPLOAD_REQUEST_BYTES, ledger: UploadLedger | None = None,
                 routes: tuple[str, ...] = UPLOAD_ROUTES):
        self.app, self.max_bytes, self.routes = app, max_bytes, routes
        self.address_of = address_of or peer_address
        self.ledger = ledger or UploadLedger()

    def _guarded(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root):]
        return path.rstrip("/") in self.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._guarded(scope):
            await self.app(scope, receive, send)
            return
        kind = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"").lower()
        if not kind.startswith(b"multipart/form-data") or b"boundary=" not in kind:
            await _answer(scope, receive, send, 400, "Send uploads as multipart/form-data, as a browser does.")
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            log.info("refused an upload of %d bytes (cap %d)", declared, self.max_bytes)
            await _answer(scope, receive, send, 413, _too_big(self.max_bytes))
            return
        try:
            address = self.address_of(scope)
        except Exception:  # noqa: BLE001 - an address function that fails counts the client as unknown
            log.warning("could not tell an upload's client address; counting it as unknown")
            address = None
        key = self.ledger.key(address)
        entry, wait = self.ledger.admit(key, declared or 0)
        if entry is None:
            log.info("refused an upload: the client's upload budget for the minute is spent")
            await _answer(scope, receive, send, 429, _try_later(wait), wait)
            return
        await self._forward(scope, receive, send, key, entry, counted=declared is not None)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, key: str, entry: list[float],
                       *, counted: bool) -> None:
        """Pass the upload to Gradio, counting its bytes; past a bound, stop it and answer instead."""
        cut: tuple[int, str, float] | None = None
        started = False
        total = 0

        async def counting_receive() -> Message:
            nonlocal cut, total
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                total += size
                wait = 0.0 if counted else self.ledger.add_bytes(key, entry, size)
                if total > self.max_bytes:
                    cut = (413, _too_big(self.max_bytes), 0.0)
                elif wait:
                    cut = (429, _try_later(wait), wait)
                if cut is not None:
                    raise _Cut(cut[1])
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut is not None and not started:
                return  # Gradio's own answer to the cut-off body; ours goes out below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if cut is None or started:
                raise
        if cut is not None and not started:
            log.info("cut off an upload body at %d bytes (%d)", total, cut[0])
            await _answer(scope, receive, send, cut[0], cut[1], cut[2])


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _too_big(limit: int) -> str:
    return f"That upload is larger than {limit // 2**20} MB; please choose a smaller image."


def _try_later(wait: float) -> str:
    seconds = max(1, math.ceil(wait))
    return f"Too many uploads from your address in the last minute; please try again in {seconds} seconds."


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, sentence: str, wait: float = 0.0) -> None:
    headers = {"Retry-After": str(max(1, math.ceil(wait)))} if status == 429 else None
    await JSONResponse({"error": sentence}, status_code=status, headers=headers)(scope, receive, send)


# --- files named by a call -------------------------------------------------------------------------


def file_refusal(value: Any, *, file_input: bool) -> str | None:
    """Why the files ``value`` names are not acceptable (a sentence), or None. Each must be one Gradio
    would take and really holds: an http(s) URL (Gradio fetches those, public addresses only), a file in
    its upload folder (an upload, an example, a link it handed out) or a static file. Gradio checks only
    dicts with its ``meta`` marker; a file input (``file_input``) reads any dict's ``path``."""
    if file_input and value is not None and not isinstance(value, (dict, list)):
        return "A file input takes an uploaded file (upload it first), not text."
    try:
        for item in _dicts(value):
            meta = item.get("meta")
            if "meta" in item and "path" in item and not isinstance(meta, dict):
                return "A file in the call is malformed ('meta' must be an object)."
            marked = "path" in item and isinstance(meta, dict) and meta.get("_type") == "gradio.FileData"
            # A pasted image may come as {"path": None, "url": "data:..."}: nothing is read from disk then.
            if (marked or (file_input and item.get("path") is not None)) and not is_uploaded_file(item["path"]):
                return "A file in the call was never uploaded here; upload it first."
    except RecursionError:
        return "A value in the call is nested too deeply."
    return None


def is_uploaded_file(path: Any) -> bool:
    """Whether Gradio would take ``path`` as an input file that exists: a URL, or a file it holds."""
    if not isinstance(path, str) or not path:
        return False
    if path.startswith(("http://", "https://")):  # exactly what Gradio treats as a URL to fetch
        return True
    try:
        real = os.path.realpath(os.path.abspath(path))
        folder = os.path.realpath(gradio_utils.get_upload_folder()).rstrip(os.sep) + os.sep
        return (real.startswith(folder) and os.path.isfile(real)) or bool(gradio_utils.is_static_file(path))
    except (OSError, ValueError):  # NUL bytes and the like
        return False


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside ``value``; RecursionError past MAX_DEPTH levels (Gradio would recurse into them)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RecursionError
        if isinstance(item, dict):
            yield item
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
