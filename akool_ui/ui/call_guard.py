"""Gradio's call routes, guarded: a malformed call gets a 4xx and one sentence before Gradio sees it.

Why: Gradio 6 trusts the shape of its calls. An unknown ``fn_index`` or api_name, a body that is not a
JSON object, an example index out of range, a slider sent text, a browser-only event called on the
server or a forged file ended in a 500 or an error event with a null message (and a traceback in our
log); extra ``data`` values were silently accepted. ``CallGuard`` reads the (capped) JSON body of
``queue/join``, ``call/<name>``, ``call/v2/<name>``, ``run/<name>``, ``cancel``, ``reset`` and
``component_server``, checks it against the Blocks' dependencies (which fn, how many inputs, which take
files, examples, sliders, choices) and either answers ``{"error": sentence}`` or hands Gradio the same
bytes. It checks shapes, not meaning: handlers still judge values. It also makes Gradio's hidden errors
sentences: ``error: null`` in the queue and call streams, and ``run/<name>``'s 500 for a ``gr.Error``
(a refusal: 400). What it cannot tell (Gradio internals moved) it lets through rather than break pages.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from gradio import components as gc
from gradio import utils as gradio_utils
from gradio.helpers import EventData
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..service import MAX_UPLOAD_BYTES
from .upload_guard import file_refusal

__all__ = ["CallGuard", "Refusal", "MAX_CALL_BYTES", "UNEXPECTED"]

log = logging.getLogger(__name__)

# The largest legitimate call: an image pasted as a base64 data: URL (the source box takes up to
# MAX_UPLOAD_BYTES that way) plus the form's text. What the page really sends is a few KB.
MAX_CALL_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 2**20
# Bodies above this are parsed in a worker thread, so a big one never stalls every page's event loop.
_THREAD_PARSE_BYTES = 256 * 1024
# Gradio's page uses ~11 base-36 characters, gradio_client a UUID: 128 leaves room for any client.
_SESSION_HASH = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_API = "/gradio_api"
_NAMED = re.compile(_API + r"/(call/v2|call|run|api)/([^/]+)/?")
_STREAM = re.compile(_API + r"/call/(?:v2/)?[^/]+/([^/]+)/?")
UNEXPECTED = "Something went wrong on the server while handling this request; please try again."
_UNEXPECTED_JSON = json.dumps(UNEXPECTED).encode()
_NULL_ERRORS = (  # exactly how Gradio writes a hidden error: orjson in queue/data, json.dumps in call/
    (b'"output":{"error":null}', b'"output":{"error":' + _UNEXPECTED_JSON + b"}"),
    (b'event: error\ndata: {"error": null}', b'event: error\ndata: {"error": ' + _UNEXPECTED_JSON + b"}"),
)
_PREDICT_FIELDS: dict[str, type] = {  # PredictBody's typed fields ("data" and "event_data" are checked apart)
    "session_hash": str, "event_id": str, "fn_index": int, "trigger_id": int, "batched": bool,
    "simple_format": bool, "oauth_token": str,
}
_BODIES: dict[str, dict[str, type]] = {  # the other routes' bodies: every field required
    "cancel": {"session_hash": str, "fn_index": int, "event_id": str}, "reset": {"event_id": str},
    "component_server": {"session_hash": str, "component_id": int, "fn_name": str},
}
_KIND_WORDS = {str: "text", int: "a whole number", bool: "true or false"}
_NO_ENDPOINT = "There is no endpoint with that name; see the API page for the list."


class Refusal(Exception):
    """A call answered by the guard: an HTTP status and one plain sentence for the caller."""

    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status, self.sentence = status, sentence


class CallGuard:
    """ASGI middleware in front of Gradio's call routes. ``blocks``: the ``gr.Blocks``, a callable giving
    it (or None while it does not exist yet), or None to ask the mounted Gradio app (``get_blocks``)."""

    def __init__(self, app: ASGIApp, blocks: Any = None, max_body: int = MAX_CALL_BYTES):
        self.app, self._blocks_source, self.max_body = app, blocks, max_body
        self._hints: dict[int, type[EventData] | None] = {}
        self._api_info: dict[str, Any] | None = None
        self._server_fns: bool | None = None

    def _blocks(self, scope: Scope) -> Any:
        source = self._blocks_source
        try:
            if source is not None and not hasattr(source, "fns") and callable(source):
                source = source()  # (a Blocks is itself callable: it is tested for ``fns`` first)
            if source is None and callable(getattr(scope.get("app"), "get_blocks", None)):
                source = scope["app"].get_blocks()
        except Exception:  # noqa: BLE001 - not launched yet: nothing to check against
            source = None
        return source if hasattr(source, "fns") else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope) if scope["type"] == "http" else None
        blocks = self._blocks(scope) if route is not None else None
        if route is None or blocks is None:
            await self.app(scope, receive, send)
            return
        kind, name = route
        posted = scope["method"] == "POST"
        try:
            body = await _read_body(scope, receive, self.max_body) if posted else b""
            try:
                await (self._check_post(blocks, kind, name, scope, body) if posted
                       else self._check_stream(blocks, kind, name, scope))
            except Refusal:
                raise
            except Exception as exc:  # noqa: BLE001 - the guard must never be what breaks a real call
                log.warning("could not check a Gradio %s call (%s); letting it through", kind, type(exc).__name__)
        except Refusal as refusal:
            log.info("refused a Gradio %s call with %d: %s", kind, refusal.status, refusal.sentence)  # no data
            await JSONResponse({"error": refusal.sentence}, status_code=refusal.status)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive) if posted else receive, _sentence_sender(send, kind))

    # --- routes ------------------------------------------------------------------------------------

    async def _check_stream(self, blocks: Any, kind: str, name: str | None, scope: Scope) -> None:
        """``queue/data``, ``call/<name>/<event_id>``: 404 where Gradio would start a stream and break it."""
        queue = blocks._queue
        if kind == "queue_data":
            session = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash") or [""])[0]
            if not session:
                raise Refusal(400, "The request needs a session_hash.")
        else:  # how Gradio's route finds the session of an event id
            event = queue.event_ids_to_events.get(name)
            session = event.session_hash if event is not None else next(
                (s for s, ids in queue.pending_event_ids_session.items() if name in ids), name)
        if session not in queue.pending_messages_per_session:
            raise Refusal(404, "Nothing is waiting under that id; start the call again.")

    async def _check_post(self, blocks: Any, kind: str, name: str | None, scope: Scope, body: bytes) -> None:
        if kind == "component_server":
            if not self._has_server_fns(blocks):
                raise Refusal(404, "This app has no component functions to call.")
            if _content_type(scope).startswith("multipart/"):
                return  # files for a component function: Gradio parses and bounds those itself
        payload = await _parse_json(scope, body)
        if kind in _BODIES:
            _check_fields(payload, _BODIES[kind], required=True)
        if kind == "component_server":
            block = blocks.blocks.get(payload["component_id"])
            fn = getattr(block, payload["fn_name"], None) if block is not None else None
            if not getattr(fn, "_is_server_fn", False) or "data" not in payload:
                raise Refusal(404, "That component has no such function.")
        elif kind == "v2":
            self._check_named_call(blocks, name or "", payload)
        elif kind not in _BODIES:
            self._check_predict(blocks, kind, name, payload)

    def _check_predict(self, blocks: Any, kind: str, name: str | None, payload: Any) -> None:
        """``queue/join``, ``call/<name>`` and ``run/<name>``: Gradio's PredictBody, for a real fn."""
        _check_fields(payload, _PREDICT_FIELDS)
        data, session = payload.get("data"), payload.get("session_hash")
        if not isinstance(data, list):
            raise Refusal(400, "The request needs 'data': a list with one value per input.")
        if kind == "join" and session is None:
            raise Refusal(400, "The request needs a session_hash.")
        fn_index = payload.get("fn_index") if kind in ("join", "run") else None  # /call/<name> ignores it
        if kind == "join" and fn_index is None:
            raise Refusal(400, "The request needs the fn_index of the event to run.")
        holder = getattr(blocks, "state_holder", None)  # the session's own copies of blocks and events
        state = holder.session_data.get(session) if holder is not None and session is not None else None
        config = getattr(state, "blocks_config", None)  # (gr.render puts its events there)
        fn = _fn_by_index(blocks, config, fn_index) if fn_index is not None else _fn_by_name(blocks, name or "")
        if kind == "run" and getattr(fn, "queue", False) and not getattr(blocks, "api_open", True):
            raise Refusal(404, "This endpoint runs only through the queue; call it with gradio_client.")
        if payload.get("batched") and not getattr(fn, "batch", False):
            raise Refusal(400, "'batched' is only for events that run in batches; leave it out.")
        self._check_data(fn, data, state, simple=kind == "call", batched=bool(payload.get("batched")))
        if getattr(fn, "collects_event_data", False):
            self._check_event_data(fn, payload.get("event_data"))

    def _check_named_call(self, blocks: Any, name: str, payload: Any) -> None:
        """``call/v2/<name>``: named arguments of a public endpoint, as its API page lists them."""
        if not isinstance(payload, dict):
            raise Refusal(400, "The request body must be a JSON object of named arguments.")
        if self._api_info is None:
            self._api_info = blocks.get_api_info()
        endpoint = self._api_info.get("named_endpoints", {}).get("/" + name)
        if endpoint is None:
            raise Refusal(404, _NO_ENDPOINT)
        params = endpoint["parameters"]
        unknown = sorted(set(payload) - {p["parameter_name"] for p in params} - {"oauth_token", "session_hash"})
        if unknown:
            raise Refusal(400, f"'{unknown[0][:40]}' is not an argument of /{name}; see the API page for its arguments.")
        missing = [p["parameter_name"] for p in params if not p.get("parameter_has_default")
                   and p["parameter_name"] not in payload]
        if missing:
            raise Refusal(400, f"/{name} needs its '{missing[0]}' argument.")
        for value in payload.values():
            _check_files(value, file_input=False)

    # --- one dependency's inputs --------------------------------------------------------------------

    def _check_data(self, fn: Any, data: list[Any], state: Any, *, simple: bool, batched: bool) -> None:
        if getattr(fn, "fn", None) is None:
            raise Refusal(400, "That event runs in the browser only; there is nothing to run on the server.")
        inputs = list(fn.inputs)
        shown = [b for b in inputs if not getattr(b, "skip_api", False)]
        counts = sorted({len(inputs), len(shown)} if simple else {len(inputs)})  # /call may leave out state
        if len(data) not in counts:
            want = " or ".join(map(str, counts))
            raise Refusal(400, f"This endpoint takes {want} input value{'' if want == '1' else 's'} "
                               f"(one per input) and the call sent {len(data)}.")
        for block, value in zip(inputs if len(data) == len(inputs) else shown, data):
            if getattr(block, "stateful", False):
                continue  # Gradio takes a state's value from the session, never from the call
            if state is not None and block._id in state:
                block = state[block._id]  # the session's copy: its choices or range may have been updated
            _check_files(value, file_input=getattr(block, "data_model", None) is not None)
            if not batched:
                _check_value(block, value)

    def _check_event_data(self, fn: Any, event_data: Any) -> None:
        """The event's data (which item was selected) as its handler's ``gr.SelectData`` & co. read it."""
        if id(fn) not in self._hints:
            hints = gradio_utils.get_type_hints(fn.fn).values()
            self._hints[id(fn)] = next((h for h in hints if inspect.isclass(h) and issubclass(h, EventData)), None)
        try:
            if (hint := self._hints[id(fn)]) is not None:
                hint(None, event_data)
        except Exception:  # noqa: BLE001 - any failure here is the caller's malformed event data
            raise Refusal(400, "This event needs the event data the page sends with it "
                               "(for example which item was selected).") from None

    def _has_server_fns(self, blocks: Any) -> bool:
        if self._server_fns is None:
            self._server_fns = any(
                getattr(attr, "_is_server_fn", False)
                for block in blocks.blocks.values() for cls in type(block).__mro__ for attr in vars(cls).values()
            )
        return self._server_fns


# --- pieces ----------------------------------------------------------------------------------------


def _route(scope: Scope) -> tuple[str, str | None] | None:
    """Which guarded route a request is for: (kind, api name or event id), or None."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root):]
    method, plain = scope.get("method"), path.rstrip("/")
    if method == "GET":
        stream = _STREAM.fullmatch(path)
        return ("queue_data", None) if plain == _API + "/queue/data" else ("call_stream", stream.group(1)) if stream else None
    if method != "POST":
        return None
    for kind in ("queue/join", "cancel", "reset", "component_server"):
        if plain == f"{_API}/{kind}":
            return kind.replace("queue/", ""), None
    named = _NAMED.fullmatch(path)
    return ({"call/v2": "v2", "call": "call"}.get(named.group(1), "run"), named.group(2)) if named else None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused (413) as soon as it is known to exceed ``limit``."""
    too_big = Refusal(413, f"The request is larger than {limit // 2**20} MB; send less data.")
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_big
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal(400, "The request ended before its body arrived.")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_big
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands Gradio the body already read, then the real channel (disconnects)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _content_type(scope: Scope) -> str:
    return next((v.decode("latin-1").lower() for k, v in scope.get("headers", []) if k == b"content-type"), "")


async def _parse_json(scope: Scope, body: bytes) -> Any:
    """The body as JSON, read as FastAPI reads it (NaN included), or a 400 sentence."""
    kind = _content_type(scope).split(";", 1)[0].strip()
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise Refusal(400, "Send the call as JSON (Content-Type: application/json).")
    try:
        if len(body) > _THREAD_PARSE_BYTES:
            return await anyio.to_thread.run_sync(json.loads, body)
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Refusal(400, "The request body is not valid JSON.") from None


def _check_fields(payload: Any, fields: dict[str, type], *, required: bool = False) -> None:
    if not isinstance(payload, dict):
        raise Refusal(400, "The request body must be a JSON object.")
    for name, kind in fields.items():
        value = payload.get(name)
        if (value is not None or required) and (not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)):
            raise Refusal(400, f"'{name}' must be {_KIND_WORDS[kind]}.")
    session = payload.get("session_hash")
    if isinstance(session, str) and not _SESSION_HASH.fullmatch(session):
        raise Refusal(400, "session_hash must be 1-128 letters, digits or -_.: characters.")


def _fn_by_index(blocks: Any, config: Any, fn_index: int) -> Any:
    fn = blocks.fns[fn_index] if fn_index in blocks.fns else getattr(config, "fns", {}).get(fn_index)
    if fn is None:
        raise Refusal(404, f"There is no event with fn_index {fn_index}; reload the page.")
    return fn


def _fn_by_name(blocks: Any, name: str) -> Any:
    """An endpoint by api_name, as Gradio finds it; the page's own (private) events are not callable so."""
    for fn in blocks.fns.values():
        if fn.api_name == name and getattr(fn, "api_visibility", "public") != "private":
            return fn
    raise Refusal(404, _NO_ENDPOINT)


def _check_files(value: Any, *, file_input: bool) -> None:
    if (sentence := file_refusal(value, file_input=file_input)) is not None:
        raise Refusal(400, sentence)


def _check_value(block: Any, value: Any) -> None:
    """The component types whose preprocess fails on a wrong value with a null error or a traceback."""
    label = f"'{block.label}'" if getattr(block, "label", None) else "A value"
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(block, gc.Dataset):
        count = len(getattr(block, "raw_samples", None) or getattr(block, "samples", None) or [])
        if not (number and isinstance(value, int) and 0 <= value < count):
            raise Refusal(400, f"Choose one of the examples: an index from 0 to {count - 1}.")
    elif isinstance(block, gc.Slider):
        low, high = block.minimum, block.maximum
        if not number or (low is not None and value < low) or (high is not None and value > high):
            raise Refusal(400, f"{label} must be a number from {low} to {high}.")
    elif isinstance(block, gc.Number) and value is not None and not number:
        raise Refusal(400, f"{label} must be a number.")
    elif isinstance(block, (gc.Dropdown, gc.Radio)) and value is not None:
        if isinstance(block, gc.Dropdown) and block.allow_custom_value:
            return
        allowed = [choice for _, choice in block.choices]
        many = isinstance(block, gc.Dropdown) and block.multiselect
        if (many and not isinstance(value, list)) or any(v not in allowed for v in (value if many else [value])):
            raise Refusal(400, f"{label} must be one of: {', '.join(map(str, allowed))[:300]}.")


def _sentence_sender(send: Send, kind: str) -> Send:
    """``send`` with Gradio's hidden errors made sentences: in its streams (byte for byte, as Gradio
    writes them) and in ``run/<name>``'s JSON 500 (a ``gr.Error`` there is a refusal: 400)."""
    if kind in ("queue_data", "call_stream"):
        async def streamed(message: Message) -> None:
            if message["type"] == "http.response.body" and b"null" in message.get("body", b""):
                body = message["body"]
                for old, new in _NULL_ERRORS:
                    body = body.replace(old, new)
                message = {**message, "body": body}
            await send(message)
        return streamed
    if kind != "run":
        return send
    held: list[Message] = []

    async def run(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 500:
            held.append(message)
        elif not held or message["type"] != "http.response.body":
            await send(message)
        else:
            held.append(message)
            if message.get("more_body", False):
                return
            try:
                error = json.loads(b"".join(m.get("body", b"") for m in held[1:])).get("error")
            except (ValueError, AttributeError):
                error = None
            status, sentence = (400, error) if isinstance(error, str) and error.strip() else (500, UNEXPECTED)
            answer = JSONResponse({"error": sentence}, status_code=status)
            await send({"type": "http.response.start", "status": status, "headers": answer.raw_headers})
            await send({"type": "http.response.body", "body": answer.body})

    return run
