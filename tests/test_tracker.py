"""JobTracker against the simulator over real HTTP: polling, subscriptions, downloads, faults, resume."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from akool_ui.akool.client import AkoolClient
from akool_ui.akool.errors import CannotOperate, GenerationFailed, JobNotFound
from akool_ui.akool.models import ImageRequest
from akool_ui.akool.transport import RetryPolicy
from akool_ui.akool.webhook import parse_webhook
from akool_ui.jobs import ImageState, JobRecord, RecordState
from akool_ui.adapters.local.store import JobStore
from akool_ui.service.runtime.tracker import JobTracker

from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET
from tests.store_helpers import StoreWithFiles, tracker_on

OWNER = "b-owner-one"
FAST = RetryPolicy(backoff=0.01, max_backoff=0.05)


@pytest.fixture()
def client(simulator):
    with AkoolClient(simulator.base_url, api_key=API_KEY, retry=FAST) as c:
        yield c


@pytest.fixture()
def store(tmp_path):
    with StoreWithFiles(tmp_path / "cache") as s:
        yield s


@pytest.fixture()
def make_tracker(store, client):
    made = []

    def make(**kwargs):
        kwargs.setdefault("poll_interval", 0.1)
        kwargs.setdefault("max_poll_interval", 0.5)
        kwargs.setdefault("client_for", lambda record: client)
        tracker = tracker_on(store, **kwargs)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close()


def wait_final(tracker, ids, timeout=20.0):
    """Drain a subscription until every job is final; returns (events, latest records)."""
    events = []
    with tracker.subscribe(ids) as sub:
        deadline = time.monotonic() + timeout
        while not sub.done:
            assert time.monotonic() < deadline, f"jobs not final in {timeout}s: {[r.state for r in sub.records.values()]}"
            event = sub.get(timeout=0.5)
            if event is not None:
                events.append(event)
        # ``done`` looks at the latest records, which can run ahead of the events not read yet
        while (event := sub.get(timeout=0)) is not None:
            events.append(event)
        return events, sub.records


def tracker_threads():
    return sum(1 for t in threading.enumerate() if t.name.startswith("akool-"))


def image_of(store, relative):
    return Image.open(store.local_path(relative))


def test_batch_of_two_is_polled_downloaded_and_stored_as_real_images(make_tracker, store, client):
    tracker = make_tracker()
    records = tracker.submit(ImageRequest("a red fox", batch_quantity=2, resolution="1080p", scale="16:9"),
                             client=client, owner=OWNER)
    assert len(records) == 2 and records[0].batch_id == records[1].batch_id
    events, latest = wait_final(tracker, [r.id for r in records])
    states = [e.state for e in events if e.job_id == records[0].id]
    assert states[0] is RecordState.QUEUED and RecordState.DOWNLOADING in states
    assert states[-1] is RecordState.SUCCEEDED
    for record in latest.values():
        assert record.state is RecordState.SUCCEEDED
        assert record.buttons == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]
        assert [e.state for e in record.images] == [ImageState.STORED] * 4
        for entry in record.images:
            original = image_of(store, entry.original)
            assert original.size == (1920, 1080)
            preview = image_of(store, entry.preview)
            assert preview.format == "WEBP" and max(preview.size) <= 768
        # candidates differ from each other (real renders, not one flat image)
        first, second = (image_of(store, e.original).convert("RGB").resize((32, 18)) for e in record.images[:2])
        assert first.tobytes() != second.tobytes()


def test_grid_without_candidate_urls_is_split_into_four_locally(make_tracker, store, client, simulator):
    simulator.sim.set_options(result_shape="grid")
    tracker = make_tracker()
    (record,) = tracker.submit(ImageRequest("a grid of cats", resolution="1080p"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id])
    record = latest[record.id]
    assert record.state is RecordState.SUCCEEDED
    assert len(record.images) == 4 and all(e.is_stored for e in record.images)
    grid = client.get_job(record.id).image_url
    import requests

    whole = Image.open(io.BytesIO(requests.get(grid, timeout=10).content)).convert("RGB")
    w, h = whole.size
    quadrant = whole.crop((w // 2, 0, w, h // 2))  # candidate 2 sits top right
    stored = image_of(store, record.images[1].original).convert("RGB")
    assert stored.size == quadrant.size
    probe = (stored.size[0] // 3, stored.size[1] // 3)
    assert max(abs(a - b) for a, b in zip(stored.getpixel(probe), quadrant.getpixel(probe))) < 24


def test_single_image_shape_gives_one_image_and_no_buttons(make_tracker, store, client, simulator):
    simulator.sim.set_options(result_shape="single")
    tracker = make_tracker()
    (record,) = tracker.submit(ImageRequest("one lighthouse", resolution="1080p"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id])
    record = latest[record.id]
    assert record.state is RecordState.SUCCEEDED
    assert len(record.images) == 1 and record.images[0].is_stored and record.buttons == []


def test_pressing_u1_makes_a_4k_child_linked_to_its_parent_and_marks_u1_used(make_tracker, store, client, simulator):
    tracker = make_tracker()
    (parent,) = tracker.submit(ImageRequest("a castle", resolution="1080p"), client=client, owner=OWNER)
    wait_final(tracker, [parent.id])
    child = tracker.press(parent.id, "U1", client=client, owner=OWNER)
    assert child.parent_id == parent.id and child.button == "U1" and child.kind == "button"
    assert child.lineage_label.startswith("U1 of ")
    _, latest = wait_final(tracker, [child.id])
    child = latest[child.id]
    assert child.state is RecordState.SUCCEEDED and len(child.images) == 1
    assert max(child.images[0].width, child.images[0].height) >= 3840
    parent = store.get(parent.id)
    assert "U1" in parent.used_buttons and "U1" not in parent.buttons
    creates = simulator.sim.stats()["button"]
    with pytest.raises(CannotOperate) as excinfo:
        tracker.press(parent.id, "U1", client=client, owner=OWNER)
    assert "already been used" in excinfo.value.user_message
    assert simulator.sim.stats()["button"] == creates  # refused locally: no credit spent
    assert [c.id for c in store.children(parent.id)] == [child.id]


def test_another_owner_cannot_press_or_read_a_job(make_tracker, client):
    tracker = make_tracker()
    (record,) = tracker.submit(ImageRequest("private"), client=client, owner=OWNER)
    assert tracker.get(record.id, "b-someone-else") is None
    with pytest.raises(JobNotFound):
        tracker.press(record.id, "U1", client=client, owner="b-someone-else")
    assert tracker.delete(record.id, "b-someone-else") is False
    assert tracker.history("b-someone-else").items == []


def test_one_poll_per_job_per_interval_however_many_subscribers(make_tracker, client, simulator):
    jobs, subscribers_per_job, interval, window = 50, 3, 0.5, 3.0
    simulator.sim.stuck_next(times=jobs)  # stay "processing": polled at the steady interval
    baseline_threads = tracker_threads()
    tracker = make_tracker(poll_interval=interval, max_poll_interval=interval)
    records = []
    for _ in range(jobs // 4 + 1):
        records += tracker.submit(ImageRequest("stuck", batch_quantity=4, resolution="1080p"), client=client, owner=OWNER)
    records = records[:jobs]
    simulator.sim.reset_stats()
    subs = [tracker.subscribe(r.id) for r in records for _ in range(subscribers_per_job)]
    time.sleep(window)
    polls = simulator.sim.stats()["info_polls"]
    threads = tracker_threads() - baseline_threads
    for sub in subs:
        sub.close()
    per_job = [polls.get(r.id, 0) for r in records]
    # one poller per job: about window / interval polls, never one per subscriber
    assert max(per_job) <= window / interval + 2, per_job
    assert min(per_job) >= 2, per_job
    assert threads <= tracker.stats()["threads"]  # bounded pools, not a thread per job or subscriber


def test_webhook_completes_a_job_without_waiting_for_its_next_poll(make_tracker, client, simulator):
    tracker = make_tracker(poll_interval=60.0, max_poll_interval=60.0)  # polling alone would take a minute
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            event = parse_webhook(body, CLIENT_ID, CLIENT_SECRET)
            received.append(event.status)
            tracker.on_webhook(event)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (record,) = tracker.submit(
            ImageRequest("called back", resolution="1080p"), client=client, owner=OWNER,
            webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hook",
        )
        _, latest = wait_final(tracker, [record.id], timeout=30)  # polling alone: 60 s
    finally:
        server.shutdown()
    assert latest[record.id].state is RecordState.SUCCEEDED
    assert 3 in received
    assert simulator.sim.stats()["info_polls"][record.id] <= 3


def test_unknown_or_foreign_webhook_job_is_ignored(make_tracker):
    from akool_ui.akool.webhook import WebhookEvent

    tracker = make_tracker()
    assert tracker.on_webhook(WebhookEvent(job_id="6650a1b2c3d4e5f6a7b8c9d0", status=3, type="image", url=None)) is False
    assert tracker.on_webhook(WebhookEvent(job_id="../../etc", status=3, type="image", url=None)) is False


@pytest.mark.parametrize(
    "fault",
    [
        lambda sim: sim.http_status(502, times=2, kinds=("file",)),
        lambda sim: sim.drop_connection(times=2, kinds=("file",)),
        lambda sim: sim.truncate_body(times=2, kinds=("file",)),
    ],
    ids=["502-burst", "dropped-connection", "truncated-body"],
)
def test_download_faults_are_retried_until_every_image_is_stored(make_tracker, store, client, simulator, fault):
    tracker = make_tracker()
    fault(simulator.sim)
    (record,) = tracker.submit(ImageRequest("faulty cdn", resolution="1080p"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id], timeout=30)
    record = latest[record.id]
    assert record.state is RecordState.SUCCEEDED
    assert all(e.is_stored for e in record.images)
    for entry in record.images:
        assert image_of(store, entry.original).size == (1080, 1080)


def test_persistent_download_failure_keeps_the_remote_url_and_retries_later(make_tracker, store, client, simulator):
    tracker = make_tracker()
    simulator.sim.http_status(503, times=3 * 4, kinds=("file",))  # every try of the first attempt fails
    (record,) = tracker.submit(ImageRequest("slow cdn", resolution="1080p"), client=client, owner=OWNER)
    deadline = time.monotonic() + 20
    while not any(e.state is ImageState.ERROR for e in (store.get(record.id).images or [])):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    errored = store.get(record.id)
    assert errored.state is RecordState.DOWNLOADING
    assert all(e.remote_url for e in errored.images)
    _, latest = wait_final(tracker, [record.id], timeout=30)  # the retry after a pause succeeds
    assert latest[record.id].state is RecordState.SUCCEEDED
    assert all(e.is_stored for e in latest[record.id].images)


def test_expired_urls_give_a_clear_expired_state(store):
    from akool_ui.simulator import SimulatorServer

    with SimulatorServer(api_key=API_KEY, speed=20.0) as private:  # moving its clock must not touch others
        client = AkoolClient(private.base_url, api_key=API_KEY, retry=FAST)
        tracker = tracker_on(store, poll_interval=0.1, max_poll_interval=0.5)
        try:
            (record,) = tracker.submit(ImageRequest("too late", resolution="1080p"), client=client, owner=OWNER)
            private.sim.advance(8 * 24 * 3600)  # done long ago, and Akool's copies are gone
            _, latest = wait_final(tracker, [record.id])
        finally:
            tracker.close()
    record = latest[record.id]
    assert record.state is RecordState.FAILED
    assert all(e.state is ImageState.EXPIRED for e in record.images)
    assert "expire" in record.error_message


def test_failed_job_reports_a_plain_sentence(make_tracker, client, simulator):
    tracker = make_tracker()
    simulator.sim.fail_next()
    (record,) = tracker.submit(ImageRequest("doomed"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id])
    record = latest[record.id]
    assert record.state is RecordState.FAILED
    assert record.error_message and record.error_message.endswith(".")
    assert record.images == []


def test_create_refused_with_1108_stores_nothing(make_tracker, store, client, simulator):
    tracker = make_tracker()
    simulator.sim.fail_next(code=1108)
    with pytest.raises(GenerationFailed):
        tracker.submit(ImageRequest("refused"), client=client, owner=OWNER)
    assert store.list_jobs(OWNER).items == []


def test_stuck_job_times_out_and_check_again_resumes_polling(make_tracker, client, simulator):
    tracker = make_tracker(deadline=1.0)
    simulator.sim.stuck_next()
    (record,) = tracker.submit(ImageRequest("forever"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id])
    assert latest[record.id].state is RecordState.TIMED_OUT
    polls = simulator.sim.stats()["info_polls"][record.id]
    resumed = tracker.check_again(record.id, client=client, owner=OWNER)
    assert resumed.state is RecordState.PROCESSING
    _, latest = wait_final(tracker, [record.id])
    assert latest[record.id].state is RecordState.TIMED_OUT
    assert simulator.sim.stats()["info_polls"][record.id] > polls
    with pytest.raises(JobNotFound):
        tracker.check_again(record.id, client=client, owner="b-not-the-owner")


def test_corrupt_and_foreign_records_are_skipped_with_a_warning(make_tracker, store, client, caplog):
    (good,) = make_tracker().submit(ImageRequest("good"), client=client, owner=OWNER)
    store._cache.set("job:0123456789abcdef01234567", "{not json", retry=True)
    store._cache.set("job:aaaaaaaaaaaaaaaaaaaaaaaa", json.dumps({"v": 99, "id": "x"}), retry=True)
    store._cache.set("foreign-key", "something else", retry=True)
    (store.cache_dir / "garbage.bin").write_bytes(b"\x00\xff" * 100)
    tracker = make_tracker()
    tracker.resume_unfinished()
    _, latest = wait_final(tracker, [good.id])
    assert latest[good.id].state is RecordState.SUCCEEDED
    assert [r.id for r in tracker.history(OWNER).items] == [good.id]


def test_candidates_listed_a_moment_after_done_are_downloaded_not_split(make_tracker, store, client, simulator):
    simulator.sim.set_options(upscaled_lag=0.15)  # "done" with only the grid, candidates 0.15 s later
    tracker = make_tracker()
    (record,) = tracker.submit(ImageRequest("lagging candidates", resolution="1080p"), client=client, owner=OWNER)
    _, latest = wait_final(tracker, [record.id])
    record = latest[record.id]
    assert record.state is RecordState.SUCCEEDED
    assert len(set(record.remote_urls)) == 4  # four candidate URLs, not one grid URL four times
    assert all(image_of(store, e.original).size == (1080, 1080) for e in record.images)


def test_stop_ends_the_polling_keeps_the_job_and_check_again_resumes_it(make_tracker, client, simulator, store):
    """Akool has no cancel: a stopped job is kept (STOPPED, resumable), nobody polls it, and "check
    again" picks it up and finishes it."""
    from akool_ui.jobs import events as ev

    simulator.sim.stuck_next(times=1)
    tracker = make_tracker()
    (record,) = tracker.submit(ImageRequest(prompt="stop me"), client=client, owner=OWNER)
    with tracker.subscribe([record.id]) as sub:
        stopped = tracker.stop(record.id, owner=OWNER)
        assert stopped.state is RecordState.STOPPED and not tracker.is_tracking(record.id)
        seen = []
        while (event := sub.get(timeout=0.5)) is not None:
            seen.append(type(event))
        assert ev.Stopped in seen
    polls = simulator.sim.stats()["info"]
    time.sleep(0.5)  # five poll intervals: a tracked job would have been polled
    assert simulator.sim.stats()["info"] == polls
    assert store.get(record.id).state is RecordState.STOPPED
    assert record.id not in {r.id for r in store.in_flight()}  # a restart does not resume it either
    with pytest.raises(JobNotFound):
        tracker.stop(record.id, owner="someone-else")
    resumed = tracker.check_again(record.id, client=client, owner=OWNER)
    assert resumed.state is RecordState.PROCESSING and tracker.is_tracking(record.id)
    deadline = time.monotonic() + 5
    while simulator.sim.stats()["info"] == polls:  # polled again
        assert time.monotonic() < deadline, "check again did not resume polling"
        time.sleep(0.05)


def test_closing_while_files_are_still_queued_lets_every_download_thread_end(make_tracker, client, simulator, store):
    # One download turn and two fetch workers: of a job's four files two are fetched (held 2 s each by the
    # simulator) and two wait in the queue when the tracker closes. The queued two are cancelled; the turn
    # must see that and end, or the process could never exit (the interpreter joins pool threads).
    simulator.sim.delay(2.0, times=None, kinds=("file",))
    tracker = make_tracker(download_workers=1)
    (record,) = tracker.submit(ImageRequest("held files", resolution="1080p"), client=client, owner=OWNER)
    deadline = time.monotonic() + 20
    while store.records.get(record.id).state is not RecordState.DOWNLOADING:
        assert time.monotonic() < deadline, "the job never started downloading"
        time.sleep(0.05)
    time.sleep(0.3)  # the turn is waiting on its fetches
    tracker.close()
    for thread in [t for t in threading.enumerate() if t.name.startswith("akool-download")]:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a download turn still waits on fetches cancelled by close()"
    latest = store.records.get(record.id)
    assert any(entry.needs_download for entry in latest.images)  # left for the next start, not lost


def _orphaned_mid_download(make_tracker, simulator, store, client, prompt: str) -> JobRecord:
    """A job whose first poller saw it done and closed while its files were still coming (a replica that
    died mid-download: its lease released, as a dead replica's lapses)."""
    simulator.sim.delay(1.5, times=None, kinds=("file",))
    first = make_tracker(download_workers=1)
    (record,) = first.submit(ImageRequest(prompt, resolution="1080p"), client=client, owner=OWNER)
    deadline = time.monotonic() + 20
    while store.records.get(record.id).state is not RecordState.DOWNLOADING:
        assert time.monotonic() < deadline, "the job never started downloading"
        time.sleep(0.05)
    first.close()
    simulator.sim.reset_faults()
    return store.records.get(record.id)


def test_a_job_adopted_mid_download_is_downloaded_with_the_links_already_seen(make_tracker, client, simulator, store):
    record = _orphaned_mid_download(make_tracker, simulator, store, client, "adopted mid-download")
    polls = simulator.sim.stats()["info_polls"].get(record.id, 0)
    second = make_tracker()
    assert second.adopt_orphans() == 1
    _, latest = wait_final(second, [record.id])
    assert latest[record.id].state is RecordState.SUCCEEDED and latest[record.id].all_images_stored
    assert simulator.sim.stats()["info_polls"].get(record.id, 0) == polls  # no poll to be told it again


def test_a_job_found_downloading_with_links_seen_long_ago_is_asked_about_first(make_tracker, client, simulator, store):
    from akool_ui.service.runtime.turns import FRESH_LINKS_SECONDS

    record = _orphaned_mid_download(make_tracker, simulator, store, client, "links seen long ago")
    polls = simulator.sim.stats()["info_polls"].get(record.id, 0)

    def seen_long_ago(rec: JobRecord) -> None:
        rec.status_history = [(state, at - FRESH_LINKS_SECONDS - 60) for state, at in rec.status_history]

    store.records.update(record.id, seen_long_ago)
    second = make_tracker()
    assert second.adopt_orphans() == 1
    _, latest = wait_final(second, [record.id])
    assert latest[record.id].state is RecordState.SUCCEEDED and latest[record.id].all_images_stored
    assert simulator.sim.stats()["info_polls"].get(record.id, 0) == polls + 1  # fresh links first


def test_an_orphan_is_adopted_at_its_next_planned_look_not_polled_at_once(make_tracker, client, simulator):
    # The first poller stops (its lease released, as a dead replica's lapses); another takes the job on.
    # With learned durations of ~40 s, a job seconds old is next looked at later on: adopting it must not
    # add a poll of its own (the bench's polls_per_job rose by a poll per adopted job).
    from akool_ui.akool.polling import PollPolicy
    from akool_ui.service.runtime.durations import DurationBook
    from akool_ui.service.runtime.pacing import Pacing

    simulator.sim.stuck_next(times=1)
    first = make_tracker()
    (record,) = first.submit(ImageRequest("orphan", resolution="1080p"), client=client, owner=OWNER)
    first.close()
    book = DurationBook(None)
    for _ in range(20):
        book.record("akool/generate/1080p", 40.0)
    policy = PollPolicy(interval=1.0, max_interval=5.0, deadline=600.0)
    second = make_tracker(pacing=Pacing(book, policy, backend_of=lambda c: "akool"), policy=policy)
    assert second.adopt_orphans() == 1
    assert second.adopt_orphans() == 0  # tracked now: never taken on twice
    due = second.scheduler._tracked[record.id].due
    assert due - time.monotonic() > 2.0, "the adopted job was polled at once instead of at its planned look"
