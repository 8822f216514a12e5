"""AkoolClient.wait / wait_for / run: the status stream, polling pace and the deadline."""

from __future__ import annotations

import pytest

from akool_ui.akool import (
    AkoolClient,
    ImageRequest,
    JobFailed,
    JobNotFound,
    JobStatus,
    JobTimedOut,
    V3ImageRequest,
)
from tests.client_helpers import (  # noqa: F401 - own_simulator/simulator are fixtures
    FakeTime,
    ScriptedServer,
    SimTime,
    make_client,
    own_simulator,
    simulator,
)

JOB_ID = "6650a1b2c3d4e5f6a7b8c9d0"


def info(status: int) -> tuple[int, dict[str, str], dict[str, object]]:
    return 200, {}, {"code": 1000, "msg": "OK", "data": {"_id": JOB_ID, "image_status": status}}


@pytest.fixture()
def scripted():
    servers: list[ScriptedServer] = []

    def make(*statuses: int) -> AkoolClient:
        servers.append(ScriptedServer(*(info(s) for s in statuses)))
        return AkoolClient(servers[-1].url, api_key="ScriptedApiKey0123456789")

    yield make
    for server in servers:
        server.close()


# -- against the simulator -----------------------------------------------------------------------------


def test_wait_yields_queued_processing_done_and_stops_at_done(simulator):
    client = make_client(simulator)
    job = client.create_images_v3(V3ImageRequest(prompt="a slow castle"))
    time = SimTime(simulator)
    updates = list(client.wait(job.id, interval=0.05, max_interval=0.5, sleep=time.sleep, clock=time.clock))
    statuses = [u.status for u in updates]
    assert statuses[0] is JobStatus.QUEUED and statuses[-1] is JobStatus.SUCCEEDED
    assert JobStatus.PROCESSING in statuses
    assert statuses == sorted(statuses)  # never goes backwards
    assert [u.polls for u in updates] == list(range(1, len(updates) + 1))
    changed = [u.status for u in updates if u.changed]
    assert changed == [JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.SUCCEEDED]
    assert updates[-1].job.is_done and not any(u.job.is_done for u in updates[:-1])
    assert [u.elapsed for u in updates] == sorted(u.elapsed for u in updates)


def test_stuck_job_times_out_at_the_deadline_without_sleeping_past_it(simulator):
    client = make_client(simulator)
    simulator.sim.stuck_next()
    job = client.create_images_v3(V3ImageRequest(prompt="never finishes"))
    time = SimTime(simulator)
    seen = []
    with pytest.raises(JobTimedOut) as info:
        for update in client.wait(job.id, interval=4.0, max_interval=8.0, timeout=30, sleep=time.sleep,
                                  clock=time.clock):
            seen.append(update)
    assert (info.value.job_id, info.value.timeout) == (job.id, 30)
    assert sum(time.slept) == pytest.approx(30)  # never slept past the deadline...
    assert time.slept[-1] < 4.0  # ...because the last pause was cut short to end exactly at it
    assert seen[-1].status is JobStatus.PROCESSING and seen[-1].elapsed == pytest.approx(30)


def test_wait_for_returns_the_finished_job(simulator):
    client = make_client(simulator)
    job = client.create_images_v3(V3ImageRequest(prompt="done soon"))
    time = SimTime(simulator)
    done = client.wait_for(job.id, sleep=time.sleep, clock=time.clock)
    assert done.succeeded and done.id == job.id


def test_run_creates_and_waits_for_every_job_of_a_batch(simulator):
    client = make_client(simulator)
    time = SimTime(simulator)
    jobs = client.run(ImageRequest(prompt="a pair", batch_quantity=2), sleep=time.sleep, clock=time.clock)
    assert len(jobs) == 2 and all(job.succeeded for job in jobs)


def test_run_raises_job_failed_for_a_failed_job(simulator):
    client = make_client(simulator)
    simulator.sim.fail_next()
    time = SimTime(simulator)
    with pytest.raises(JobFailed) as info:
        client.run(ImageRequest(prompt="doomed"), sleep=time.sleep, clock=time.clock)
    assert info.value.job.status is JobStatus.FAILED
    assert info.value.user_message


def test_run_shares_one_deadline_between_the_jobs(simulator):
    client = make_client(simulator)
    simulator.sim.stuck_next()
    time = SimTime(simulator)
    with pytest.raises(JobTimedOut):
        client.run(ImageRequest(prompt="stuck"), timeout=20, sleep=time.sleep, clock=time.clock)
    assert sum(time.slept) == pytest.approx(20)


def test_wait_on_an_unknown_job_raises_job_not_found(simulator):
    with pytest.raises(JobNotFound):
        next(make_client(simulator).wait("0123456789abcdef01234567"))


# -- exact pacing against a scripted server ---------------------------------------------------------


def test_pause_grows_while_queued_and_is_brisk_while_processing(scripted):
    client = scripted(1, 1, 1, 1, 1, 2, 2, 2, 3)
    time = FakeTime()
    updates = list(client.wait(JOB_ID, interval=1.0, max_interval=3.0, sleep=time.sleep, clock=time.clock))
    assert [int(u.status) for u in updates] == [1, 1, 1, 1, 1, 2, 2, 2, 3]
    assert time.slept == [1.0, 1.5, 2.25, 3.0, 3.0, 1.0, 1.0, 1.0]


def test_on_update_hears_every_update_that_is_yielded(scripted):
    client = scripted(1, 2, 3)
    time = FakeTime()
    heard = []
    updates = list(client.wait(JOB_ID, on_update=heard.append, sleep=time.sleep, clock=time.clock))
    assert heard == updates and [u.changed for u in updates] == [True, True, True]


def test_unchanged_status_is_flagged_as_unchanged(scripted):
    client = scripted(2, 2, 4)
    time = FakeTime()
    updates = list(client.wait(JOB_ID, sleep=time.sleep, clock=time.clock))
    assert [u.changed for u in updates] == [True, False, True]
    assert updates[-1].status is JobStatus.FAILED  # failure ends the stream without raising


def test_last_pause_is_cut_to_the_deadline_and_a_final_poll_happens_there(scripted):
    client = scripted(2)
    time = FakeTime()
    polls = []
    with pytest.raises(JobTimedOut):
        for update in client.wait(JOB_ID, interval=3.0, timeout=10, sleep=time.sleep, clock=time.clock):
            polls.append(update.elapsed)
    assert time.slept == [3.0, 3.0, 3.0, 1.0]
    assert polls == [0.0, 3.0, 6.0, 9.0, 10.0]


def test_zero_timeout_polls_once_then_times_out(scripted):
    client = scripted(1)
    time = FakeTime()
    with pytest.raises(JobTimedOut):
        list(client.wait(JOB_ID, timeout=0, sleep=time.sleep, clock=time.clock))
    assert time.slept == []


def test_an_already_finished_job_is_one_update_and_no_sleep(scripted):
    client = scripted(3)
    time = FakeTime()
    assert len(list(client.wait(JOB_ID, sleep=time.sleep, clock=time.clock))) == 1 and time.slept == []


@pytest.mark.parametrize("bad", [{"interval": 0}, {"max_interval": -1}, {"timeout": -1}, {"timeout": float("nan")}])
def test_nonsense_wait_settings_are_refused(scripted, bad):
    client = scripted(1)
    with pytest.raises(ValueError):
        next(client.wait(JOB_ID, **bad))
