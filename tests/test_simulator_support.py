"""Helpers shared by the simulator tests (no tests here): a raw HTTP client and tiny servers."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import requests
from PIL import Image

from akool_ui.simulator import SimulatorServer
from akool_ui.simulator.app import PATHS
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, OTHER_API_KEY, OTHER_CLIENT_ID

JOB_DONE_SECONDS = 10.0  # more than a whole job at speed 1 (1.5 s queued + 4 s processing)


def private_server(**kwargs: Any) -> SimulatorServer:
    """A simulator of our own (same accounts as the shared one, speed 20) for tests whose exact counts
    must not see background traffic other tests may have left on the shared simulator."""
    kwargs.setdefault("speed", 20.0)
    server = SimulatorServer(api_key=API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **kwargs)
    server.sim.add_account(api_key=OTHER_API_KEY, client_id=OTHER_CLIENT_ID, client_secret=OTHER_API_KEY)
    return server


class Api:
    """Raw requests to a simulator, with the main account's API key unless told otherwise."""

    def __init__(self, server: Any, api_key: str | None = API_KEY, headers: dict[str, str] | None = None):
        self.server = server
        self.base = server.base_url
        self.session = requests.Session()
        self.headers = dict(headers or {})
        if api_key is not None:
            self.headers.setdefault("x-api-key", api_key)

    def post(self, kind: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, timeout: float = 10) -> requests.Response:
        hdrs = {**self.headers, **(headers or {})}
        if raw is None:
            raw = json.dumps(body if body is not None else {}).encode()
        hdrs.setdefault("Content-Type", "application/json")
        return self.session.post(self.base + PATHS[kind], data=raw, headers=hdrs, timeout=timeout)

    def call(self, kind: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = self.post(kind, body, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def ok(self, kind: str, body: Any = None, **kwargs: Any) -> Any:
        envelope = self.call(kind, body, **kwargs)
        assert envelope["code"] == 1000, envelope
        assert envelope["msg"] == "OK"
        return envelope["data"]

    def code(self, kind: str, body: Any = None, **kwargs: Any) -> int:
        envelope = self.call(kind, body, **kwargs)
        if envelope["code"] != 1000:
            assert envelope["data"] is None and envelope["msg"], envelope
        return envelope["code"]

    def info_raw(self, job_id: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        params = {} if job_id is None else {"image_model_id": job_id}
        return self.session.get(self.base + PATHS["info"], params=params,
                                headers={**self.headers, **(headers or {})}, timeout=10, **kwargs)

    def info(self, job_id: str) -> dict[str, Any]:
        envelope = self.info_raw(job_id).json()
        assert envelope["code"] == 1000, envelope
        return envelope["data"]

    def info_code(self, job_id: Any, headers: dict[str, str] | None = None) -> int:
        return self.info_raw(job_id, headers).json()["code"]

    def v4(self, **body: Any) -> Any:
        body.setdefault("prompt", "a lighthouse at dusk")
        return self.ok("create_v4", body)

    def v3(self, **body: Any) -> dict[str, Any]:
        body.setdefault("prompt", "a lighthouse at dusk")
        return self.ok("create_v3", body)

    def press(self, job_id: str, button: str, **body: Any) -> dict[str, Any]:
        return self.ok("button", {"_id": job_id, "button": button, **body})

    def finished(self, job_id: str) -> dict[str, Any]:
        """Advance the clock until the job is done, and return it."""
        self.server.sim.advance(JOB_DONE_SECONDS)
        for _ in range(200):
            doc = self.info(job_id)
            if doc["image_status"] in (3, 4):
                return doc
            threading.Event().wait(0.02)  # e.g. a source image still being fetched
        raise AssertionError(f"job {job_id} did not finish: {doc}")

    def image(self, url: str) -> Image.Image:
        response = self.session.get(url, timeout=10)
        assert response.status_code == 200, response.status_code
        assert response.headers["Content-Type"] == "image/jpeg"
        img = Image.open(io.BytesIO(response.content))
        img.load()
        assert img.format == "JPEG"
        return img


class TinyServer:
    """A threaded http.server whose every request is answered by ``handle(method, path, body)``
    returning (status, content_type, body bytes)."""

    def __init__(self, handle: Callable[[str, str, bytes], tuple[int, str, bytes]]):
        self.requests: list[tuple[str, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, body))
                status, ctype, payload = handle(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "TinyServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def mean_abs_diff(a: Image.Image, b: Image.Image, size: tuple[int, int] = (64, 64)) -> float:
    """Mean absolute per-channel difference (0..255) of two images scaled to ``size``."""
    pa = a.convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0).tobytes()
    pb = b.convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0).tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb)) / len(pa)
