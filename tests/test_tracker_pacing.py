"""The tracker on the learned schedule against the simulator: 1005 slows polls down without failing
jobs, a callback saying "processing" costs no poll, finished jobs teach the schedule."""

from __future__ import annotations

import logging

import pytest

from akool_ui.akool.client import AkoolClient
from akool_ui.akool.models import ImageRequest
from akool_ui.akool.polling import PollPolicy
from akool_ui.akool.transport import RetryPolicy
from akool_ui.akool.webhook import WebhookEvent
from akool_ui.jobs import RecordState
from akool_ui.service.runtime.callbacks import NO_PUBLIC_URL, NO_SECRET, VISITOR_KEY, Callbacks
from akool_ui.service.runtime.durations import DurationBook, scaled_prior
from akool_ui.service.runtime.pacing import Pacing
from akool_ui.adapters.local.store import JobStore
from akool_ui.service.runtime.tracker import JobTracker
from akool_ui.settings import Settings
from tests.conftest import API_KEY
from tests.test_simulator_support import private_server
from tests.test_tracker import wait_final
from tests.store_helpers import StoreWithFiles, tracker_on

OWNER = "b-owner-pacing"
FAST = RetryPolicy(backoff=0.01, max_backoff=0.05)
QUICK_AT_20 = scaled_prior({"generate": 5.5 / 20, "variation": 5.5 / 20, "upscale": 4.0 / 20})


def paced_tracker(store: JobStore, client: AkoolClient, *, webhook: bool = False, budget: float | None = None,
                  interval: float = 0.02, prior: dict | None = QUICK_AT_20) -> JobTracker:
    policy = PollPolicy(interval=interval, max_interval=max(0.5, interval), deadline=600.0)
    book = DurationBook(None, {"akool": prior} if prior else None)
    pacing = Pacing(book, policy, expects_webhook=lambda c: webhook)
    return tracker_on(store, policy=policy, pacing=pacing, poll_budget=budget, client_for=lambda record: client)


@pytest.fixture()
def store(tmp_path):
    with StoreWithFiles(tmp_path / "cache") as s:
        yield s


def test_1005_slows_the_credentials_budget_and_every_job_still_succeeds(store, caplog):
    # the account may poll 0.5/s (10/s at speed 20, one at a time); the app would poll far more
    with private_server(speed=20.0, poll_limit=0.5) as server, \
            AkoolClient(server.base_url, api_key=API_KEY, retry=FAST) as client:
        tracker = paced_tracker(store, client, budget=100.0)
        try:
            with caplog.at_level(logging.WARNING):
                records = tracker.submit(ImageRequest("too eager", batch_quantity=4, resolution="1080p"),
                                         client=client, owner=OWNER)
                _, latest = wait_final(tracker, [r.id for r in records], timeout=60)
            assert all(r.state is RecordState.SUCCEEDED for r in latest.values())
            assert server.sim.stats()["rate_limited"] > 0
            assert tracker.budgets.rate_of(client) < 100.0  # slowed down, not failed
            assert "too frequent (1005)" in caplog.text
        finally:
            tracker.close()


def test_a_processing_callback_costs_no_poll_and_a_final_one_costs_one(store):
    with private_server(speed=1.0) as server, AkoolClient(server.base_url, api_key=API_KEY, retry=FAST) as client:
        # Akool's 30-50 s prior: the safety net would poll after more than a minute
        tracker = paced_tracker(store, client, webhook=True, interval=1.0, prior=None)
        try:
            (record,) = tracker.submit(ImageRequest("called back", resolution="1080p"), client=client, owner=OWNER)
            server.sim.advance(2.0)
            assert tracker.on_webhook(WebhookEvent(record.id, 2, "image", None))
            assert store.get(record.id).state is RecordState.PROCESSING
            server.sim.advance(10.0)
            assert tracker.on_webhook(WebhookEvent(record.id, 3, "image", "http://x/y.jpeg"))
            _, latest = wait_final(tracker, [record.id], timeout=30)
            assert latest[record.id].state is RecordState.SUCCEEDED
            assert server.sim.stats()["info_polls"].get(record.id) == 1
            assert tracker.pacing.webhooks_trusted
        finally:
            tracker.close()


def test_finished_jobs_are_learned_per_kind(store):
    # speed 2 (jobs of 2-3 s): a first look comes before the end even on a busy machine, so each end is
    # seen between two polls (a job first seen done teaches nothing: when it ended is unknown)
    with private_server(speed=2.0) as server, AkoolClient(server.base_url, api_key=API_KEY, retry=FAST) as client:
        tracker = paced_tracker(store, client, prior=scaled_prior({"generate": 2.75, "upscale": 2.0}))
        try:
            records = tracker.submit(ImageRequest("learn me", batch_quantity=2, resolution="1080p"),
                                     client=client, owner=OWNER)
            wait_final(tracker, [r.id for r in records], timeout=30)
            child = tracker.press(records[0].id, "U1", client=client, owner=OWNER)
            wait_final(tracker, [child.id], timeout=30)
            book = tracker.pacing.book
            learned = book.learned("akool/generate/1080p")
            assert len(learned) == 2 and all(1.0 < s < 6.0 for s in learned)  # quick jobs: 2.75 s at speed 2
            assert len(book.learned("akool/upscale/1080p")) == 1
        finally:
            tracker.close()


def test_webhooks_are_used_where_possible_and_the_log_says_once_why_not(caplog):
    def callbacks(**env: str) -> Callbacks:
        return Callbacks(Settings.from_env({"AKOOL_CACHE_DIR": "/tmp/x", **env}), demo=False, local_url=lambda: None)

    on_spaces = callbacks(AKOOL_API_KEY="k" * 24, AKOOL_CLIENT_ID="c" * 24, SPACE_HOST="me-studio.hf.space")
    assert on_spaces.url_for(None) == "https://me-studio.hf.space/webhooks/akool"
    assert on_spaces.server_jobs_get_callbacks()
    with caplog.at_level(logging.INFO):
        assert on_spaces.url_for("visitor-key") is None
        assert on_spaces.url_for("visitor-key") is None
        assert callbacks(AKOOL_API_KEY="k" * 24, AKOOL_CLIENT_ID="c" * 24).url_for(None) is None
        assert callbacks(AKOOL_API_KEY="k" * 24, AKOOL_PUBLIC_URL="https://x.example").url_for(None) is None
    assert caplog.text.count(VISITOR_KEY) == 1
    assert NO_PUBLIC_URL in caplog.text and NO_SECRET in caplog.text
    demo = Callbacks(Settings.from_env({"AKOOL_CACHE_DIR": "/tmp/x"}), demo=True, local_url=lambda: "http://127.0.0.1:7")
    assert demo.url_for(None) == "http://127.0.0.1:7/webhooks/akool"


def test_a_callback_heard_by_a_replica_that_does_not_poll_the_job_has_its_poller_look_now(shared_servers, tmp_path):
    # Two replicas on one shared store: one polls the job (its lease), the callback lands on the other.
    # The one that heard it cannot poll it (the lease is the first's), so it passes the callback on and the
    # poller looks at once, instead of at its safety-net poll more than a minute later.
    from akool_ui.adapters.shared import SharedStorage
    from shared_servers import shared_env, unique_prefix

    env = shared_env(shared_servers, unique_prefix())

    def replica(name: str) -> SharedStorage:
        return SharedStorage.from_settings(Settings.from_env({**env, "AKOOL_CACHE_DIR": str(tmp_path / name)}))

    with private_server(speed=1.0) as server, AkoolClient(server.base_url, api_key=API_KEY, retry=FAST) as client, \
            replica("polling") as one, replica("hearing") as two:
        polling = paced_tracker(one, client, webhook=True, interval=1.0, prior=None)
        hearing = paced_tracker(two, client, webhook=True, interval=1.0, prior=None)
        try:
            (record,) = polling.submit(ImageRequest("called back elsewhere", resolution="1080p"), client=client,
                                       owner=OWNER)
            server.sim.advance(60.0)  # done on Akool's side; the poller's next look is its safety net
            assert hearing.on_webhook(WebhookEvent(record.id, 3, "image", "http://x/y.jpeg"))
            assert not hearing.is_tracking(record.id)  # still the first replica's job
            _, latest = wait_final(polling, [record.id], timeout=20)
            assert latest[record.id].state is RecordState.SUCCEEDED and latest[record.id].all_images_stored
            assert server.sim.stats()["info_polls"].get(record.id) == 1  # one poll, by the poller, at once
        finally:
            polling.close()
            hearing.close()
