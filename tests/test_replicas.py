"""Two replicas of the app (real processes) on one Redis and one S3 server: a replica killed mid-job
(SIGKILL) has its job finished, once, by the other; the limits count both replicas' requests; the
history and the images of one are the other's."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client

from akool_ui.adapters.shared import SharedStorage
from akool_ui.jobs import RecordState
from akool_ui.settings import Settings
from akool_ui.simulator import SimulatorServer
from conftest import API_KEY
from replica_helpers import start_replica
from shared_servers import shared_env, unique_prefix


@pytest.fixture()
def replicas(shared_servers, tmp_path):
    """Start replicas with ``start(n, **env)``: all on one Akool simulator and the shared stores."""
    started = []
    prefix = unique_prefix()

    def start(sim: SimulatorServer, **env: str):
        common = {**shared_env(shared_servers, prefix), "AKOOL_BASE_URL": sim.base_url, "AKOOL_API_KEY": API_KEY,
                  "AKOOL_POLL_SCHEDULE": "steady", "AKOOL_POLL_INTERVAL": "0.5", **env}
        replica = start_replica(tmp_path / f"r{len(started)}", common)
        started.append(replica)
        return replica

    start.prefix = prefix
    start.servers = shared_servers
    yield start
    for replica in started:
        replica.stop()


def _storage(replicas, tmp_path) -> SharedStorage:
    env = {**shared_env(replicas.servers, replicas.prefix), "AKOOL_CACHE_DIR": str(tmp_path / "reader")}
    return SharedStorage.from_settings(Settings.from_env(env))


def _wait_final(client: Client, job_id: str, session: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.predict(job_id, "", session, api_name="/job")["jobs"][0]
        if job["state"] in ("succeeded", "failed", "timed_out"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish within {timeout:.0f} s (last state {job['state']})")


def test_a_replica_killed_mid_job_has_its_job_finished_once_by_the_other(replicas, tmp_path):
    with SimulatorServer(api_key=API_KEY, speed=1.0) as sim:  # a job takes ~5 s: time to kill its poller
        a, b = replicas(sim), replicas(sim)
        out = Client(a.url, verbose=False).predict("a lighthouse at dawn", api_name="/generate", wait=False)
        session, job_id = out["session"], out["jobs"][0]["id"]
        storage = _storage(replicas, tmp_path)
        try:
            assert storage.leases.held(f"poll/{job_id}")  # a polls it
            a.kill()
            job = _wait_final(Client(b.url, verbose=False), job_id, session, timeout=60)
            assert job["state"] == "succeeded" and job["images"]
            record = storage.records.get(job_id)
            states = [state for state, _ in record.status_history]
            assert states.count("succeeded") == 1, states
            assert record.state is RecordState.SUCCEEDED
            assert all(e.is_stored and storage.blobs.exists(e.original) for e in record.images)
            assert all(e.attempts <= 1 for e in record.images)
            assert not storage.leases.held(f"poll/{job_id}")  # b gave it back when the job ended
        finally:
            storage.close()


def test_a_visitors_hourly_limit_counts_both_replicas_requests(replicas, simulator):
    a = replicas(simulator, AKOOL_LIMIT_IMAGES_PER_HOUR="2")
    b = replicas(simulator, AKOOL_LIMIT_IMAGES_PER_HOUR="2")
    on_a, on_b = Client(a.url, verbose=False), Client(b.url, verbose=False)
    session = on_a.predict("one", api_name="/generate", wait=False)["session"]
    on_b.predict("two", session=session, api_name="/generate", wait=False)
    for replica in (on_a, on_b):  # the visitor's 2 an hour were spent on both replicas together
        with pytest.raises(Exception, match="2 images in the last hour"):
            replica.predict("three", session=session, api_name="/generate", wait=False)


def test_the_apps_daily_credits_count_both_replicas_requests(replicas, simulator):
    a = replicas(simulator, AKOOL_DAILY_CREDIT_BUDGET="9")
    b = replicas(simulator, AKOOL_DAILY_CREDIT_BUDGET="9")
    on_a, on_b = Client(a.url, verbose=False), Client(b.url, verbose=False)
    session = on_a.predict("one", api_name="/generate", wait=False)["session"]
    on_b.predict("two", session=session, api_name="/generate", wait=False)
    on_a.predict("three", session=session, api_name="/generate", wait=False)  # 3 credits a 1080p generation
    for replica in (on_a, on_b):
        with pytest.raises(Exception, match="credits for today"):
            replica.predict("one too many", session=session, api_name="/generate", wait=False)

def test_both_replicas_show_one_history_with_working_images(replicas, simulator):
    a, b = replicas(simulator), replicas(simulator)
    out = Client(a.url, verbose=False).predict("a red fox", api_name="/generate")
    session, job_id = out["session"], out["jobs"][0]["id"]
    on_b = Client(b.url, verbose=False)
    history = on_b.predict("", session, "", 20, api_name="/history")
    assert [j["id"] for j in history["jobs"]] == [job_id]
    job = on_b.predict(job_id, "", session, api_name="/job")["jobs"][0]
    preview = job["images"][0]["preview"]
    path = preview["path"] if isinstance(preview, dict) else preview
    with open(path, "rb") as f:
        assert f.read(4) in (b"RIFF", b"\x89PNG", b"\xff\xd8\xff\xe0")
    with pytest.raises(Exception):  # someone else's session sees nothing
        Client(b.url, verbose=False).predict(job_id, "", "", api_name="/job")
