"""Nothing is lost when the process holding a job is killed (-9) mid-flight or mid-download."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from akool_ui.akool.client import AkoolClient
from akool_ui.jobs import RecordState
from akool_ui.adapters.local.store import JobStore
from akool_ui.service.runtime.tracker import JobTracker
from akool_ui.simulator import SimulatorServer
from tests.conftest import API_KEY
from tests.store_helpers import StoreWithFiles, tracker_on

ROOT = Path(__file__).resolve().parents[1]

HOLDER = textwrap.dedent(
    """
    import sys, time
    from akool_ui.akool.client import AkoolClient
    from akool_ui.akool.models import ImageRequest
    from akool_ui.bootstrap import assemble_tracker

    base_url, key, cache = sys.argv[1:4]
    client = AkoolClient(base_url, api_key=key)
    tracker = assemble_tracker(cache, poll_interval=0.2, max_poll_interval=0.5)
    (record,) = tracker.submit(ImageRequest("kill me", resolution="1080p"), client=client, owner="b-killed")
    print(record.id, flush=True)
    time.sleep(600)
    """
)


@pytest.fixture()
def slow_simulator():
    """Speed 2: a job takes ~3 s, long enough to kill its holder in the middle."""
    with SimulatorServer(api_key=API_KEY, speed=2.0) as server:
        yield server


def start_holder(base_url: str, cache: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, base_url, API_KEY, str(cache)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    job_id = proc.stdout.readline().strip()
    assert len(job_id) == 24, f"holder printed {job_id!r}"
    return proc, job_id


def resume_and_finish(base_url: str, cache: Path, job_id: str) -> None:
    client = AkoolClient(base_url, api_key=API_KEY)
    store = StoreWithFiles(cache)
    tracker = tracker_on(store, poll_interval=0.2, max_poll_interval=0.5, client_for=lambda record: client)
    try:
        assert tracker.resume_unfinished() == 1
        deadline = time.monotonic() + 60
        with tracker.subscribe(job_id) as sub:
            while not sub.done:
                assert time.monotonic() < deadline, "resumed job did not finish"
                sub.get(timeout=0.5)
        record = store.get(job_id)
        assert record.state is RecordState.SUCCEEDED
        assert len(record.images) == 4
        for entry in record.images:
            assert store.local_path(entry.original).stat().st_size > 0
            assert store.local_path(entry.preview).stat().st_size > 0
    finally:
        tracker.close()
        store.close()


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_kill_9_while_the_job_is_in_flight_loses_nothing(slow_simulator, tmp_path):
    cache = tmp_path / "cache"
    proc, job_id = start_holder(slow_simulator.base_url, cache)
    try:
        wait_until(lambda: slow_simulator.sim.stats()["info_polls"].get(job_id, 0) >= 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    with StoreWithFiles(cache) as store:
        assert store.get(job_id).state in (RecordState.QUEUED, RecordState.PROCESSING)
    resume_and_finish(slow_simulator.base_url, cache, job_id)


def test_kill_9_in_the_middle_of_downloading_loses_nothing(slow_simulator, tmp_path):
    cache = tmp_path / "cache"
    slow_simulator.sim.delay(30, times=8, kinds=("file",))  # downloads hang until the holder is dead
    proc, job_id = start_holder(slow_simulator.base_url, cache)
    try:
        with StoreWithFiles(cache) as store:
            wait_until(lambda: (r := store.get(job_id)) is not None and r.state is RecordState.DOWNLOADING)
            wait_until(lambda: slow_simulator.sim.stats()["file"] >= 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    slow_simulator.sim.reset_faults()
    resume_and_finish(slow_simulator.base_url, cache, job_id)
