"""Recovery through the running app (demo mode: its in-process simulator, over HTTP): a lost create answer
is said plainly and adopted by the demo's own webhooks, "check again" works from the API and from the
CLI, and start-up picks up what a previous run left timed out."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from akool_ui.jobs import wording
from tests.app_helpers import running_demo_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SESSION = "recovery-session-000001"
# A job takes ~2.75 s at demo speed 2; a 1.5 s deadline times it out once, and a fresh one (check again,
# after the first expired) always reaches its end.
SLOW = {"AKOOL_DEMO_SPEED": "2", "AKOOL_JOB_DEADLINE": "1.5"}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def history(client: Client) -> list[dict]:
    return client.predict(session=SESSION, api_name="/history")["jobs"]


def test_a_lost_create_answer_says_so_and_the_demo_webhooks_adopt_its_jobs(tmp_path):
    with running_demo_app(tmp_path / "cache") as running:
        demo_sim = running.built.demo_server.sim
        client = Client(running.local_url, verbose=False)
        demo_sim.drop_connection(times=1, kinds=("create_v4",))
        with pytest.raises(AppError) as raised:
            client.predict(prompt="answer lost", batch=2, session=SESSION, api_name="/generate")
        assert "may have accepted" in str(raised.value) and "try again" not in str(raised.value).lower()

        def both_adopted_and_done():
            done = [j for j in history(client) if j["state"] == "succeeded"]
            return done if len(done) == 2 else None

        jobs = wait_for(both_adopted_and_done, 30, "both jobs adopted")
        assert all(j["prompt"] == "answer lost" for j in jobs)
        assert [j for j in history(client) if j["state"] == "unknown"] == []  # the intent was settled


def test_history_pages_and_refuses_a_foreign_cursor(tmp_path):
    with running_demo_app(tmp_path / "cache") as running:
        client = Client(running.local_url, verbose=False)
        made = client.predict(prompt="page me", batch=3, session=SESSION, api_name="/generate")["jobs"]
        first = client.predict(session=SESSION, limit=2, api_name="/history")
        rest = client.predict(session=SESSION, limit=2, cursor=first["next_cursor"], api_name="/history")
        # newest first; one batch shares its request time, so its jobs follow by id
        assert [j["id"] for j in first["jobs"] + rest["jobs"]] == sorted((j["id"] for j in made), reverse=True)
        assert rest["next_cursor"] is None and len(first["jobs"]) == 2
        assert client.predict(session="another-session-00000001", api_name="/history")["jobs"] == []
        for bad, sentence in (({"cursor": "not-a-cursor"}, "cursor"), ({"limit": 0}, "limit")):
            with pytest.raises(AppError, match=sentence):
                client.predict(session=SESSION, api_name="/history", **bad)


def test_check_again_from_the_api_finishes_a_timed_out_job(tmp_path):
    with running_demo_app(tmp_path / "cache", **SLOW) as running:
        client = Client(running.local_url, verbose=False)
        [job] = client.predict(prompt="slow one", resolution="1080p", session=SESSION, api_name="/generate")["jobs"]
        assert job["state"] == "timed_out" and job["can_check_again"]
        [job] = client.predict(job_id=job["id"], session=SESSION, api_name="/check_again")["jobs"]
        assert job["state"] == "succeeded" and not job["can_check_again"]
        assert len(job["images"]) == 4 and all(i["state"] == "stored" for i in job["images"])
        with pytest.raises(AppError, match="no job"):
            client.predict(job_id=job["id"], session="another-session-00000001", api_name="/check_again")


def test_the_cli_lists_and_checks_again_timed_out_jobs(tmp_path):
    cache = tmp_path / "cache"
    with running_demo_app(cache, **SLOW) as running:
        client = Client(running.local_url, verbose=False)
        jobs = client.predict(prompt="left behind", batch=2, resolution="1080p", session=SESSION,
                              api_name="/generate")["jobs"]
        assert [j["state"] for j in jobs] == ["timed_out", "timed_out"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKOOL_", "GRADIO_"))}
    env.update(AKOOL_CACHE_DIR=str(cache), AKOOL_DEMO_SPEED="2", AKOOL_JOB_DEADLINE="30")

    def cli(*argv: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "akool_ui", "check-again", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr
        return done

    listed = cli("--list")
    assert listed.returncode == 0, listed.stderr
    assert all(f"{j['id']}  timed out" in listed.stdout for j in jobs) and "left behind" in listed.stdout
    checked = cli("--all")
    assert checked.returncode == 0, checked.stderr
    assert all(f"{j['id']}  succeeded" in checked.stdout for j in jobs) and "4 image(s) stored" in checked.stdout
    assert cli("--list").stdout == ""  # nothing is left to check again
    one = cli("--id", jobs[0]["id"])  # a finished job: said as it is
    assert one.returncode == 0 and f"{jobs[0]['id']}  succeeded" in one.stdout
    missing = cli("--id", "0" * 24)
    assert missing.returncode == 2 and "no job" in missing.stderr


def test_start_up_resumes_a_job_that_timed_out_in_the_previous_run(tmp_path):
    cache = tmp_path / "cache"
    with running_demo_app(cache, **SLOW) as running:
        client = Client(running.local_url, verbose=False)
        [job] = client.predict(prompt="resume me", resolution="1080p", session=SESSION, api_name="/generate")["jobs"]
        assert job["state"] == "timed_out"
    with running_demo_app(cache, AKOOL_DEMO_SPEED="2", AKOOL_JOB_DEADLINE="30") as running:
        client = Client(running.local_url, verbose=False)
        done = wait_for(lambda: (j := client.predict(job_id=job["id"], session=SESSION, api_name="/job")["jobs"][0])[
            "state"] == "succeeded" and j, 30, "the resumed job")
        assert len(done["images"]) == 4


def test_the_unknown_outcome_sentence_never_invites_a_retry():
    for sentence in (wording.OUTCOME_UNKNOWN, wording.PRESS_OUTCOME_UNKNOWN):
        assert "may have" in sentence and "try again" not in sentence.lower()
