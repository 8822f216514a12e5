"""The transport rules, proved over real sockets against tiny scripted servers.

The simulator covers the common faults (see test_client_retries.py); these servers cover what it
cannot: exact headers on the wire, Retry-After, non-envelope answers, a socket that never answers.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from email.utils import formatdate

import pytest
import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from akool_ui.akool import (
    AkoolClient,
    ConnectError,
    ConnectionDropped,
    HttpStatusError,
    ImageRequest,
    ProtocolError,
    RequestTimeout,
    RetryPolicy,
    TransportError,
    UnknownApiError,
)
from akool_ui.akool.client import USER_AGENT
from akool_ui.akool.transport import NO_RETRIES, parse_retry_after, transport_error
from tests.client_helpers import ScriptedServer

JOB_ID = "6650a1b2c3d4e5f6a7b8c9d0"
KEY = "ScriptedApiKey0123456789"
OK_INFO = {"code": 1000, "msg": "OK", "data": {"_id": JOB_ID, "image_status": 2}}


class Recorder:
    """Counts pauses instead of sleeping them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture()
def scripted():
    servers: list[ScriptedServer] = []

    def make(*script: tuple[int, dict[str, str], object]) -> ScriptedServer:
        servers.append(ScriptedServer(*script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


class SilentServer:
    """Accepts connections and then either says nothing (``hang``) or closes at once (``drop``)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            if self.mode == "drop":
                conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def fast(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, backoff=0.01, jitter=0)


# -- what goes on the wire --------------------------------------------------------------------------


def test_api_key_client_sends_x_api_key_user_agent_and_never_authorization(scripted):
    server = scripted((200, {}, OK_INFO))
    AkoolClient(server.url, api_key=KEY).get_job(JOB_ID.upper())
    (request,) = server.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers
    assert headers["user-agent"] == USER_AGENT and USER_AGENT.startswith("akool-image-studio/")
    assert request["method"] == "GET"
    assert request["path"] == f"/api/open/v3/content/image/infobymodelid?image_model_id={JOB_ID}"


def test_token_client_sends_only_bearer_and_puts_credentials_in_get_token_body(scripted):
    server = scripted((200, {}, {"code": 1000, "token": "tok-1"}), (200, {}, OK_INFO))
    client = AkoolClient(server.url, api_key=None, client_id="cid", client_secret="csecret")
    client.get_job(JOB_ID)
    token_call, info_call = server.requests
    assert token_call["path"] == "/api/open/v3/getToken"
    assert json.loads(token_call["body"]) == {"clientId": "cid", "clientSecret": "csecret"}
    token_headers = {k.lower() for k in token_call["headers"]}
    assert "authorization" not in token_headers and "x-api-key" not in token_headers
    headers = {k.lower(): v for k, v in info_call["headers"].items()}
    assert headers["authorization"] == "Bearer tok-1" and "x-api-key" not in headers


def test_api_key_wins_over_client_pair_for_calls_unless_both_are_asked_for(scripted):
    server = scripted((200, {}, OK_INFO))
    AkoolClient(server.url, api_key=KEY, client_id="cid", client_secret="csecret").get_job(JOB_ID)
    assert len(server.requests) == 1 and "x-api-key" in {k.lower() for k in server.requests[0]["headers"]}
    server = scripted((200, {}, {"code": 1000, "token": "tok-1"}), (200, {}, OK_INFO))
    AkoolClient(server.url, api_key=KEY, client_id="cid", client_secret="csecret", send_both=True).get_job(JOB_ID)
    headers = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
    assert headers["x-api-key"] == KEY and headers["authorization"].startswith("Bearer ")


def test_a_supplied_session_is_used_and_not_closed(scripted):
    server = scripted((200, {}, OK_INFO))
    session = requests.Session()
    session.headers["X-Trace"] = "t1"
    with AkoolClient(server.url, api_key=KEY, session=session) as client:
        client.get_job(JOB_ID)
    assert server.requests[0]["headers"]["X-Trace"] == "t1"
    assert session.adapters  # still usable: close() leaves a borrowed session alone


def test_base_url_must_be_http_with_a_host():
    for bad in ("", "openapi.akool.com", "file:///tmp/x", "http://", "https://user:pw@openapi.akool.com"):
        with pytest.raises(ValueError):
            AkoolClient(bad)


# -- answers that are not envelopes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b"<html>gateway</html>", ProtocolError),
        (200, [1, 2, 3], ProtocolError),
        (200, {"code": "1000", "data": {}}, ProtocolError),  # code must be a number
        (200, {"code": 1000, "msg": "OK"}, ProtocolError),  # success without data
        (200, {"code": 1000, "data": {"_id": "../x", "image_status": 1}}, ProtocolError),
        (200, {"code": 1000, "data": {"_id": "aaaaaaaaaaaaaaaaaaaaaaaa", "image_status": 1}}, ProtocolError),
        (404, b"not found", HttpStatusError),
        (403, {"error": "forbidden"}, HttpStatusError),
        (401, {"code": 2001, "msg": "Server error"}, UnknownApiError),  # an envelope wins over the status
    ],
)
def test_answers_that_are_not_usable_envelopes_raise_the_right_error(scripted, status, body, error):
    server = scripted((status, {}, body))
    with pytest.raises(error) as info:
        AkoolClient(server.url, api_key=KEY, retry=NO_RETRIES).get_job(JOB_ID)
    if error is HttpStatusError:
        assert info.value.status == status


def test_get_token_without_token_is_a_protocol_error(scripted):
    server = scripted((200, {}, {"code": 1000, "data": {"token": "nested"}}))
    with pytest.raises(ProtocolError):
        AkoolClient(server.url, client_id="cid", client_secret="csecret").get_token()


def test_create_answering_fewer_jobs_than_asked_raises_but_keeps_the_jobs(scripted):
    one = {"_id": JOB_ID, "image_status": 1}
    server = scripted((200, {}, {"code": 1000, "msg": "OK", "data": [one]}))
    with pytest.raises(ProtocolError) as info:
        AkoolClient(server.url, api_key=KEY).create_images(ImageRequest(prompt="fox", batch_quantity=2))
    assert [job.id for job in info.value.jobs] == [JOB_ID]


# -- Retry-After and backoff ----------------------------------------------------------------------


def test_get_honours_retry_after_seconds_on_503(scripted):
    server = scripted((503, {"Retry-After": "3"}, b"busy"), (200, {}, OK_INFO))
    sleep = Recorder()
    job = AkoolClient(server.url, api_key=KEY, retry=fast(), sleep=sleep).get_job(JOB_ID)
    assert job.id == JOB_ID and sleep.pauses == [3.0] and len(server.requests) == 2


def test_retry_after_is_capped(scripted):
    server = scripted((429, {"Retry-After": "86400"}, b"slow down"), (200, {}, OK_INFO))
    sleep = Recorder()
    policy = RetryPolicy(attempts=2, max_retry_after=7.5)
    AkoolClient(server.url, api_key=KEY, retry=policy, sleep=sleep).get_job(JOB_ID)
    assert sleep.pauses == [7.5]


def test_get_gives_up_after_the_configured_attempts_with_growing_capped_pauses(scripted):
    server = scripted((502, {}, b"bad gateway"))
    sleep = Recorder()
    policy = RetryPolicy(attempts=5, backoff=1.0, max_backoff=3.0, jitter=0)
    with pytest.raises(HttpStatusError) as info:
        AkoolClient(server.url, api_key=KEY, retry=policy, sleep=sleep).get_job(JOB_ID)
    assert info.value.status == 502
    assert len(server.requests) == 5
    assert sleep.pauses == [1.0, 2.0, 3.0, 3.0]


def test_post_create_is_not_retried_on_503_even_with_retry_after(scripted):
    server = scripted((503, {"Retry-After": "1"}, b"busy"))
    sleep = Recorder()
    with pytest.raises(HttpStatusError):
        AkoolClient(server.url, api_key=KEY, retry=fast(), sleep=sleep).create_images(ImageRequest(prompt="fox"))
    assert len(server.requests) == 1 and sleep.pauses == []


def test_pause_grows_exponentially_with_bounded_jitter():
    policy = RetryPolicy(backoff=0.5, max_backoff=8.0, jitter=0.25)
    assert [policy.pause(n, rand=lambda: 0.0) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.pause(1, rand=lambda: 1.0) == 0.625
    assert policy.pause(5, rand=lambda: 1.0) == 8.0  # jitter never breaks the cap
    assert policy.pause(1, retry_after=-3) == 0.0


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"backoff": -1}, {"jitter": -0.1}])
def test_retry_policy_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after(formatdate(1_000_030.0, usegmt=True), now=lambda: 1_000_000.0) == 30.0
    assert parse_retry_after(formatdate(999_000.0, usegmt=True), now=lambda: 1_000_000.0) == 0.0
    for bad in (None, "", "soon", "-5", "Mon, 99 Foo 2024 00:00:00"):
        assert parse_retry_after(bad) is None
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37") is None  # no zone: not a valid HTTP-date


# -- sockets that misbehave ---------------------------------------------------------------------------


def test_connection_refused_is_retried_even_for_a_create_and_raised_as_connect_error(caplog):
    sleep = Recorder()
    client = AkoolClient(closed_port_url(), api_key=KEY, retry=fast(attempts=3), sleep=sleep)
    with caplog.at_level(logging.WARNING), pytest.raises(ConnectError) as info:
        client.create_images(ImageRequest(prompt="fox"))
    assert len(sleep.pauses) == 2  # three attempts in all
    assert "ConnectionRefusedError" in str(info.value)
    assert info.value.__cause__ is not None
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2


def test_unresolvable_host_is_a_connect_error():
    client = AkoolClient("http://akool.invalid", api_key=KEY, retry=NO_RETRIES)
    with pytest.raises(ConnectError):
        client.get_job(JOB_ID)


def test_silent_server_read_timeout_retries_get_but_not_create():
    server = SilentServer("hang")
    try:
        client = AkoolClient(server.url, api_key=KEY, timeout=(1.0, 0.2), spend_timeout=(1.0, 0.2), retry=fast(attempts=2))
        with pytest.raises(RequestTimeout):
            client.get_job(JOB_ID)
        assert server.accepted == 2
        with pytest.raises(RequestTimeout):
            client.create_images(ImageRequest(prompt="fox"))
        assert server.accepted == 3
    finally:
        server.close()


def test_connection_closed_without_answer_retries_get_but_not_create():
    server = SilentServer("drop")
    try:
        client = AkoolClient(server.url, api_key=KEY, retry=fast(attempts=3))
        with pytest.raises(ConnectionDropped) as info:
            client.get_job(JOB_ID)
        assert server.accepted == 3
        assert "RemoteDisconnected" in str(info.value) or "Connection" in str(info.value)
        with pytest.raises(ConnectionDropped):
            client.press_button(JOB_ID, "U1")
        assert server.accepted == 4
    finally:
        server.close()


def test_an_owned_session_is_closed_with_the_client(scripted):
    server = scripted((200, {}, OK_INFO))
    with AkoolClient(server.url, api_key=KEY) as client:
        client.get_job(JOB_ID)
        pools = client._session.get_adapter(server.url).poolmanager.pools
        assert len(pools) == 1
    assert len(pools) == 0  # closing the session dropped its connection pools


@pytest.mark.parametrize(
    ("exc", "error", "unsent"),
    [
        (requests.ConnectTimeout(), ConnectError, True),
        (requests.ConnectionError(MaxRetryError(None, "/", ConnectTimeoutError("slow"))), ConnectError, True),
        (requests.exceptions.SSLError(), ConnectError, False),
        (requests.ReadTimeout(), RequestTimeout, False),
        (requests.exceptions.ChunkedEncodingError(), ConnectionDropped, False),
        (requests.ConnectionError(), ConnectionDropped, False),
        (requests.exceptions.ContentDecodingError(), ProtocolError, False),
        (requests.exceptions.InvalidURL(), TransportError, False),
    ],
)
def test_requests_exceptions_are_classified_by_whether_the_request_left(exc, error, unsent):
    ours, surely_unsent = transport_error(exc, "GET /x")
    assert type(ours) is error and surely_unsent is unsent
    assert str(ours).startswith("GET /x: ")
