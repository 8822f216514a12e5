"""Retries against the simulator's faults: GETs ride out trouble, creates are never sent twice."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from akool_ui.akool import (
    AkoolClient,
    ConnectError,
    ConnectionDropped,
    HttpStatusError,
    ImageRequest,
    ProtocolError,
    RequestTimeout,
    RetryPolicy,
    V3ImageRequest,
)
from tests.client_helpers import (  # noqa: F401 - own_simulator/simulator are fixtures
    counts,
    make_client,
    own_simulator,
    simulator,
)
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET


class Pauses(list):
    """A sleep that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def new_job(simulator) -> str:
    return make_client(simulator).create_images_v3(V3ImageRequest(prompt="retry me")).id


# -- idempotent GET -------------------------------------------------------------------------------------


def test_get_rides_out_a_burst_of_502s(simulator):
    job_id = new_job(simulator)
    pauses = Pauses()
    client = make_client(simulator, retry=RetryPolicy(attempts=4, backoff=0.5, jitter=0), sleep=pauses)
    simulator.sim.http_status(502, times=2, kinds=("info",))
    before = counts(simulator)
    assert client.get_job(job_id).id == job_id
    assert counts(simulator, before)["info"] == 3
    assert pauses == [0.5, 1.0]  # exponential backoff between the attempts


@pytest.mark.parametrize("status", [500, 503, 504])
def test_get_retries_other_server_errors(simulator, status):
    job_id = new_job(simulator)
    simulator.sim.http_status(status, times=1, kinds=("info",))
    before = counts(simulator)
    assert make_client(simulator).get_job(job_id).id == job_id
    assert counts(simulator, before)["info"] == 2


def test_get_gives_up_after_four_attempts_with_http_status_error(simulator):
    job_id = new_job(simulator)
    simulator.sim.http_status(503, times=10, kinds=("info",))
    before = counts(simulator)
    with pytest.raises(HttpStatusError) as info:
        make_client(simulator).get_job(job_id)
    assert info.value.status == 503
    assert counts(simulator, before)["info"] == 4


def test_get_retries_a_dropped_connection(simulator):
    job_id = new_job(simulator)
    simulator.sim.drop_connection(times=1, kinds=("info",))
    before = counts(simulator)
    assert make_client(simulator).get_job(job_id).id == job_id
    assert counts(simulator, before)["info"] == 2


def test_get_retries_a_read_timeout(simulator):
    job_id = new_job(simulator)
    simulator.sim.delay(1.0, times=1, kinds=("info",))
    client = make_client(simulator, timeout=(2.0, 0.3))
    before = counts(simulator)
    assert client.get_job(job_id).id == job_id
    assert counts(simulator, before)["info"] == 2


def test_get_token_is_retried_like_a_get(simulator):
    simulator.sim.http_status(502, times=2, kinds=("token",))
    before = counts(simulator)
    token = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET).get_token()
    assert token and counts(simulator, before)["token"] == 3


def test_malformed_json_is_a_protocol_error(simulator):
    job_id = new_job(simulator)
    simulator.sim.malformed_json(times=1, kinds=("info",))
    with pytest.raises(ProtocolError):
        make_client(simulator).get_job(job_id)
    assert make_client(simulator).get_job(job_id).id == job_id  # the fault was used up


# -- credit-spending POSTs --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_answered_with_a_5xx_raises_and_is_sent_exactly_once(simulator, status):
    simulator.sim.http_status(status, times=3, kinds=("create_v4",))
    before = counts(simulator)
    with pytest.raises(HttpStatusError) as info:
        make_client(simulator).create_images(ImageRequest(prompt="charged once"))
    assert info.value.status == status
    assert counts(simulator, before)["create_v4"] == 1


def test_create_read_timeout_raises_request_timeout_and_creates_exactly_once(simulator):
    simulator.sim.delay(1.5, times=1, kinds=("create_v4",))
    client = make_client(simulator, timeout=(2.0, 5.0), spend_timeout=(2.0, 0.3))
    before = counts(simulator)
    with pytest.raises(RequestTimeout) as info:  # gave up at the 0.3 s spend timeout, before the answer
        client.create_images(ImageRequest(prompt="slow answer"))
    assert "may" in RequestTimeout.__doc__ and info.value.user_message
    time.sleep(1.4)  # let the delayed answer finish before counting
    delta = counts(simulator, before)
    assert delta["create_v4"] == 1 and delta["creates"] == 1  # the job exists; it was made once


def test_create_with_dropped_connection_raises_and_creates_exactly_once(simulator):
    simulator.sim.drop_connection(times=1, kinds=("create_v4",))
    before = counts(simulator)
    with pytest.raises(ConnectionDropped):
        make_client(simulator).create_images(ImageRequest(prompt="dropped"))
    delta = counts(simulator, before)
    assert delta["create_v4"] == 1 and delta["creates"] == 1


@pytest.mark.parametrize("kind", ["create_v3", "button"])
def test_other_credit_spending_posts_are_not_retried_on_502(simulator, kind):
    client = make_client(simulator)
    job_id = new_job(simulator)
    simulator.sim.http_status(502, times=3, kinds=(kind,))
    before = counts(simulator)
    with pytest.raises(HttpStatusError):
        if kind == "create_v3":
            client.create_images_v3(V3ImageRequest(prompt="once"))
        else:
            client.press_button(job_id, "U1")
    assert counts(simulator, before)[kind] == 1


def test_create_with_malformed_json_is_sent_once_and_its_jobs_read_from_what_came(simulator):
    simulator.sim.malformed_json(times=1, kinds=("create_v4",))
    before = counts(simulator)
    jobs = make_client(simulator).create_images(ImageRequest(prompt="garbled", batch_quantity=4))
    delta = counts(simulator, before)
    assert delta["create_v4"] == 1 and delta["creates"] == 4
    assert len({job.id for job in jobs}) == 4 and all(simulator.sim.job(job.id)["origin_prompt"] == "garbled"
                                                      for job in jobs)  # the cut-off ids, then their siblings


def test_a_garbled_create_with_no_id_left_is_a_protocol_error(simulator):
    simulator.sim.malformed_json(times=1, kinds=("create_v4",))
    simulator.sim.fail_next(code=1003, kinds=("create_v4",))  # a short refusal: half of it holds no id
    with pytest.raises(ProtocolError) as info:
        make_client(simulator).create_images(ImageRequest(prompt="garbled"))
    assert info.value.partial_ids == ()


def test_connection_refused_is_retried_for_a_create_then_raised_as_connect_error(caplog):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    pauses = Pauses()
    client = AkoolClient(f"http://127.0.0.1:{port}", api_key=API_KEY, retry=RetryPolicy(attempts=4, jitter=0),
                         sleep=pauses)
    with caplog.at_level(logging.WARNING, logger="akool_ui.akool"), pytest.raises(ConnectError):
        client.create_images(ImageRequest(prompt="nobody home"))
    assert pauses == [0.5, 1.0, 2.0]  # four attempts
    assert [r.levelname for r in caplog.records].count("WARNING") == 3
