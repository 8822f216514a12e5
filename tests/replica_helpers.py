"""Real app processes (``python app.py``) sharing one Redis and one bucket: replicas, as an operator runs
them, for the tests that kill one (SIGKILL) or count limits across them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    url: str
    proc: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL: no clean-up, no lease given back (a machine lost)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_replica(folder: Path, env: dict[str, str], *, timeout: float = 120.0) -> Replica:
    """``python app.py`` on a free loopback port with ``env`` (over a clean environment), ready to serve."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AKOOL_", "GRADIO_"))}
    full.update(AKOOL_CACHE_DIR=str(folder / "cache"), GRADIO_TEMP_DIR=str(folder / "gradio"),
                GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **env)
    log = folder / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                                env=full, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    replica = Replica(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the replica exited at start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(replica.url + "/healthz", timeout=2).status_code == 200:
                return replica
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    replica.stop()
    raise RuntimeError(f"the replica did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
