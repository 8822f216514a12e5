"""Webhooks from the simulator to a real receiver, verified and decrypted with akool_ui.akool.webhook."""

from __future__ import annotations

import json
import logging
import time
from typing import Callable

import pytest

from akool_ui.akool.errors import InvalidSignature
from akool_ui.akool.webhook import parse_webhook
from akool_ui.simulator.webhooks import MAX_ATTEMPTS
from tests.conftest import CLIENT_ID, CLIENT_SECRET, OTHER_API_KEY, OTHER_CLIENT_ID
from tests.test_simulator_support import Api, TinyServer, private_server


class Receiver(TinyServer):
    """Records webhook bodies; answers each POST with the next status of ``script`` (last one repeats)."""

    def __init__(self, *script: int):
        self.script = list(script) or [200]
        super().__init__(self._handle)

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        status = self.script[min(len(self.requests), len(self.script)) - 1]
        return status, "text/plain", b"ok"

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, _, body in self.requests]

    def events(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> list:
        return [parse_webhook(body, client_id, secret) for body in self.bodies]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture()
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture(scope="module")
def own_simulator():
    """Webhook counts must not see retries that earlier tests left running on the shared simulator."""
    with private_server() as server:
        yield server


@pytest.fixture()
def simulator(own_simulator):
    own_simulator.sim.reset_faults()
    own_simulator.sim.reset_stats()
    yield own_simulator
    own_simulator.sim.reset_faults()


@pytest.fixture()
def api(simulator):
    return Api(simulator)


def test_v4_webhook_round_trip_sends_processing_then_done_with_the_image_url(simulator, api, receiver):
    job_id = api.v4(webhookurl=receiver.url + "/hook?x=1")["_id"]
    doc = api.finished(job_id)
    wait_until(lambda: len(receiver.requests) >= 2)
    time.sleep(0.1)
    assert len(receiver.requests) == 2 and all(r[1] == "/hook?x=1" for r in receiver.requests)
    body = receiver.bodies[0]
    assert set(body) == {"signature", "dataEncrypt", "timestamp", "nonce"}
    assert abs(body["timestamp"] / 1000 - time.time()) < 60  # wall-clock ms, so receivers can check it
    processing, done = receiver.events()
    assert (processing.job_id, processing.status, processing.type, processing.url) == (job_id, 2, "image", None)
    assert (done.job_id, done.status, done.url) == (job_id, 3, doc["image"])


def test_v3_and_button_webhooks_use_camel_case_webhookurl(simulator, api, receiver):
    parent = api.v3(webhookUrl=receiver.url)["_id"]
    api.finished(parent)
    wait_until(lambda: len(receiver.requests) >= 2)
    child = api.press(parent, "U1", webhookUrl=receiver.url)["_id"]
    upscaled = api.finished(child)
    wait_until(lambda: len(receiver.requests) >= 4)
    events = receiver.events()
    assert [(e.job_id, e.status) for e in events] == [(parent, 2), (parent, 3), (child, 2), (child, 3)]
    assert events[-1].url == upscaled["image"]


def test_wrongly_cased_webhook_keys_are_ignored_like_any_unknown_key(simulator, api, receiver):
    api.finished(api.v4(webhookUrl=receiver.url)["_id"])
    api.finished(api.v3(webhookurl=receiver.url)["_id"])
    time.sleep(0.3)
    assert receiver.requests == []


def test_failed_job_sends_status_4_and_a_stuck_job_only_status_2(simulator, api, receiver):
    simulator.sim.fail_next()
    failed = api.v4(webhookurl=receiver.url)["_id"]
    api.finished(failed)
    wait_until(lambda: len(receiver.requests) >= 2)
    assert [(e.status, e.url) for e in receiver.events()] == [(2, None), (4, None)]
    simulator.sim.stuck_next()
    stuck = api.v4(webhookurl=receiver.url)["_id"]
    simulator.sim.advance(3600)
    wait_until(lambda: len(receiver.requests) >= 3)
    time.sleep(0.2)
    assert [(e.job_id, e.status) for e in receiver.events()[2:]] == [(stuck, 2)]


def test_non_200_answers_are_retried_with_backoff_and_order_is_kept(simulator, api):
    with Receiver(500, 404, 200) as receiver:
        job_id = api.v4(webhookurl=receiver.url)["_id"]
        api.finished(job_id)
        wait_until(lambda: len(receiver.requests) >= 4)
        events = receiver.events()
        assert [e.status for e in events] == [2, 2, 2, 3]
        # the receiver sees the 4th request before the sender has read its 200 and counted it
        wait_until(lambda: simulator.sim.stats()["webhooks"]["delivered"] == 2)
        stats = simulator.sim.stats()["webhooks"]
        assert stats["attempts"] == 4 and stats["delivered"] == 2 and stats["failed"] == 0


def test_delivery_is_given_up_after_max_attempts_and_only_200_counts(simulator, api):
    with Receiver(204) as receiver:
        api.finished(api.v4(webhookurl=receiver.url)["_id"])
        wait_until(lambda: simulator.sim.stats()["webhooks"]["failed"] == 2)
        statuses = [e.status for e in receiver.events()]
        assert statuses == [2] * MAX_ATTEMPTS + [3] * MAX_ATTEMPTS


def test_unreachable_receiver_is_retried_then_given_up(simulator, api):
    with Receiver() as gone:
        url = gone.url
    api.finished(api.v4(webhookurl=url)["_id"])
    wait_until(lambda: simulator.sim.stats()["webhooks"]["failed"] == 2)
    assert simulator.sim.stats()["webhooks"]["attempts"] == 2 * MAX_ATTEMPTS


def test_webhooks_are_encrypted_for_the_owning_account(simulator, receiver):
    other = Api(simulator, api_key=OTHER_API_KEY)
    job_id = other.v4(webhookurl=receiver.url)["_id"]
    other.finished(job_id)
    wait_until(lambda: len(receiver.requests) >= 2)
    assert receiver.events(OTHER_CLIENT_ID, OTHER_API_KEY)[-1].job_id == job_id
    with pytest.raises(InvalidSignature):
        receiver.events()


def test_an_account_without_a_client_id_gets_no_webhooks(simulator, receiver, caplog):
    simulator.sim.add_account(api_key="NoClientIdKey0123456789X")
    api = Api(simulator, api_key="NoClientIdKey0123456789X")
    with caplog.at_level(logging.WARNING, logger="akool_ui.simulator"):
        api.finished(api.v4(webhookurl=receiver.url)["_id"])
    time.sleep(0.2)
    assert receiver.requests == []
    assert "webhooks are not sent" in caplog.text and "NoClientIdKey" not in caplog.text
