"""End-to-end harness: ``python app.py`` in demo mode as a subprocess, driven by a real Chromium.

Chromium is Debian's (``/usr/bin/chromium``) unless ``CHROMIUM_PATH`` names another, or Playwright's own
build when neither exists. Never wait for "networkidle": Gradio keeps a stream open; wait on elements.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
# The README's pictures; E2E_SCREENSHOT_DIR sends them elsewhere (e.g. to keep the tracked ones untouched).
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOT_DIR") or ROOT / "docs" / "screenshots")
START_TIMEOUT = 90.0
# The simulator's timings divided by this: a generation takes ~1-2 s instead of ~35 s.
DEMO_SPEED = os.environ.get("E2E_DEMO_SPEED", "25")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    return None  # Playwright's bundled Chromium, if installed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    """``python app.py --port N`` with a given cache dir; restartable on the same dir."""

    def __init__(
        self, cache_dir: Path, log_path: Path, *, demo_speed: str = DEMO_SPEED, env: dict[str, str] | None = None
    ):
        """``env``: more variables for the app (e.g. ``AKOOL_SHARED``), on top of the harness's own."""
        self.cache_dir = cache_dir
        self.log_path = log_path
        self.demo_speed = demo_speed
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AKOOL_", "GRADIO_", "SPACE_"))}
        env.update(
            AKOOL_CACHE_DIR=str(self.cache_dir),
            AKOOL_DEMO_SPEED=self.demo_speed,
            AKOOL_POLL_INTERVAL="0.2",
            GRADIO_ANALYTICS_ENABLED="False",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> "AppProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"app.py did not answer within {START_TIMEOUT:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self) -> "AppProcess":
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def app_process(tmp_path):
    app = AppProcess(tmp_path / "cache", tmp_path / "app.log")
    app.start()
    yield app
    app.stop()
    print(app.log_tail(20))


@pytest.fixture()
def slow_app_process(tmp_path):
    """The demo with Akool-like slow jobs (speed 0.3: ~18 s each), for pressing Stop on a running job."""
    app = AppProcess(tmp_path / "cache", tmp_path / "app.log", demo_speed="0.3")
    app.start()
    yield app
    app.stop()
    print(app.log_tail(20))


@pytest.fixture()
def open_studio(browser):
    """``open_studio(url, viewport, **context_options)``: the studio at ``url`` in a browser context of its
    own (closed after the test), once its form and history are on the page."""
    contexts = []

    def open_(url: str, viewport: dict, **context_options):
        context = browser.new_context(viewport=viewport, **context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        page.locator("#prompt textarea").wait_for()
        page.locator("#history-pager").wait_for(state="attached")
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
