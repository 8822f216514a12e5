"""Malformed calls to Gradio's own routes get a 4xx and one sentence (call_guard), uploads are bounded per
client (upload_guard), and real page-style and gradio_client calls still work: all against a really
running app over real HTTP, nothing mocked."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from PIL import Image

from akool_ui.ui.call_guard import UNEXPECTED
from akool_ui.ui.upload_guard import UPLOAD_BYTES_PER_MINUTE, UPLOADS_PER_MINUTE, UploadLedger
from tests.app_helpers import running_demo_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

pytestmark = pytest.mark.slow

FILE_META = {"meta": {"_type": "gradio.FileData"}}
BROWSER_ID = "abcdefghijklmnopqrstuv12"  # the shape service.owners.is_browser_id accepts
SESSION = "testsession01"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("gradio-calls"), AKOOL_SHARED="1") as running:
        yield running


@pytest.fixture(scope="module")
def config(app) -> dict[str, Any]:
    return requests.get(_base(app) + "/config", timeout=10).json()


def _base(app) -> str:
    return app.local_url.rstrip("/")


def _creates(app) -> int:
    return app.built.demo_server.sim.stats()["creates"]


def _fn(config: dict[str, Any], api_name: str) -> int:
    return next(d["id"] for d in config["dependencies"] if d["api_name"] == api_name)


def _browser_only_fn(config: dict[str, Any]) -> int:
    return next(d["id"] for d in config["dependencies"] if not d["backend_fn"])


def _form(config: dict[str, Any], **values: Any) -> list[Any]:
    """ui_generate's data as the page sends it: each input's value by elem_id, else its default."""
    comps = {c["id"]: c for c in config["components"]}
    dep = next(d for d in config["dependencies"] if d["api_name"] == "ui_generate")
    data = []
    for cid in dep["inputs"]:
        comp = comps[cid]
        key = (comp["props"].get("elem_id") or comp["type"]).replace("-", "_")
        default = "" if comp["type"] == "textbox" else comp["props"].get("value")
        data.append(values.get(key, BROWSER_ID if comp["type"] == "browserstate" else default))
    return data


GEN_OK = ["A kite", "", "1:1", "1080p", 1, "", 0.5, "", "", False, ""]  # /generate, positionally
JOIN = "/gradio_api/queue/join"


class Calls:
    """Builds the malformed calls from the app's real config (fn indices, inputs, Gradio's folder)."""

    def __init__(self, config: dict[str, Any], upload_dir: str):
        self.config, self.upload_dir = config, upload_dir

    def fn(self, api_name: str) -> int:
        return _fn(self.config, api_name)

    def join(self, api_name: str, data: Any, **extra: Any) -> dict[str, Any]:
        return {"json": {"data": data, "fn_index": self.fn(api_name), "session_hash": SESSION, **extra}}

    def source(self, value: Any) -> dict[str, Any]:
        return self.join("ui_generate", _form(self.config, prompt="A kite", source_image=value))


def _raw(text: str) -> dict[str, Any]:
    return {"data": text, "headers": {"Content-Type": "application/json"}}


# label -> (method, path, requests kwargs, status): each call Gradio answered with a 500, a null error
# event, a broken stream or an unchecked success before the guard.
MALFORMED: dict[str, Any] = {
    "a unknown fn_index": lambda c: ("POST", JOIN, {"json": {"data": [], "fn_index": 9999, "session_hash": SESSION}}, 404),
    "a negative fn_index": lambda c: ("POST", JOIN, {"json": {"data": [], "fn_index": -1, "session_hash": SESSION}}, 404),
    "a fn_index as text": lambda c: ("POST", JOIN, {"json": {"data": [], "fn_index": "x", "session_hash": SESSION}}, 400),
    "b too few data": lambda c: ("POST", JOIN, c.join("generate", ["A kite"]), 400),
    "b too few data for a page event": lambda c: ("POST", JOIN, c.join("ui_generate", ["A kite"]), 400),
    "c too many data": lambda c: ("POST", JOIN, c.join("generate", GEN_OK + ["extra"]), 400),
    "d /call with too few arguments": lambda c: ("POST", "/gradio_api/call/generate", {"json": {"data": ["A kite"]}}, 400),
    "d /call with none": lambda c: ("POST", "/gradio_api/call/job", {"json": {"data": []}}, 400),
    "d /call with too many": lambda c: ("POST", "/gradio_api/call/generate", {"json": {"data": GEN_OK + [1]}}, 400),
    "d a stream for an unknown event": lambda c: ("GET", "/gradio_api/call/generate/nosuchevent", {}, 404),
    "e data an object": lambda c: ("POST", JOIN, c.join("generate", {"prompt": "A kite"}), 400),
    "e data a string": lambda c: ("POST", "/gradio_api/call/generate", {"json": {"data": "A kite"}}, 400),
    "f body not JSON": lambda c: ("POST", JOIN, _raw("{not json"), 400),
    "f body a JSON list": lambda c: ("POST", "/gradio_api/call/generate", _raw("[1, 2]"), 400),
    "f body not JSON on /cancel": lambda c: ("POST", "/gradio_api/cancel", _raw("nope"), 400),
    "f /reset of the wrong type": lambda c: ("POST", "/gradio_api/reset", {"json": {"event_id": 5}}, 400),
    "g unknown api_name on /call": lambda c: ("POST", "/gradio_api/call/nope", {"json": {"data": []}}, 404),
    "g unknown api_name on /run": lambda c: ("POST", "/gradio_api/run/nope", {"json": {"data": []}}, 404),
    "g unknown api_name on /call/v2": lambda c: ("POST", "/gradio_api/call/v2/nope", {"json": {}}, 404),
    "g a page event by name on /call": lambda c: ("POST", "/gradio_api/call/ui_generate", {"json": {"data": []}}, 404),
    "g unknown argument on /call/v2": lambda c: ("POST", "/gradio_api/call/v2/generate",
                                                 {"json": {"prompt": "A kite", "x": 1}}, 400),
    "h load_example out of range (run)": lambda c: ("POST", "/gradio_api/run/load_example", c.join("load_example", [99]), 400),
    "h load_example out of range (queue)": lambda c: ("POST", JOIN, c.join("load_example", [-5]), 400),
    "h load_example not an index": lambda c: ("POST", "/gradio_api/run/load_example", c.join("load_example", ["x"]), 400),
    "i forged FileData outside Gradio's folder": lambda c: ("POST", JOIN, c.source({"path": "/etc/passwd", **FILE_META}), 400),
    "i forged FileData in Gradio's folder": lambda c: (
        "POST", JOIN, c.source({"path": os.path.join(c.upload_dir, "0" * 64, "never.png"), **FILE_META}), 400),
    "i a path without Gradio's marker": lambda c: ("POST", JOIN, c.source({"path": "/etc/passwd"}), 400),
    "i a path as text": lambda c: ("POST", JOIN, c.source("/etc/passwd"), 400),
    "i malformed meta": lambda c: ("POST", JOIN, c.source({"path": "/etc/passwd", "meta": "x"}), 400),
    "i FileData as an API argument": lambda c: ("POST", "/gradio_api/call/generate",
                                                {"json": {"data": [{"path": "/etc/passwd", **FILE_META}] + GEN_OK[1:]}}, 400),
    "session_hash missing": lambda c: ("POST", JOIN, {"json": {"data": GEN_OK, "fn_index": c.fn("generate")}}, 400),
    "session_hash absurdly long": lambda c: ("POST", JOIN, {"json": {
        "data": GEN_OK, "fn_index": c.fn("generate"), "session_hash": "x" * 100_000}}, 400),
    "event_data of the wrong type": lambda c: ("POST", JOIN, c.join("select", [None, "", BROWSER_ID], event_data="x"), 400),
    "event_data missing": lambda c: ("POST", JOIN, c.join("select", [None, "", BROWSER_ID]), 400),
    "batched for an unbatched event": lambda c: ("POST", JOIN, c.join("generate", GEN_OK, batched=True), 400),
    "a browser-only event": lambda c: ("POST", JOIN, {"json": {
        "data": [], "fn_index": _browser_only_fn(c.config), "session_hash": SESSION}}, 400),
    "a slider sent text": lambda c: ("POST", "/gradio_api/run/cost", c.join("cost", ["abc"]), 400),
    "a choice not offered": lambda c: ("POST", JOIN, c.join("ui_generate", _form(c.config, prompt="A", scale="7:1")), 400),
    "a queue stream for an unknown session": lambda c: ("GET", "/gradio_api/queue/data?session_hash=nobody", {}, 404),
    "component_server on an app with none": lambda c: ("POST", "/gradio_api/component_server", {"json": {
        "data": 1, "component_id": 99999, "session_hash": SESSION, "fn_name": "x"}}, 404),
}


@pytest.mark.parametrize("label", list(MALFORMED))
def test_malformed_calls_get_a_4xx_and_one_sentence(app, config, caplog, capfd, label):
    from gradio.utils import get_upload_folder

    method, path, kwargs, status = MALFORMED[label](Calls(config, get_upload_folder()))
    before = _creates(app)
    with caplog.at_level(logging.INFO):
        answer = requests.request(method, _base(app) + path, timeout=10, **kwargs)
        time.sleep(0.2)  # anything that did slip through would be running now
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    sentence = answer.json()["error"]
    assert isinstance(sentence, str) and sentence.lstrip("'/").strip()[0].isalpha() and sentence.endswith("."), sentence
    assert len(sentence.split()) >= 4, sentence  # a sentence, not a code
    assert "null" not in sentence and "Traceback" not in sentence
    assert _creates(app) == before
    logs = caplog.text + capfd.readouterr().err
    assert "Traceback" not in logs and "failed unexpectedly" not in logs


def _page_call(app, fn_index: int, data: list[Any], **extra: Any) -> dict[str, Any]:
    """A call as the page makes it: join the queue, then read the session's stream to the event's end."""
    session = f"page{time.monotonic_ns()}"
    joined = requests.post(_base(app) + "/gradio_api/queue/join", timeout=10,
                           json={"data": data, "fn_index": fn_index, "session_hash": session, **extra})
    assert joined.status_code == 200, joined.text
    with requests.get(_base(app) + "/gradio_api/queue/data", params={"session_hash": session},
                      stream=True, timeout=60) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the stream ended without a result")


def _png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def test_gradio_client_generate_still_works(app):
    before = _creates(app)
    result = Client(app.local_url, verbose=False).predict(prompt="A kite", wait=False, api_name="/generate")
    assert result["jobs"] and result["jobs"][0]["prompt"] == "A kite"
    assert _creates(app) == before + 1


def test_a_real_upload_is_accepted_as_the_source_of_a_page_generate(app, config, tmp_path):
    png = tmp_path / "source.png"
    png.write_bytes(_png())
    client = Client(app.local_url, verbose=False)
    ui_gen = _fn(config, "ui_generate")
    index = config["dependencies"][ui_gen]["inputs"].index(
        next(c["id"] for c in config["components"] if c["props"].get("elem_id") == "source-image"))
    uploaded = client.endpoints[ui_gen]._upload_file({"path": str(png)}, index)  # gradio_client's own upload
    assert Path(uploaded["path"]).is_file()
    before = _creates(app)
    done = _page_call(app, ui_gen, _form(config, prompt="A kite", source_image=uploaded))
    assert done["success"], done["output"]
    assert _creates(app) == before + 1


def test_page_calls_with_examples_and_event_data_still_work(app, config):
    loaded = _page_call(app, _fn(config, "load_example"), [1])  # the example with a source image
    assert loaded["success"], loaded["output"]
    example = next(v["value"] for v in loaded["output"]["data"] if isinstance(v, dict) and
                   isinstance(v.get("value"), dict) and "path" in v["value"])
    restored = _page_call(app, _fn(config, "restore_from_image"), [example])  # an example's file counts
    assert restored["success"], restored["output"]
    selected = _page_call(app, _fn(config, "select"), [None, "", BROWSER_ID], event_data={"index": 0, "value": None})
    assert selected["success"], selected["output"]


def test_a_hidden_error_in_the_call_stream_is_a_sentence(app):
    """An error Gradio hides (here: a source URL it cannot fetch) arrives as a sentence, not null."""
    ui = requests.get(_base(app) + "/config", timeout=10).json()
    data = _form(ui, prompt="A kite", source_image={"path": "https://host.invalid/a.png", **FILE_META})
    done = _page_call(app, _fn(ui, "ui_generate"), data)
    assert not done["success"] and done["output"]["error"] == UNEXPECTED


# --- uploads: on a local app (no AKOOL_SHARED), one fresh app (and so one fresh budget) per test -----


@pytest.fixture()
def local_app(tmp_path):
    with running_demo_app(tmp_path / "cache") as running:
        yield running


def _upload(app, name: str, data: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(_base(app) + "/gradio_api/upload", files={"files": (name, data, "image/png")},
                         headers=headers, timeout=60)


def _assert_try_again(answer: requests.Response) -> None:
    assert answer.status_code == 429, answer.text[:200]
    assert re.fullmatch(r"Too many uploads .+; please try again in \d+ seconds\.", answer.json()["error"])
    assert int(answer.headers["Retry-After"]) >= 1


def test_uploads_over_the_rate_get_429_with_when_to_try_again(local_app):
    png = _png()
    for i in range(UPLOADS_PER_MINUTE):
        answer = _upload(local_app, f"small{i}.png", png)
        assert answer.status_code == 200, answer.text
    _assert_try_again(_upload(local_app, "one-too-many.png", png))


def test_an_invented_forwarded_for_per_upload_does_not_reset_the_rate(local_app):
    png = _png()
    for i in range(UPLOADS_PER_MINUTE):
        assert _upload(local_app, f"small{i}.png", png, {"X-Forwarded-For": f"93.184.{i}.34"}).status_code == 200
    _assert_try_again(_upload(local_app, "one-too-many.png", png, {"X-Forwarded-For": "8.8.4.4"}))


def test_upload_bytes_per_minute_are_bounded(local_app):
    blob = os.urandom(19 * 2**20)
    fits = UPLOAD_BYTES_PER_MINUTE // len(blob)
    for i in range(fits):
        assert _upload(local_app, f"big{i}.png", blob).status_code == 200
    _assert_try_again(_upload(local_app, "big-again.png", blob))


def _files_in(folder: str) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def test_an_oversize_upload_gets_413_and_leaves_nothing_behind(local_app):
    from gradio.utils import get_upload_folder

    before = _files_in(get_upload_folder())
    declared = _upload(local_app, "huge.png", os.urandom(21 * 2**20))
    assert declared.status_code == 413 and "larger than 20 MB" in declared.json()["error"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: cut off at the cap while it streams
        yield b'--xx\r\nContent-Disposition: form-data; name="files"; filename="c.png"\r\nContent-Type: image/png\r\n\r\n'
        for _ in range(30):
            yield os.urandom(2**20)
        yield b"\r\n--xx--\r\n"

    streamed = requests.post(_base(local_app) + "/gradio_api/upload", data=chunked(), timeout=60,
                             headers={"Content-Type": "multipart/form-data; boundary=xx"})
    assert streamed.status_code == 413 and "larger than 20 MB" in streamed.json()["error"]
    assert _files_in(get_upload_folder()) == before
    assert _upload(local_app, "fine.png", _png()).status_code == 200  # and the client may still upload


def test_upload_ledger_forgets_and_stays_bounded():
    now = [0.0]
    ledger = UploadLedger(uploads=2, total_bytes=100, window=60, max_clients=3, clock=lambda: now[0])
    key = ledger.key("203.0.113.7")
    assert ledger.key("203.0.113.7") == key and "203" not in key  # a keyed hash, never the address
    assert ledger.key("2001:db8::1") == ledger.key("2001:db8::2")  # one IPv6 /64 is one client
    assert ledger.admit(key, 10)[0] and ledger.admit(key, 10)[0]
    entry, wait = ledger.admit(key, 10)
    assert entry is None and 0 < wait <= 60
    now[0] = 61
    assert ledger.admit(key, 10)[0]  # the minute has passed
    for n in range(20):
        ledger.admit(ledger.key(f"198.51.100.{n}"), 1)
    assert len(ledger) <= 3
