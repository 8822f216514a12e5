"""Real Redis and S3 servers for the shared adapter's tests, on loopback.

Under ``.ci/run`` they are started by the script and named by ``AKOOL_TEST_REDIS_URL`` and
``AKOOL_TEST_S3_URL`` (and ``AKOOL_TEST_SHARED_REQUIRED=1``: a test that needs them fails instead of
skipping). Run by hand, the tests start their own (``redis-server`` from Debian's package, moto's S3
server from PyPI) when those are installed, and skip with the reason when they are not.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

import pytest

__all__ = ["SharedServers", "start_servers", "shared_env", "unique_prefix"]

S3_KEY_ID, S3_SECRET = "testing", "testing"


@dataclass
class SharedServers:
    redis_url: str
    s3_url: str
    procs: list

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start (code {proc.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def _missing() -> str | None:
    if os.environ.get("AKOOL_TEST_REDIS_URL") and os.environ.get("AKOOL_TEST_S3_URL"):
        return None
    for module in ("redis", "boto3", "moto"):
        try:
            __import__(module)
        except ImportError:
            return f"the shared adapter's tests need the {module} package (pip install -r requirements-dev.txt)"
    if shutil.which("redis-server") is None:
        return "the shared adapter's tests need redis-server (apt-get install redis-server; .ci/run installs it)"
    return None


def start_servers() -> SharedServers:
    """The servers named by the environment, or ones started here; skips (fails under .ci/run) without."""
    reason = _missing()
    if reason:
        if os.environ.get("AKOOL_TEST_SHARED_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    if os.environ.get("AKOOL_TEST_REDIS_URL") and os.environ.get("AKOOL_TEST_S3_URL"):
        return SharedServers(os.environ["AKOOL_TEST_REDIS_URL"], os.environ["AKOOL_TEST_S3_URL"], [])
    procs = []
    redis_port, s3_port = _free_port(), _free_port()
    folder = tempfile.mkdtemp(prefix="akool-test-redis-")
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(redis_proc)
    s3_proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(s3_proc)
    servers = SharedServers(f"redis://127.0.0.1:{redis_port}/0", f"http://127.0.0.1:{s3_port}", procs)
    try:
        _wait_port(redis_port, redis_proc, "redis-server")
        _wait_port(s3_port, s3_proc, "moto's S3 server")
    except RuntimeError:
        servers.stop()
        raise
    return servers


def unique_prefix() -> str:
    """A key prefix and bucket name of its own for one test (servers are shared by the whole run)."""
    return f"t{uuid.uuid4().hex[:12]}"


def shared_env(servers: SharedServers, prefix: str) -> dict[str, str]:
    """The environment that points an app (or Settings.from_env) at these servers, under ``prefix``."""
    return {"AKOOL_REDIS_URL": servers.redis_url, "AKOOL_S3_URL": servers.s3_url, "AKOOL_S3_BUCKET": prefix,
            "AKOOL_STORE_PREFIX": prefix, "AKOOL_S3_KEY_ID": S3_KEY_ID, "AKOOL_S3_SECRET": S3_SECRET}
