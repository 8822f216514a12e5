"""Write-ahead intents and recovery, against the simulator's fault injection over real HTTP.

The fault-matrix cells that used to lose a job (a create or press Akool accepted, whose answer was lost)
or images (downloads that gave up), and the rules around them: an unknown outcome is kept and said as
such, a press is never offered twice, a refused press re-reads the buttons, webhooks adopt lost jobs.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from akool_ui.akool.client import AkoolClient
from akool_ui.akool.errors import (
    CannotOperate, ConnectError, InvalidRequest, OutcomeUnknown, RateLimited,
)
from akool_ui.akool.models import ImageRequest
from akool_ui.jobs import ImageState, JobRecord, RecordState, wording
from akool_ui.jobs.record import INTENT_ID_PREFIX, MAX_DOWNLOAD_ATTEMPTS
from akool_ui.service.runtime.intents import with_intent_token
from akool_ui.service.runtime.tracker import JobTracker

from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET
from tests.test_tracker import FAST, OWNER, store, wait_final  # noqa: F401 - store is a fixture
from tests.store_helpers import StoreWithFiles, tracker_on

# A fault on a credit-spending call after Akool processed it whose answer is lost for good (a slow, a
# malformed and a 502 answer are the fault matrix's: tests/test_fault_matrix.py).
LOST_ANSWERS = {
    "dropped-connection": lambda sim, kind: sim.drop_connection(times=1, kinds=(kind,)),
}


@pytest.fixture()
def client(simulator):
    with AkoolClient(simulator.base_url, api_key=API_KEY, retry=FAST, timeout=(2.0, 0.5),
                     spend_timeout=(2.0, 5.0)) as c:
        yield c


@pytest.fixture()
def tracker(store, client):
    # the first look at a lost press's parent comes after the checks right after the press
    tracker = tracker_on(store, poll_interval=0.1, max_poll_interval=0.5, client_for=lambda record: client,
                         download_retry_pause=(0.05, 0.1), answer_wait=0.5, settle_schedule=(0.8, 0.2, 0.2))
    yield tracker
    tracker.close()


def counts(simulator) -> dict[str, int]:
    stats = simulator.sim.stats()
    return {"creates": stats["creates"], "create_v4": stats["create_v4"], "button": stats["button"]}


def finished_parent(tracker, client) -> JobRecord:
    (parent,) = tracker.submit(ImageRequest("a lighthouse at dusk", resolution="1080p"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [parent.id])
    assert latest[parent.id].state is RecordState.SUCCEEDED and latest[parent.id].can_press("U1")
    return latest[parent.id]


# --- creates -------------------------------------------------------------------------------------------


def test_the_intent_is_durable_before_the_request_is_sent(tracker, store, client):
    seen: list[list[JobRecord]] = []

    def send(request):
        seen.append(store.intents())  # what a crash at this moment would leave on disk
        return client.create_images(request)

    records = tracker.intents.create(ImageRequest("write ahead", batch_quantity=2), owner=OWNER, webhook_url=None,
                                     send=send)
    [[intent]] = seen
    assert intent.state is RecordState.SENDING and intent.id.startswith(INTENT_ID_PREFIX)
    assert intent.prompt == "write ahead" and intent.expected_jobs == 2 and intent.owner == OWNER
    assert store.intents() == []  # swapped for the jobs in one transaction
    assert [r.batch_index for r in records] == [0, 1] and {r.batch_id for r in records} == {intent.batch_id}
    assert {r.id for r in store.list_jobs(OWNER).items} == {r.id for r in records}


@pytest.mark.parametrize("fault", sorted(LOST_ANSWERS))
def test_a_create_whose_answer_is_lost_is_kept_as_outcome_unknown(fault, tracker, store, client, simulator):
    before = counts(simulator)
    LOST_ANSWERS[fault](simulator.sim, "create_v4")
    with pytest.raises(OutcomeUnknown) as raised:
        tracker.submit(ImageRequest("a lost answer", batch_quantity=2), client=client, owner=OWNER)
    sentence = raised.value.user_message
    assert "may have accepted" in sentence and "try again" not in sentence.lower()
    assert "connection dropped" in sentence and "in time" not in sentence  # what happened, said
    after = counts(simulator)
    assert after["create_v4"] == before["create_v4"] + 1  # exactly one create was sent
    assert after["creates"] == before["creates"] + 2  # ...and Akool made (and charged) both jobs
    [entry] = store.list_jobs(OWNER).items  # the owner's history shows it, not nothing
    assert entry.state is RecordState.UNKNOWN and entry.is_intent
    assert entry.prompt == "a lost answer" and entry.expected_jobs == 2
    deadline = time.monotonic() + 10  # no webhook, no lookup for a create: the search ends, said plainly
    while store.get(entry.id).search != "gave_up":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    entry = store.get(entry.id)
    assert "could not be found" in entry.error_message and "charged twice" in entry.error_message
    assert not entry.can_check_again and not entry.needs_work  # never polled: it has no Akool id
    assert tracker.delete(entry.id, OWNER)  # dismissable
    assert store.intents() == []


@pytest.mark.parametrize(
    "refusal, error",
    [(lambda sim: sim.fail_next(code=1003, kinds=("create_v4",)), InvalidRequest),
     (lambda sim: sim.fail_next(code=1005, kinds=("create_v4",)), RateLimited)],
    ids=["1003", "1005"],
)
def test_a_create_akool_refused_leaves_nothing(refusal, error, tracker, store, client, simulator):
    refusal(simulator.sim)
    with pytest.raises(error):
        tracker.submit(ImageRequest("refused outright"), client=client, owner=OWNER)
    assert store.list_jobs(OWNER).items == [] and store.intents() == []


def test_a_create_that_never_connected_leaves_nothing(tracker, store):
    with AkoolClient("http://127.0.0.1:9", api_key=API_KEY, retry=FAST, timeout=(0.5, 0.5)) as nowhere:
        with pytest.raises(ConnectError):
            tracker.submit(ImageRequest("no route"), client=nowhere, owner=OWNER)
    assert store.list_jobs(OWNER).items == [] and store.intents() == []


# --- presses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("button", ["U1", "V1"])
@pytest.mark.parametrize("fault", sorted(LOST_ANSWERS))
def test_a_press_whose_answer_is_lost_is_never_offered_again(fault, button, tracker, store, client, simulator):
    parent = finished_parent(tracker, client)
    before = counts(simulator)
    LOST_ANSWERS[fault](simulator.sim, "button")
    with pytest.raises(OutcomeUnknown) as raised:
        tracker.press(parent.id, button, client=client, owner=OWNER)
    assert "carried out this press" in raised.value.user_message
    parent = store.get(parent.id)
    assert button in parent.used_buttons and not parent.can_press(button)
    [child] = store.children(parent.id, owner=OWNER)
    assert child.state is RecordState.UNKNOWN and child.button == button and child.kind == "button"
    with pytest.raises(CannotOperate) as again:  # pressing it anyway: a sentence, not a second charge
        tracker.press(parent.id, button, client=client, owner=OWNER)
    assert again.value.user_message == wording.PRESS_OUTCOME_UNKNOWN
    assert counts(simulator)["button"] == before["button"] + 1
    deadline = time.monotonic() + 10  # then the parent's used_buttons says Akool carried it out
    while any(i.search == "searching" for i in store.intents()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    [child] = store.children(parent.id, owner=OWNER)  # Akool names no job the press made: none adopted
    assert child.is_intent and child.error_message == wording.press_carried_out(button)
    assert "without a webhook" in child.error_message and "nothing more will be charged" in child.error_message
    parent = store.get(parent.id)
    assert button in parent.used_buttons and not parent.can_press(button)  # as Akool shows it
    with pytest.raises(CannotOperate):
        tracker.press(parent.id, button, client=client, owner=OWNER)
    assert counts(simulator)["button"] == before["button"] + 1


def test_a_press_akool_refused_for_another_reason_is_offered_again(tracker, store, client, simulator):
    parent = finished_parent(tracker, client)
    simulator.sim.fail_next(code=1005, kinds=("button",))
    with pytest.raises(RateLimited):
        tracker.press(parent.id, "V2", client=client, owner=OWNER)
    parent = store.get(parent.id)
    assert parent.can_press("V2") and "V2" not in parent.used_buttons
    assert store.children(parent.id) == []
    child = tracker.press(parent.id, "V2", client=client, owner=OWNER)  # and it works when pressed again
    assert child.button == "V2" and child.state in (RecordState.QUEUED, RecordState.PROCESSING)


def test_a_press_refused_as_used_rereads_the_parents_buttons(tracker, store, client):
    parent = finished_parent(tracker, client)
    client.press_button(parent.id, "U3")  # pressed elsewhere (another app, Akool's own page)
    assert store.get(parent.id).can_press("U3")  # our copy is stale
    with pytest.raises(CannotOperate):
        tracker.press(parent.id, "U3", client=client, owner=OWNER)
    parent = store.get(parent.id)
    assert "U3" in parent.used_buttons and not parent.can_press("U3")
    assert parent.can_press("U2")  # the others are still offered
    assert store.children(parent.id) == []


def test_two_presses_of_one_button_at_once_send_one(tracker, store, client, simulator):
    parent = finished_parent(tracker, client)
    simulator.sim.delay(0.3, times=1, kinds=("button",))  # keep the first press in flight a moment
    before = counts(simulator)["button"]
    outcomes: list[object] = []

    def press():
        try:
            outcomes.append(tracker.press(parent.id, "V1", client=client, owner=OWNER))
        except CannotOperate as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, JobRecord) for o in outcomes) == 1
    assert sum(isinstance(o, CannotOperate) for o in outcomes) == 1
    assert counts(simulator)["button"] == before + 1


# --- restarts --------------------------------------------------------------------------------------------


def test_after_a_restart_sending_intents_become_unknown_and_keep_their_button(store, client):
    parent = JobRecord.create("6650a1b2c3d4e5f6a7b8c9d0", OWNER, request={"prompt": "p"}, state=RecordState.SUCCEEDED)
    parent.buttons = ["U1", "U2"]
    store.put(parent)
    create = JobRecord.intent(OWNER, request=ImageRequest("killed mid-create", batch_quantity=3))
    press = JobRecord.intent(OWNER, kind="button", request={"prompt": "p"}, parent_id=parent.id, button="U2")
    store.put_many([create, press])  # what a kill -9 between "sent" and "answer stored" leaves
    tracker = tracker_on(store, client_for=lambda record: client)
    try:
        tracker.resume_unfinished()
    finally:
        tracker.close()
    assert {r.id: r.state for r in store.intents()} == {create.id: RecordState.UNKNOWN, press.id: RecordState.UNKNOWN}
    assert store.get(create.id).error_message in (wording.OUTCOME_UNKNOWN, wording.not_found(
        "generate", "the request was interrupted after it was sent (the app stopped, or the call broke off)"))
    assert not store.get(parent.id).can_press("U2") and store.get(parent.id).can_press("U1")


# --- webhooks adopt what was lost --------------------------------------------------------------------------


class _Callbacks:
    """A tiny HTTP endpoint that keeps what the simulator posts to it (body and query string)."""

    def __init__(self):
        self.received: list[tuple[dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append((body, parse_qs(urlsplit(self.path).query)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/akool"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_adopts_the_jobs_of_a_create_whose_answer_was_lost(tracker, store, simulator):
    hooks = _Callbacks()
    try:
        with AkoolClient(simulator.base_url, api_key=API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                         retry=FAST, timeout=(2.0, 0.5)) as client:
            simulator.sim.drop_connection(times=1, kinds=("create_v4",))
            with pytest.raises(OutcomeUnknown):
                tracker.submit(ImageRequest("adopt me", batch_quantity=2, resolution="1080p"), client=client,
                               owner=OWNER, webhook_url=hooks.url)
            [intent] = store.intents()
            deadline = time.monotonic() + 20
            adopted: set[str] = set()
            while len(adopted) < 2:
                assert time.monotonic() < deadline, "no callbacks for the lost jobs"
                while hooks.received:
                    body, query = hooks.received.pop(0)
                    event = client.parse_webhook(body)
                    assert query == {"intent": [intent.intent_token]}
                    if tracker.on_webhook(event, intent_token=query["intent"][0]):
                        adopted.add(event.job_id)
                time.sleep(0.05)
            assert tracker.on_webhook(event, intent_token="0" * 32) is True  # known now: a plain poke
            _, latest = wait_final(tracker, sorted(adopted))
    finally:
        hooks.close()
    assert store.intents() == []  # both jobs it stood for were adopted
    jobs = store.list_jobs(OWNER).items
    assert {r.id for r in jobs} == adopted
    assert all(r.prompt == "adopt me" and r.batch_id == intent.batch_id for r in jobs)
    assert sorted(r.batch_index for r in jobs) == [0, 1]
    assert all(latest[j].state is RecordState.SUCCEEDED and all(e.is_stored for e in latest[j].images) for j in adopted)


def test_a_webhook_with_a_wrong_token_adopts_nothing(tracker, store, client, simulator):
    simulator.sim.drop_connection(times=1, kinds=("create_v4",))
    with pytest.raises(OutcomeUnknown):
        tracker.submit(ImageRequest("not yours"), client=client, owner=OWNER)
    from akool_ui.akool.webhook import WebhookEvent

    event = WebhookEvent(job_id="6650a1b2c3d4e5f6a7b8c9d1", status=3, type="image", url=None)
    assert tracker.on_webhook(event, intent_token="f" * 32) is False
    assert tracker.on_webhook(event) is False
    assert [r.state for r in store.list_jobs(OWNER).items] == [RecordState.UNKNOWN]


def test_with_intent_token_keeps_an_existing_query():
    assert with_intent_token("https://a.example/hook", "ab" * 16) == f"https://a.example/hook?intent={'ab' * 16}"
    assert with_intent_token("https://a.example/hook?x=1", "cd" * 16) == f"https://a.example/hook?x=1&intent={'cd' * 16}"
    assert with_intent_token(None, "cd" * 16) is None


# --- downloads that gave up ------------------------------------------------------------------------------


@pytest.mark.parametrize("made_by", ["generate", "U1", "V1"])
def test_downloads_that_gave_up_can_be_checked_again(made_by, tracker, store, client, simulator):
    if made_by == "generate":
        simulator.sim.http_status(503, times=None, kinds=("file",))  # every download fails until reset
        (record,) = tracker.submit(ImageRequest("a flaky cdn", resolution="1080p"), client=client, owner=OWNER)
    else:
        parent = finished_parent(tracker, client)
        simulator.sim.http_status(503, times=None, kinds=("file",))
        record = tracker.press(parent.id, made_by, client=client, owner=OWNER)
    expected = 1 if made_by == "U1" else 4
    _, latest = wait_final(tracker, [record.id], timeout=60)
    record = latest[record.id]
    assert record.state is RecordState.FAILED and record.error_message == wording.DOWNLOAD_GAVE_UP
    assert all(e.state is ImageState.ERROR and e.attempts >= MAX_DOWNLOAD_ATTEMPTS for e in record.images)
    assert record.gave_up_downloads and record.can_check_again
    simulator.sim.reset_faults()
    tracker.check_again(record.id, client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id], timeout=30)
    record = latest[record.id]
    assert record.state is RecordState.SUCCEEDED and record.error_message is None
    assert len(record.images) == expected and all(e.is_stored for e in record.images)
    assert not record.can_check_again


def test_timed_out_jobs_are_resumed_at_start_up_but_stopped_ones_are_not(store, client, simulator):
    simulator.sim.set_options(speed=2.0)  # a job takes ~3 s: longer than the first run's deadline
    first = tracker_on(store, poll_interval=0.1, max_poll_interval=0.2, deadline=0.5, client_for=lambda r: client)
    try:
        timed_out, stopped = first.submit(ImageRequest("slow to finish", batch_quantity=2, resolution="1080p"),
                                          client=client, owner=OWNER)
        first.stop(stopped.id, owner=OWNER)
        _, latest = wait_final(first, [timed_out.id, stopped.id])
        assert latest[timed_out.id].state is RecordState.TIMED_OUT
        assert latest[stopped.id].state is RecordState.STOPPED
    finally:
        first.close()
    second = tracker_on(store, poll_interval=0.1, max_poll_interval=0.2, client_for=lambda r: client)
    try:
        assert second.resume_unfinished() == 1
        _, latest = wait_final(second, [timed_out.id], timeout=30)
    finally:
        second.close()
    assert latest[timed_out.id].state is RecordState.SUCCEEDED and all(e.is_stored for e in latest[timed_out.id].images)
    assert store.get(stopped.id).state is RecordState.STOPPED  # someone chose to stop it: left alone


def test_a_crash_after_the_answer_was_stored_recovers_those_exact_jobs(store, client):
    jobs = client.create_images(ImageRequest("answered, then killed", batch_quantity=2, resolution="1080p"))
    intent = JobRecord.intent(OWNER, request=ImageRequest("answered, then killed", batch_quantity=2))
    intent.answered_ids = [job.id for job in jobs]
    store.put(intent)  # what a kill between "ids durable" and "records swapped in" leaves
    tracker = tracker_on(store, poll_interval=0.1, max_poll_interval=0.5, client_for=lambda record: client)
    try:
        assert tracker.resume_unfinished() == 2
        _, latest = wait_final(tracker, [job.id for job in jobs])
    finally:
        tracker.close()
    assert store.intents() == []
    assert [latest[job.id].batch_index for job in jobs] == [0, 1]
    assert all(latest[job.id].state is RecordState.SUCCEEDED and latest[job.id].prompt == "answered, then killed"
               for job in jobs)


def test_the_answers_ids_are_durable_before_the_records_are_made(tracker, store, client):
    seen: list[list[str]] = []
    records_port = store.records  # what the tracker writes to
    real_replace = records_port.replace

    def replace(intent_id, records):
        seen.append(store.get(intent_id).answered_ids)  # on disk already, before the swap
        return real_replace(intent_id, records)

    records_port.replace = replace
    try:
        records = tracker.submit(ImageRequest("ids first", batch_quantity=3), client=client, owner=OWNER)
    finally:
        del records_port.replace
    assert seen == [[r.id for r in records]]
