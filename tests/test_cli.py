"""``python -m akool_ui generate | result | press`` against the simulator over real HTTP.

The commands run in-process through ``cli.main`` (stdout/stderr via capsys), with the environment
pointing at a private simulator (speed 20, like the shared one) so that request counts are exact; one
test runs the real ``python -m akool_ui`` process.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image

from akool_ui import cli
from akool_ui.akool import Job, JobStatus
from tests.client_helpers import counts, finish, make_client, own_simulator, simulator  # noqa: F401 - fixtures
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET
from tests.test_simulator_support import png_bytes

ROOT = Path(__file__).resolve().parents[1]
JOB_ID = re.compile(r"[0-9a-f]{24}")
JOB_FIELDS = {f.name for f in fields(Job)}
STATUS_LINE = re.compile(r"^([0-9a-f]{24})  (queued|processing|done|failed)\s+(\d+\.\d)s$")


@pytest.fixture()
def env(monkeypatch, simulator):
    """Only the variables a user would set: the simulator's address and the API key."""
    for name in list(os.environ):
        if name.startswith("AKOOL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AKOOL_BASE_URL", simulator.base_url)
    monkeypatch.setenv("AKOOL_API_KEY", API_KEY)
    monkeypatch.setenv("AKOOL_POLL_INTERVAL", "0.05")
    return simulator


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``python -m akool_ui *argv`` in this process; never a traceback nor the key in the output."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert API_KEY not in out + err and CLIENT_SECRET not in out + err
    return code, out, err


def status_lines(err: str) -> list[tuple[str, str, float]]:
    return [(m[1], m[2], float(m[3])) for m in map(STATUS_LINE.match, err.splitlines()) if m]


def finished_job(simulator, **request) -> Job:
    """A finished v4 job made directly with the client (setup, not the thing under test)."""
    from akool_ui.akool import ImageRequest

    with make_client(simulator) as client:
        job = client.create_images(ImageRequest(**{"prompt": "a lighthouse", "resolution": "1080p", **request}))[0]
        return finish(simulator, client, job.id)


# --- generate -------------------------------------------------------------------------------------------


def test_generate_batch_1_prints_the_job_id_and_sends_one_create(env, capsys):
    before = counts(env)
    code, out, err = run(capsys, "generate", "--prompt", "a red fox at dawn", "--scale", "16:9")
    assert code == 0 and err == ""
    (job_id,) = out.split()
    assert JOB_ID.fullmatch(job_id)
    sent_job = env.sim._jobs[job_id]  # what the simulator was asked for (the wire doc omits some of it)
    assert (sent_job.prompt, sent_job.scale, sent_job.resolution) == ("a red fox at dawn", "16:9", "1080p")
    sent = counts(env, before)
    assert sent["create_v4"] == 1 and sent["creates"] == 1 and sent["info"] == 0  # no --wait: no polls


def test_generate_batch_2_json_has_one_document_per_job(env, capsys):
    code, out, _ = run(capsys, "generate", "--prompt", "two boats", "--batch", "2", "--negative-prompt", "fog",
                       "--resolution", "1080p", "--json")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["jobs"] and len(doc["jobs"]) == 2
    ids = [job["id"] for job in doc["jobs"]]
    assert len(set(ids)) == 2 and all(JOB_ID.fullmatch(i) for i in ids)
    for job in doc["jobs"]:
        assert set(job) == JOB_FIELDS  # Job.to_json(); "files" only with --out
        assert job["status"] == JobStatus.QUEUED and job["prompt"] == "two boats"
        assert env.sim._jobs[job["id"]].negative_prompt == "fog"


def test_generate_wait_streams_status_lines_and_prints_the_result_urls(env, capsys):
    code, out, err = run(capsys, "generate", "--prompt", "a tram in the rain", "--batch", "2",
                         "--resolution", "1080p", "--wait")
    assert code == 0
    lines = status_lines(err)
    assert len(lines) == len(err.splitlines())  # stderr holds status lines only
    ids = list(dict.fromkeys(job_id for job_id, _, _ in lines))
    assert len(ids) == 2
    for job_id in ids:
        seen = [(status, t) for i, status, t in lines if i == job_id]
        assert seen[0][0] == "queued" and seen[-1][0] == "done"
        assert [s for s, _ in seen] in (["queued", "done"], ["queued", "processing", "done"])
        assert [t for _, t in seen] == sorted(t for _, t in seen) and seen[-1][1] < 30
    urls = out.split()
    expected = [url for job_id in ids for url in env.sim.job(job_id)["upscaled_urls"]]
    assert sorted(urls) == sorted(expected) and len(urls) == 8
    assert requests.get(urls[0], timeout=10).status_code == 200


def test_generate_out_downloads_every_image_at_its_real_size(env, capsys, tmp_path):
    out_dir = tmp_path / "new" / "folder"  # made on demand
    code, out, err = run(capsys, "generate", "--prompt", "a wide valley", "--scale", "16:9", "--resolution", "4k", "--out", str(out_dir),
                         "--json")  # --out implies --wait
    assert code == 0
    (job,) = json.loads(out)["jobs"]
    assert job["status"] == JobStatus.SUCCEEDED and len(job["candidate_urls"]) == 4
    expected = [str(out_dir / f"{job['id']}-{n}.jpg") for n in range(1, 5)]
    assert job["files"] == expected
    assert sorted(os.listdir(out_dir)) == sorted(Path(p).name for p in expected)  # no .part left behind
    pixels = set()
    for path, url in zip(expected, job["candidate_urls"]):
        with Image.open(path) as image:
            image.load()
            assert image.format == "JPEG" and image.size == (3840, 2160)  # 16:9 at 4k
            pixels.add(image.resize((8, 8)).tobytes())
        assert Path(path).read_bytes() == requests.get(url, timeout=10).content
        assert f"saved {path} (3840x2160)" in err
    assert len(pixels) == 4  # four different pictures, not one file four times


def test_generate_failed_job_exits_1_with_a_sentence_and_downloads_nothing(env, capsys, tmp_path):
    env.sim.fail_next()
    code, out, err = run(capsys, "generate", "--prompt", "doomed", "--resolution", "1080p", "--out", str(tmp_path))
    assert code == 1 and out == ""
    (job_id,) = {i for i, _, _ in status_lines(err)}
    assert status_lines(err)[-1][:2] == (job_id, "failed")
    assert err.splitlines()[-1] == f"error: job {job_id} failed: Akool could not generate this image. Please try again."
    assert list(tmp_path.iterdir()) == []

    code, out, _ = run(capsys, "result", "--id", job_id)  # reporting a failed job is a success
    assert code == 0 and "status: failed" in out and "(code 1108)" in out and "url:" not in out
    code, out, _ = run(capsys, "result", "--id", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == JobStatus.FAILED and json.loads(out)["error_code"] == 1108


def test_generate_refused_by_akool_and_timeouts_are_one_sentence_exit_1(env, capsys):
    env.sim.fail_next(code=1104)
    code, out, err = run(capsys, "generate", "--prompt", "no credits left")
    assert (code, out) == (1, "")
    assert err == "error: The Akool account has run out of credits or quota. Please top it up and try again.\n"

    env.sim.stuck_next()
    code, out, err = run(capsys, "generate", "--prompt", "stuck", "--wait", "--timeout", "0.4")
    assert (code, out) == (1, "")
    job_id = status_lines(err)[0][0]
    last = err.splitlines()[-1]
    assert last.startswith("error: The image is taking longer than expected.") and job_id in last
    assert "result --id" in last


# --- result -----------------------------------------------------------------------------------------------


def test_result_prints_status_buttons_and_urls_text_and_json(env, capsys, monkeypatch):
    job = finished_job(env)
    monkeypatch.setenv("AKOOL_BASE_URL", "http://127.0.0.1:1")  # --base-url wins over the environment
    code, out, err = run(capsys, "result", "--id", job.id.upper(), "--base-url", env.base_url)
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"id: {job.id}",
        "status: done",
        "buttons: U1 U2 U3 U4 V1 V2 V3 V4",
        "used buttons: none",
        *[f"url: {url}" for url in env.sim.job(job.id)["upscaled_urls"]],
    ]
    code, out, _ = run(capsys, "result", "--id", job.id, "--json", "--base-url", env.base_url)
    assert code == 0 and json.loads(out) == job.to_json()


def test_result_out_downloads_a_finished_job_and_refuses_an_unfinished_one(env, capsys, tmp_path):
    job = finished_job(env, scale="3:4")
    code, out, err = run(capsys, "result", "--id", job.id, "--out", str(tmp_path), "--json")
    assert code == 0
    files = json.loads(out)["files"]
    assert [Path(p).name for p in files] == [f"{job.id}-{n}.jpg" for n in range(1, 5)]
    for path in files:
        with Image.open(path) as image:
            assert image.size == (1080, 1440)

    env.sim.stuck_next()
    with make_client(env) as client:
        from akool_ui.akool import ImageRequest

        stuck = client.create_images(ImageRequest(prompt="never ends", resolution="1080p"))[0]
    code, out, err = run(capsys, "result", "--id", stuck.id, "--out", str(tmp_path / "none"))
    status = out.splitlines()[1].removeprefix("status: ")
    assert code == 1 and status in ("queued", "processing")
    assert err == f"error: job {stuck.id} is {status}; there is nothing to download yet.\n"
    assert list((tmp_path / "none").iterdir()) == []


def test_result_of_an_expired_job_says_the_links_expired(env, capsys, tmp_path):
    job = finished_job(env)
    env.sim.advance(8 * 86400)  # Akool's URLs live 7 days
    code, out, err = run(capsys, "result", "--id", job.id, "--out", str(tmp_path))
    assert code == 1 and "status: done" in out
    assert len(err.splitlines()) == 4 and all("expired" in line and "7 days" in line for line in err.splitlines())
    assert list(tmp_path.iterdir()) == []


# --- press ------------------------------------------------------------------------------------------------


def test_press_u1_waits_downloads_the_4k_image_and_a_second_press_is_refused(env, capsys, tmp_path):
    parent = finished_job(env)
    code, out, err = run(capsys, "press", "--id", parent.id, "--button", "u1", "--out", str(tmp_path), "--json")
    assert code == 0
    child = json.loads(out)
    assert child["parent_id"] == parent.id and child["button"] == "U1" and child["status"] == JobStatus.SUCCEEDED
    assert [s for i, s, _ in status_lines(err)][-1] == "done"
    assert child["files"] == [str(tmp_path / f"{child['id']}-1.jpg")]
    with Image.open(child["files"][0]) as image:
        assert image.size == (3840, 3840)  # U1 of a 1:1 job: the 4K upscale

    code, out, _ = run(capsys, "result", "--id", parent.id)
    assert code == 0 and "used buttons: U1" in out.splitlines()

    before = counts(env)
    code, out, err = run(capsys, "press", "--id", parent.id, "--button", "U1")
    assert (code, out) == (1, "")
    assert err == "error: Akool cannot do that with this image (the button may already have been used).\n"
    assert counts(env, before)["button"] == 1 and counts(env, before)["creates"] == 0


def test_press_without_wait_prints_the_child_id(env, capsys):
    parent = finished_job(env)
    code, out, err = run(capsys, "press", "--id", parent.id, "--button", "V2")
    assert code == 0 and err == ""
    (child_id,) = out.split()
    doc = env.sim.job(child_id)
    assert doc["image_content_model_id"] == parent.id and doc["op_button"] == "V2"


# --- input, credentials, secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["generate", "--prompt", "   "], "Please write a prompt describing the image."),
        (["generate", "--prompt", "x", "--batch", "5"], "The batch size must be 1, 2, 3 or 4."),
        (["generate", "--prompt", "x", "--scale", "5:4"], "The aspect ratio must be one of"),
        (["generate", "--prompt", "x", "--scale", "Original"], "The 'Original' aspect ratio needs a source image."),
        (["generate", "--prompt", "x", "--source-image", "file:///etc/passwd"], "The source image must be a web"),
        (["generate", "--prompt", "x", "--similar", "1.5"], "'Similar' must be a number from 0 to 1."),
        (["generate", "--prompt", "x", "--wait", "--timeout", "0"], "--timeout must be a positive number"),
        (["result", "--id", "not-a-job-id"], "That is not a valid job id"),
        (["press", "--id", "0123456789abcdef0123456", "--button", "U1"], "That is not a valid job id"),
        (["press", "--id", "0123456789abcdef01234567", "--button", "U5"], "The button must be one of U1-U4"),
        (["generate", "--prompt", "x", "--base-url", "ftp://example.com"], "the Akool base URL must be an http(s)"),
    ],
)
def test_bad_input_is_one_sentence_exit_2_and_nothing_is_sent(env, capsys, argv, sentence):
    before = counts(env)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: " + sentence) and err.count("\n") == 1
    assert set(counts(env, before).values()) == {0}


def test_a_download_folder_that_cannot_be_made_is_refused_before_sending(env, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    before = counts(env)
    code, out, err = run(capsys, "generate", "--prompt", "x", "--out", str(blocker / "sub"))
    assert (code, out) == (2, "") and err.startswith("error: cannot use") and err.count("\n") == 1
    assert set(counts(env, before).values()) == {0}


def test_argparse_errors_exit_2(env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "--prompt", "x", "--batch", "two"])
    assert exit_info.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_missing_credentials_say_what_to_set(env, capsys, monkeypatch):
    monkeypatch.delenv("AKOOL_API_KEY")
    monkeypatch.setenv("AKOOL_CLIENT_ID", CLIENT_ID)  # half a key pair is no credential
    before = counts(env)
    for argv in (["generate", "--prompt", "x"], ["result", "--id", "0123456789abcdef01234567"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert err == ("error: set AKOOL_API_KEY (or AKOOL_CLIENT_ID and AKOOL_CLIENT_SECRET) to your Akool "
                       "credentials first.\n")
    assert set(counts(env, before).values()) == {0}


@pytest.mark.parametrize(
    "variable, value, sentence",
    [
        ("AKOOL_POLL_INTERVAL", "nan", "AKOOL_POLL_INTERVAL must be a finite number, got 'nan'."),
        ("AKOOL_POLL_INTERVAL", "inf", "AKOOL_POLL_INTERVAL must be a finite number, got 'inf'."),
        ("AKOOL_DEMO_SPEED", "0", "AKOOL_DEMO_SPEED must be greater than 0."),
        ("AKOOL_CACHE_MIN_AGE_HOURS", "-1", "AKOOL_CACHE_MIN_AGE_HOURS must be at least 0."),
        ("AKOOL_PUBLIC_URL", "https://user:pw@example.com",
         "AKOOL_PUBLIC_URL must not contain a user name or password."),
    ],
)
def test_a_bad_setting_is_one_sentence_exit_2_and_nothing_is_sent(env, capsys, monkeypatch, variable, value, sentence):
    monkeypatch.setenv(variable, value)
    before = counts(env)
    # (--timeout bounds the wait should a bad interval ever get through: inf would otherwise sleep it out)
    for argv in (["generate", "--prompt", "x", "--wait", "--timeout", "5"],
                 ["result", "--id", "0123456789abcdef01234567"]):
        code, out, err = run(capsys, *argv)
        assert (code, out, err) == (2, "", f"error: {sentence}\n")
    assert set(counts(env, before).values()) == {0}


def test_the_client_id_and_secret_work_through_get_token(env, capsys, monkeypatch):
    monkeypatch.delenv("AKOOL_API_KEY")
    monkeypatch.setenv("AKOOL_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AKOOL_CLIENT_SECRET", CLIENT_SECRET)
    before = counts(env)
    code, out, _ = run(capsys, "generate", "--prompt", "legacy auth", "--resolution", "1080p", "--wait")
    assert code == 0 and len(out.split()) == 4
    assert counts(env, before)["token"] == 1


def test_a_wrong_key_is_one_sentence_exit_1(env, capsys, monkeypatch):
    monkeypatch.setenv("AKOOL_API_KEY", "WrongKeyWrongKeyWrongKey")
    code, out, err = run(capsys, "result", "--id", "0123456789abcdef01234567")
    assert (code, out) == (1, "")
    assert err == "error: Akool did not accept the API key. Please check it and try again.\n"
    assert "WrongKey" not in err


def test_downloads_send_no_credentials_and_reject_what_is_not_an_image(tmp_path, monkeypatch):
    monkeypatch.setenv("AKOOL_API_KEY", API_KEY)
    seen: list[dict[str, str]] = []
    picture = png_bytes(Image.new("RGB", (64, 48), (10, 200, 30)))

    class Cdn(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            body = picture if self.path == "/ok.png" else b"<html>not an image</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Cdn)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        job = Job(id="0123456789abcdef01234567", status=JobStatus.SUCCEEDED,
                  candidate_urls=(f"{base}/ok.png", f"{base}/page.html"))
        saved, problems = cli._download([job], tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert saved == {job.id: [str(tmp_path / f"{job.id}-1.png")]}
    assert problems == [f"error: image 2 of job {job.id} is not a complete PNG, JPEG or WebP file."]
    assert Image.open(tmp_path / f"{job.id}-1.png").size == (64, 48)
    assert len(seen) == 2
    for headers in seen:
        names = {name.lower() for name in headers}
        assert not names & {"x-api-key", "authorization", "cookie"}
        assert API_KEY not in json.dumps(headers)


def test_help_documents_the_commands_and_exit_codes(capsys):
    for command in ("generate", "result", "press"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "exit codes:" in text and "AKOOL_API_KEY" in text and "--json" in text and "--out DIR" in text
    assert all(name in cli.build_parser().format_help() for name in ("generate", "result", "press", "simulator"))


# --- the real process -----------------------------------------------------------------------------------


def test_python_m_akool_ui_generate_wait_in_a_subprocess(simulator):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKOOL_")}
    env.update(PYTHONPATH=str(ROOT), AKOOL_BASE_URL=simulator.base_url, AKOOL_API_KEY=API_KEY,
               AKOOL_POLL_INTERVAL="0.05")
    proc = subprocess.run(
        [sys.executable, "-m", "akool_ui", "generate", "--prompt", "from a shell", "--resolution", "1080p",
         "--scale", "9:16", "--wait"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    urls = proc.stdout.split()
    assert len(urls) == 4 and all(u.startswith(simulator.base_url + "/") for u in urls)
    assert [s for _, s, _ in status_lines(proc.stderr)][-1] == "done"
    assert API_KEY not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    with Image.open(io.BytesIO(requests.get(urls[0], timeout=10).content)) as image:
        assert image.size == (1080, 1920)


# serve gets port 1 so that, were the setting accepted, it would fail to listen rather than run forever.
@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["generate", "--prompt", "x", "--wait"]])
def test_python_m_akool_ui_with_a_nan_poll_interval_says_so_in_one_line_and_exits_2(simulator, tmp_path, command):
    """nan once slipped past ``<= 0``: generate created jobs and then crashed, serve started with it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKOOL_")}
    env.update(PYTHONPATH=str(ROOT), AKOOL_BASE_URL=simulator.base_url, AKOOL_API_KEY=API_KEY,
               AKOOL_POLL_INTERVAL="nan", AKOOL_CACHE_DIR=str(tmp_path / "cache"))
    before = counts(simulator)
    proc = subprocess.run([sys.executable, "-m", "akool_ui", *command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: AKOOL_POLL_INTERVAL must be a finite number, got 'nan'")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert set(counts(simulator, before).values()) == {0}, "nothing was sent to Akool"
    assert not (tmp_path / "cache").exists(), "serve stopped before opening the store"


def test_generate_model_is_sent_when_chosen_and_a_wrong_one_is_refused_before_sending(env, capsys):
    code, out, _ = run(capsys, "generate", "--prompt", "a kite", "--model", "wavespeed-ai/flux-krea-dev-lora")
    assert code == 0 and env.sim._jobs[out.split()[0]].model_name == "wavespeed-ai/flux-krea-dev-lora"
    before = counts(env)
    code, _, err = run(capsys, "generate", "--prompt", "a kite", "--model", "wavespeed-ai/flux-kontext-dev")
    assert code == 2 and "is for image-to-image" in err and len(err.splitlines()) == 1
    assert counts(env, before)["creates"] == 0


# --- late candidates and check-again --------------------------------------------------------------------


def test_generate_out_waits_for_candidates_that_arrive_after_done(env, capsys, tmp_path):
    env.sim.set_options(upscaled_lag=0.1)  # "done" lists only the grid for a moment (20x: ~2 simulated s)
    code, out, err = run(capsys, "generate", "--prompt", "late candidates", "--resolution", "1080p",
                         "--out", str(tmp_path), "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    assert len(job["candidate_urls"]) == 4 and len(job["files"]) == 4
    for path, url in zip(job["files"], job["candidate_urls"]):
        assert Path(path).read_bytes() == requests.get(url, timeout=10).content  # the candidates, not the grid


def test_generate_out_cuts_the_grid_when_the_candidates_never_come(env, capsys, tmp_path):
    env.sim.set_options(upscaled_lag=10_000)  # Akool never lists them: the grid is all there is
    code, out, err = run(capsys, "generate", "--prompt", "grid only", "--resolution", "1080p",
                         "--out", str(tmp_path), "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    assert job["candidate_urls"] == [] and len(job["files"]) == 4  # four quarters, not one 2x2 grid
    grid = Image.open(io.BytesIO(requests.get(job["image_url"], timeout=10).content))
    quarters = []
    for path in job["files"]:
        with Image.open(path) as quarter:
            assert quarter.size == (grid.width // 2, grid.height // 2)
            quarters.append(quarter.resize((8, 8)).tobytes())
    assert len(set(quarters)) == 4
