"""The simulator as a process: --state-dir persistence across a restart, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from akool_ui import cli
from akool_ui.simulator import DEFAULT_API_KEY, RemoteSimulator, SimulatorServer
from tests.conftest import API_KEY, CLIENT_ID
from tests.test_simulator_support import Api, TinyServer, png_bytes
from tests.test_simulator_images import source_picture

ROOT = Path(__file__).resolve().parents[1]


def test_state_dir_keeps_jobs_files_tokens_and_clock_across_a_restart(tmp_path):
    state = tmp_path / "sim-state"
    with TinyServer(lambda *a: (200, "image/png", png_bytes(source_picture()))) as source:
        with SimulatorServer(api_key=API_KEY, client_id=CLIENT_ID, speed=1.0, state_dir=state) as first:
            api = Api(first)
            token = api.call("token", {"clientId": CLIENT_ID, "clientSecret": API_KEY})["token"]
            done = api.finished(api.v4(resolution="1080p", source_images=[source.url + "/a.png"],
                                       scale="Original")["_id"])
            pressed = api.press(done["_id"], "V1")["_id"]
            original = requests.get(done["upscaled_urls"][0], timeout=10).content
            first.sim.advance(2)  # the V job is now processing, not finished
            assert api.info(pressed)["image_status"] == 2
            offset = first.sim.clock.offset
    assert (state / "jobs").is_dir() and (state / "files").is_dir()
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert API_KEY not in "".join(p.read_text("utf-8", "replace") for p in state.rglob("*.json"))

    with SimulatorServer(api_key=API_KEY, client_id=CLIENT_ID, speed=1.0, state_dir=state) as second:
        api = Api(second)
        assert second.sim.clock.offset >= offset
        again = api.info(done["_id"])
        names = [u.rsplit("/", 1)[1] for u in again["upscaled_urls"]]
        assert names == [u.rsplit("/", 1)[1] for u in done["upscaled_urls"]]
        assert again["used_buttons"] == ["V1"] and again["image_status"] == 3
        second.sim.reset_stats()
        assert requests.get(again["upscaled_urls"][0], timeout=10).content == original
        assert second.sim.stats()["renders"] == 0  # served from <state_dir>/files
        child = api.finished(pressed)
        assert child["image_status"] == 3  # the job kept progressing
        assert api.image(child["upscaled_urls"][0]).size == (1080, 2160)  # Original ratio, remembered
        bearer = Api(second, api_key=None, headers={"Authorization": f"Bearer {token}"})
        assert bearer.info(done["_id"])["_id"] == done["_id"]


def test_state_dir_restart_refetches_a_pending_source_and_skips_broken_files(tmp_path):
    state = tmp_path / "state"
    with TinyServer(lambda *a: (200, "image/png", png_bytes(source_picture()))) as source:
        with SimulatorServer(api_key=API_KEY, speed=1.0, state_dir=state) as first:
            job_id = Api(first).v4(source_images=[source.url + "/s.png"])["_id"]
        record = json.loads((state / "jobs" / f"{job_id}.json").read_text())
        record["source_state"] = "pending"  # as if the simulator stopped mid-fetch
        (state / "jobs" / f"{job_id}.json").write_text(json.dumps(record))
        (state / "jobs" / "broken.json").write_text("{not json")
        with SimulatorServer(api_key=API_KEY, speed=1.0, state_dir=state) as second:
            assert Api(second).finished(job_id)["image_status"] == 3


def test_cli_simulator_prints_its_url_and_serves_until_interrupted(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AKOOL_SIMULATOR_API_KEY": "CliTestApiKey0123456789X"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "akool_ui", "simulator", "--port", "0", "--speed", "50",
         "--client-id", CLIENT_ID, "--result-shape", "grid", "--url-ttl", "60", "--state-dir", str(tmp_path),
         "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("Akool simulator listening on http://127.0.0.1:"), line
        base_url = line.rsplit(" ", 1)[1]
        headers = {"x-api-key": "CliTestApiKey0123456789X"}
        created = requests.post(base_url + "/api/open/v4/content/image/createBySourcePrompt",
                                json={"prompt": "from the CLI"}, headers=headers, timeout=10).json()
        assert created["code"] == 1000
        remote = RemoteSimulator(base_url)
        remote.advance(5)
        doc = requests.get(base_url + "/api/open/v3/content/image/infobymodelid",
                           params={"image_model_id": created["data"]["_id"]}, headers=headers, timeout=10).json()
        assert doc["data"]["image_status"] == 3 and doc["data"]["upscaled_urls"] == []  # --result-shape grid
        remote.advance(61)
        assert requests.get(doc["data"]["image"], timeout=10).status_code == 403  # --url-ttl 60
        remote.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "CliTestApiKey" not in proc.stderr.read()
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion failed above
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_reports_a_busy_port_and_bad_numbers(capsys):
    with SimulatorServer(api_key=API_KEY) as busy:
        code = cli.main(["simulator", "--port", str(busy.port), "--api-key", "x", "--log-level", "ERROR"])
        assert code == 1 and "cannot listen" in capsys.readouterr().err
    assert cli.main(["simulator", "--speed", "0"]) == 2


def test_cli_main_serves_the_default_demo_key_in_process_until_sigterm(capsys):
    """The CLI path in this process (so coverage sees it): no key given -> the fixed demo key."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    original = signal.getsignal(signal.SIGTERM)
    answers = []

    def use_then_stop() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                answers.append(requests.post(
                    f"http://127.0.0.1:{port}/api/open/v3/content/image/createbyprompt", json={"prompt": "x"},
                    headers={"x-api-key": DEFAULT_API_KEY}, timeout=5).json()["code"])
                break
            except requests.ConnectionError:
                time.sleep(0.02)
        while signal.getsignal(signal.SIGTERM) is original and time.monotonic() < deadline:
            time.sleep(0.01)  # pragma: no cover - the handler is installed before the server starts
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=use_then_stop, daemon=True).start()
    assert cli.main(["simulator", "--port", str(port), "--no-control", "--no-v4-buttons",
                     "--log-level", "ERROR"]) == 0
    assert f"Akool simulator listening on http://127.0.0.1:{port}" in capsys.readouterr().out
    assert answers == [1000]


def test_cli_requires_a_command(capsys):
    with pytest.raises(SystemExit):
        cli.main([])
    assert "simulator" in cli.build_parser().format_help()
