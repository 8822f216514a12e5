"""No credential ever shows up in an exception, a repr, a user message or a log line."""

from __future__ import annotations

import logging
import socket

import pytest

from akool_ui.akool import (
    AkoolClient,
    AkoolError,
    ApiKeyAuth,
    ImageRequest,
    RetryPolicy,
    TokenAuth,
    V3ImageRequest,
)
from tests.client_helpers import (  # noqa: F401 - own_simulator/simulator are fixtures
    counts,
    make_client,
    own_simulator,
    simulator,
)
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET

SECRETS = (API_KEY, CLIENT_SECRET, CLIENT_ID)


def assert_clean(text: str, *extra: str) -> None:
    for secret in (*SECRETS, *extra):
        assert secret not in text, "a credential leaked"


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def test_reprs_hide_every_credential(simulator):
    token_client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    token = token_client.get_token()
    token_client.create_images(ImageRequest(prompt="cache a token"))
    both = make_client(simulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, send_both=True)
    for obj in (make_client(simulator), token_client, both, token_client.auth, both.auth, ApiKeyAuth(API_KEY),
                TokenAuth(lambda: token, token=token, api_key=API_KEY)):
        assert_clean(repr(obj), token)
        assert_clean(str(obj), token)
    assert "***" in repr(make_client(simulator))


def test_api_key_auth_refuses_an_empty_key():
    with pytest.raises(ValueError):
        ApiKeyAuth("")


def _error_kinds(simulator):
    """Callables that each trigger one kind of error, with the credentials of the main account."""
    sim = simulator.sim
    sim.stuck_next()  # never finishes, so pressing a button on it is always refused
    job_id = make_client(simulator).create_images_v3(V3ImageRequest(prompt="leak test")).id

    def api_error(client):
        sim.fail_next(code=1003)
        client.create_images(ImageRequest(prompt="x"))

    def not_found(client):
        client.get_job("0123456789abcdef01234567")

    def http_502(client):
        sim.http_status(502, times=10, kinds=("info", "token"))
        client.get_job(job_id)

    def dropped(client):
        sim.drop_connection(times=10, kinds=("create_v4", "token"))
        client.create_images(ImageRequest(prompt="x"))

    def timeout(client):
        sim.delay(1.0, times=10, kinds=("info", "token"))
        client.get_job(job_id)

    def malformed(client):
        sim.malformed_json(times=10, kinds=("info", "token"))
        client.get_job(job_id)

    def invalid(client):
        client.press_button(job_id, "U9")

    def cannot_operate(client):
        client.press_button(job_id, "U1")  # the job never finishes

    return [api_error, not_found, http_502, dropped, timeout, malformed, invalid, cannot_operate]


@pytest.mark.parametrize("mode", ["api_key", "token", "both"])
def test_no_credential_in_any_error_or_log_line(simulator, caplog, mode):
    kwargs = {
        "api_key": {"api_key": API_KEY},
        "token": {"api_key": None, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        "both": {"api_key": API_KEY, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "send_both": True},
    }[mode]
    client = make_client(simulator, timeout=(2.0, 0.2), retry=RetryPolicy(attempts=2, backoff=0), **kwargs)
    token = client.get_token() if mode != "api_key" else API_KEY
    caplog.set_level(logging.DEBUG)
    raised = []
    for trigger in _error_kinds(simulator):
        simulator.sim.reset_faults()
        simulator.sim.expire_tokens()  # every kind also runs through a token renewal
        with pytest.raises(AkoolError) as info:
            trigger(client)
        raised.append(type(info.value).__name__)
        error = info.value
        for text in (str(error), repr(error), error.user_message, error.message, str(error.args)):
            assert_clean(text, token)
    unreachable = AkoolClient(closed_port_url(), retry=RetryPolicy(attempts=2, backoff=0), **kwargs)
    with pytest.raises(AkoolError) as info:
        unreachable.create_images(ImageRequest(prompt="x"))
    raised.append(type(info.value).__name__)
    assert_clean(str(info.value) + repr(info.value) + info.value.user_message, token)
    assert set(raised) >= {"InvalidRequest", "JobNotFound", "HttpStatusError", "ConnectionDropped",
                           "RequestTimeout", "ProtocolError", "CannotOperate", "ConnectError"}
    ours = [r for r in caplog.records if r.name.startswith(("akool_ui.akool", "urllib3", "requests"))]
    logged = "\n".join(r.getMessage() + repr(r.args) for r in ours)
    assert logged  # retries and requests were logged...
    assert_clean(logged, token)  # ...without any credential
    assert counts(simulator)  # the simulator is still answering
