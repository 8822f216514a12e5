"""The app's webhook route over real HTTP (demo mode): size cap enforced before the body is read, deep
JSON and odd shapes refused with 400 (never 500), non-finite timestamps refused, and exact replays of a
verified callback acknowledged once only."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from akool_ui.akool.models import ImageRequest
from akool_ui.akool.webhook import make_webhook_body, sign
from akool_ui.adapters.local import LocalDocuments
from akool_ui.service.identity.demo import DEMO_ACCOUNT_DOCUMENT
from tests.app_helpers import running_demo_app
from akool_ui.ui.server import MAX_WEBHOOK_BYTES, WEBHOOK_ROUTE

pytestmark = pytest.mark.slow

# How long a raw-socket test waits for the answer: a server that insisted on reading a body we never
# finish sending would still be waiting, so the test fails instead of hanging.
ANSWER_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def running_app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("webhook-route-cache")) as running:
        yield running


@pytest.fixture(scope="module")
def url(running_app) -> str:
    return running_app.local_url.rstrip("/") + WEBHOOK_ROUTE


@pytest.fixture(scope="module")
def account(running_app) -> dict[str, str]:
    """The demo account's credentials, as the demo keeps them on disk."""
    return LocalDocuments(running_app.studio.store.cache_dir).read(DEMO_ACCOUNT_DOCUMENT).value


@pytest.fixture(scope="module")
def job_id(running_app) -> str:
    """A job the app knows (so a verified callback for it is applied, not refused as unknown)."""
    studio = running_app.studio
    owner = studio.owner_for(None, "webhook-route-browser-01")
    [record] = studio.submit(ImageRequest(prompt="A kite over a webhook"), api_key=None, owner=owner)
    return record.id


def _signed(account: dict[str, str], job_id: str, *, status: int = 3, **overrides: object) -> dict[str, object]:
    body = make_webhook_body({"_id": job_id, "status": status, "type": "image"}, account["client_id"], account["api_key"])
    body.update(overrides)
    body["signature"] = sign(account["client_id"], body["timestamp"], body["nonce"], body["dataEncrypt"])
    return body


def _raw_exchange(base_url: str, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request by hand (headers, then body parts; nothing more) and return the status line."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _head(url: str, *headers: str) -> bytes:
    parts = urlsplit(url)
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def test_declared_length_over_the_cap_is_refused_before_the_body_arrives(url):
    # 200 MB announced, 9 bytes sent: a server reading the whole body first would wait forever.
    status = _raw_exchange(url, _head(url, "Content-Length: 200000000"), [b'{"a": 1}\n'])
    assert status.split(b" ")[1] == b"413", status


def test_chunked_body_is_cut_off_as_soon_as_it_passes_the_cap(url):
    chunk = b"x" * 16384
    over = MAX_WEBHOOK_BYTES // len(chunk) + 2
    framed = [b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * over  # and never the closing 0-length chunk
    status = _raw_exchange(url, _head(url, "Transfer-Encoding: chunked"), framed)
    assert status.split(b" ")[1] == b"413", status


def test_chunked_body_under_the_cap_is_read_and_judged(url):
    def chunks():
        yield b'{"signature": "' + b"0" * 40 + b'", "dataEncrypt": "AAAA",'
        yield b' "timestamp": %d, "nonce": "1"}' % int(time.time() * 1000)

    response = requests.post(url, data=chunks(), headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400  # read whole, parsed, and refused for its signature


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30000 + b"]" * 30000,
        b'{"signature": ' + b"[" * 30000 + b"]" * 30000 + b"}",
        b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    ],
    ids=["array", "in-a-field", "objects"],
)
def test_deeply_nested_json_under_the_cap_is_a_400_not_a_500(url, body):
    assert len(body) <= MAX_WEBHOOK_BYTES
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"signature": None},
        {"dataEncrypt": ["AAAA"]},
        {"timestamp": {"ms": 1}},
        {"nonce": True},
        {"nonce": ...},  # missing
    ],
    ids=["null", "list", "object", "bool", "missing"],
)
def test_fields_that_are_not_strings_or_numbers_are_refused(url, account, job_id, change):
    body = make_webhook_body({"_id": job_id, "status": 3}, account["client_id"], account["api_key"])
    body.update(change)
    body = {k: v for k, v in body.items() if v is not ...}
    response = requests.post(url, json=body, timeout=10)
    assert response.status_code == 400 and response.json() == {"ok": False}


def test_non_object_bodies_are_refused(url):
    for body in (b"[]", b'"text"', b"12", b"null", b"\xff\xfe not utf-8"):
        assert requests.post(url, data=body, timeout=10).status_code == 400, body


@pytest.mark.parametrize("timestamp", ["NaN", "Infinity", "-inf"])
def test_non_finite_timestamp_is_refused(url, account, job_id, timestamp):
    response = requests.post(url, json=_signed(account, job_id, timestamp=timestamp), timeout=10)
    assert response.status_code == 400 and response.json() == {"ok": False}


def test_verified_callback_is_applied_once_and_its_replays_are_only_acknowledged(url, account, job_id):
    body = _signed(account, job_id)
    first = requests.post(url, json=body, timeout=10)
    assert (first.status_code, first.json()) == (200, {"ok": True})
    # The exact bytes again, and the same callback re-spelled in ways the signature does not see
    # (timestamp as a string, signature upper-cased): 200 so Akool stops retrying, but nothing applied.
    again = [
        body,
        {**body, "timestamp": str(body["timestamp"])},
        {**body, "signature": str(body["signature"]).upper()},
    ]
    for replay in again:
        response = requests.post(url, json=replay, timeout=10)
        assert (response.status_code, response.json()) == (200, {"ok": False, "duplicate": True}), replay


def test_a_captured_payload_re_signed_with_a_new_nonce_and_timestamp_is_refused(url, account, job_id):
    """Akool's signature has no secret in it: anyone who knows the client id can re-sign a captured
    dataEncrypt. Only a payload never seen before is applied."""
    body = _signed(account, job_id, status=4)
    assert requests.post(url, json=body, timeout=10).json() == {"ok": True}
    for nonce in ("9001", "re-signed", 77):
        resigned = {**body, "nonce": nonce, "timestamp": int(time.time() * 1000)}
        resigned["signature"] = sign(account["client_id"], resigned["timestamp"], nonce, resigned["dataEncrypt"])
        response = requests.post(url, json=resigned, timeout=10)
        assert (response.status_code, response.json()) == (200, {"ok": False, "duplicate": True}), nonce
    # a callback with a payload of its own (another status of the same job) is still welcome
    fresh = requests.post(url, json=_signed(account, job_id, status=2), timeout=10)
    assert (fresh.status_code, fresh.json()) == (200, {"ok": True})


def test_forged_callback_does_not_poison_the_replay_cache(url, account, job_id):
    # An unverified body carrying a real callback's signature must not make that callback a "replay".
    body = make_webhook_body({"_id": job_id, "status": 3, "type": "image", "url": "https://example.invalid/f.png"},
                             account["client_id"], account["api_key"], nonce="forge-1")
    forged = {**body, "dataEncrypt": "AAAA"}
    assert requests.post(url, json=forged, timeout=10).status_code == 400
    genuine = requests.post(url, json=body, timeout=10)
    assert (genuine.status_code, genuine.json()) == (200, {"ok": True})


def test_app_still_serves_after_the_abuse(running_app):
    health = requests.get(running_app.local_url.rstrip("/") + "/healthz", timeout=10)
    assert health.json() == {"status": "ok", "mode": "demo"}
