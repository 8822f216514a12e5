"""kill -9 the real app at the worst moments, restart it on the same cache, and compare with Akool.

The app (``python app.py``, a subprocess) talks to a simulator in this process, driven through
gradio_client as a script would. The simulator's fault injection holds an answer back, so the kill lands
exactly between "request sent" and "answer stored" (Akool has made the jobs, the app has no job id), or
between "answer stored" and "downloads done". After the restart, every job the simulator holds (its own
``state_dir/jobs``) must be in the app's history, adopted from a webhook or covered by an "outcome
unknown" entry, no image may be missing or half-written, and no button may be offered twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from akool_ui.simulator import SimulatorServer
from akool_ui.jobs import wording
from akool_ui.jobs.record import INTENT_ID_PREFIX

from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET
from tests.e2e.conftest import AppProcess

SESSION = "crash-safety-session-0001"
HELD = 60.0  # seconds an answer is held back: far longer than the test needs to kill the app


@pytest.fixture()
def sim(tmp_path):
    server = SimulatorServer(api_key=API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, speed=8.0,
                             state_dir=tmp_path / "simulator")
    server.state_dir = tmp_path / "simulator"  # read by sim_job_ids
    with server:
        yield server


def start_app(tmp_path: Path, sim: SimulatorServer, *, webhooks: bool) -> AppProcess:
    app = AppProcess(tmp_path / "cache", tmp_path / "app.log")
    app.extra_env.update(AKOOL_BASE_URL=sim.base_url, AKOOL_API_KEY=API_KEY, AKOOL_JOB_DEADLINE="120")
    if webhooks:
        app.extra_env.update(AKOOL_CLIENT_ID=CLIENT_ID, AKOOL_CLIENT_SECRET=CLIENT_SECRET, AKOOL_PUBLIC_URL=app.url)
    return app.start()


def kill_9(app: AppProcess) -> None:
    assert app.proc is not None
    app.proc.kill()
    app.proc.wait(timeout=10)


def sim_job_ids(sim: SimulatorServer) -> set[str]:
    """The simulator's own list of every job it made (its state folder: one file per job)."""
    return {path.stem for path in (sim.state_dir / "jobs").glob("*.json")}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.2)


def in_background(fn) -> threading.Thread:
    """A gradio_client call that the kill will cut off: its failure is expected and ignored."""

    def run():
        try:
            fn()
        except Exception:  # the app died under it
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def history(client: Client) -> list[dict]:
    return client.predict(session=SESSION, limit=100, api_name="/history")["jobs"]


def job(client: Client, job_id: str) -> dict:
    return client.predict(job_id=job_id, session=SESSION, api_name="/job")["jobs"][0]


def state_of(client: Client, job_id: str) -> dict | None:
    """The job once the app knows it (None before: e.g. until a webhook adopts it)."""
    try:
        return job(client, job_id)
    except Exception as exc:  # gradio_client's AppError: "There is no job with that id..."
        assert "no job with that id" in str(exc)
        return None


def finished(client: Client, job_id: str) -> dict:
    return wait_for(lambda: (j := state_of(client, job_id)) is not None and j["state"] == "succeeded" and j, 60,
                    f"job {job_id} to succeed")


def generate(client: Client, prompt: str, batch: int = 1, wait: bool = True) -> dict:
    return client.predict(prompt=prompt, batch=batch, resolution="1080p", session=SESSION, wait=wait,
                          api_name="/generate")


def assert_every_simulator_job_is_accounted_for(client: Client, sim: SimulatorServer) -> list[dict]:
    jobs = history(client)
    known = {j["id"] for j in jobs}
    unknown_entries = [j for j in jobs if j["state"] == "unknown"]
    missing = sim_job_ids(sim) - known
    covered = sum(j["request"].get("batch_quantity", 1) if j["kind"] == "generate" else 1 for j in unknown_entries)
    assert len(missing) <= covered, f"jobs Akool made that the app lost: {sorted(missing)}"
    for entry in unknown_entries:
        # still being looked for ("may have"), or a press the restarted app already settled from its parent's
        # used buttons (which job it made is not said: it is named as carried out, never as not sent)
        settled_press = (entry["kind"] == "button"
                         and entry["error_message"] == wording.press_carried_out(entry["button"]))
        assert entry["id"].startswith(INTENT_ID_PREFIX) and ("may have" in entry["error_message"] or settled_press)
    return jobs


def assert_images_whole(tmp_path: Path) -> None:
    images = tmp_path / "cache" / "images"
    leftovers = [p for p in images.rglob(".*.tmp")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


@pytest.mark.parametrize("webhooks", [False, True], ids=["polling", "webhooks"])
def test_kill_between_create_sent_and_answer_stored(tmp_path, sim, webhooks):
    app = start_app(tmp_path, sim, webhooks=webhooks)
    try:
        if webhooks:
            sim.sim.set_options(speed=0.01)  # nothing moves until the restarted app is up: see advance() below
        sim.sim.delay(HELD, times=1, kinds=("create_v4",))
        in_background(lambda: generate(Client(app.url, verbose=False), "killed mid-create", batch=2, wait=False))
        wait_for(lambda: len(sim_job_ids(sim)) == 2, 30, "the simulator to make the jobs")
        kill_9(app)
        sim.sim.reset_faults()
        app.start()
        client = Client(app.url, verbose=False)
        jobs = assert_every_simulator_job_is_accounted_for(client, sim)
        if webhooks:  # Akool's callbacks carry the intent's token: both jobs are adopted, then finished
            sim.sim.advance(3600)  # the jobs finish now, with the app back up: their callbacks reach it
            made = sim_job_ids(sim)
            wait_for(lambda: {j["id"] for j in history(client)} == made, 60,
                     lambda: f"the webhooks to adopt both jobs of {made}: {history(client)}")
            for job_id in made:
                done = finished(client, job_id)
                assert done["prompt"] == "killed mid-create" and len(done["images"]) == 4
        else:
            [entry] = jobs
            assert entry["state"] == "unknown" and entry["prompt"] == "killed mid-create"
        assert_images_whole(tmp_path)
    finally:
        app.stop()


@pytest.mark.parametrize("webhooks", [False, True], ids=["polling", "webhooks"])
def test_kill_between_press_sent_and_answer_stored(tmp_path, sim, webhooks):
    app = start_app(tmp_path, sim, webhooks=webhooks)
    try:
        client = Client(app.url, verbose=False)
        [parent] = generate(client, "a parent to press")["jobs"]
        assert parent["state"] == "succeeded" and "V2" in parent["buttons"]
        if webhooks:
            sim.sim.set_options(speed=0.01)
        sim.sim.delay(HELD, times=1, kinds=("button",))
        presses = sim.sim.stats()["button"]
        in_background(lambda: Client(app.url, verbose=False).predict(
            job_id=parent["id"], button="V2", session=SESSION, wait=False, api_name="/press_button"))
        wait_for(lambda: len(sim_job_ids(sim)) == 2, 30, "the simulator to make the child")
        kill_9(app)
        sim.sim.reset_faults()
        app.start()
        client = Client(app.url, verbose=False)
        assert_every_simulator_job_is_accounted_for(client, sim)
        after = job(client, parent["id"])
        assert "V2" not in after["buttons"] and "V2" in after["used_buttons"]  # never offered twice
        with pytest.raises(Exception) as again:
            client.predict(job_id=parent["id"], button="V2", session=SESSION, wait=False, api_name="/press_button")
        assert "V2" in str(again.value) or "pressed" in str(again.value)
        assert sim.sim.stats()["button"] == presses + 1  # pressing it anyway sent nothing
        if webhooks:
            sim.sim.advance(3600)
            [child_id] = sim_job_ids(sim) - {parent["id"]}
            child = finished(client, child_id)
            assert child["parent_id"] == parent["id"] and child["button"] == "V2"
        assert_images_whole(tmp_path)
    finally:
        app.stop()


@pytest.mark.parametrize("kind", ["generate", "press"])
def test_kill_between_answer_stored_and_downloads_done(tmp_path, sim, kind):
    app = start_app(tmp_path, sim, webhooks=False)
    try:
        client = Client(app.url, verbose=False)
        sim.sim.delay(HELD, times=None, kinds=("file",))  # every download hangs until reset
        if kind == "generate":
            [record] = generate(client, "killed mid-download", wait=False)["jobs"]
        else:
            sim.sim.reset_faults()
            [parent] = generate(client, "a parent to upscale")["jobs"]
            sim.sim.delay(HELD, times=None, kinds=("file",))
            [record] = client.predict(job_id=parent["id"], button="U1", session=SESSION, wait=False,
                                      api_name="/press_button")["jobs"]
        wait_for(lambda: job(client, record["id"])["state"] == "downloading", 30, "the downloads to start")
        kill_9(app)
        sim.sim.reset_faults()
        app.start()
        client = Client(app.url, verbose=False)
        done = finished(client, record["id"])
        expected = 1 if kind == "press" else 4
        assert len(done["images"]) == expected and all(i["state"] == "stored" for i in done["images"])
        assert_every_simulator_job_is_accounted_for(client, sim)
        assert [j for j in history(client) if j["state"] == "unknown"] == []
        assert_images_whole(tmp_path)
    finally:
        app.stop()
