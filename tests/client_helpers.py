"""Helpers for the AkoolClient tests that talk to the simulator.

The client tests count requests exactly and arm faults that any request of the right kind would use
up, so they run against a simulator of their own (one per test module) rather than the shared one,
where pollers left behind by other tests could add requests or swallow a fault. Import the fixtures
``own_simulator`` and ``simulator`` from here to get it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from akool_ui.akool import AkoolClient, Job, RetryPolicy
from akool_ui.simulator import SimulatorServer
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, OTHER_API_KEY, OTHER_CLIENT_ID

KINDS = ("token", "create_v3", "create_v4", "button", "info", "file")
# Retries without pauses: the tests count attempts, not seconds.
FAST_RETRY = RetryPolicy(backoff=0.0, jitter=0.0)


@pytest.fixture(scope="module")
def own_simulator() -> Iterator[SimulatorServer]:
    """A private simulator like the shared one (same accounts, speed 20), for one test module."""
    server = SimulatorServer(api_key=API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, speed=20.0)
    server.sim.add_account(api_key=OTHER_API_KEY, client_id=OTHER_CLIENT_ID, client_secret=OTHER_API_KEY)
    with server:
        yield server


@pytest.fixture()
def simulator(own_simulator: SimulatorServer) -> Iterator[SimulatorServer]:
    """Overrides conftest's ``simulator``: the module's private one, faults and options reset."""
    own_simulator.sim.reset_faults()
    yield own_simulator
    own_simulator.sim.reset_faults()


def make_client(simulator: Any, **kwargs: Any) -> AkoolClient:
    """A client for the simulator's main account (api key) unless told otherwise."""
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("retry", FAST_RETRY)
    return AkoolClient(simulator.base_url, **kwargs)


def counts(simulator: Any, before: dict[str, int] | None = None) -> dict[str, int]:
    """Requests the simulator has seen, by kind, and ``creates`` (jobs it made); with ``before``,
    only those since then."""
    stats = simulator.sim.stats()
    now = {kind: int(stats[kind]) for kind in (*KINDS, "creates")}
    return {kind: now[kind] - before[kind] for kind in now} if before is not None else now


class FakeTime:
    """A clock and a sleep for ``AkoolClient.wait``: time passes only when it sleeps."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class SimTime(FakeTime):
    """FakeTime that also moves the simulator's clock, so jobs progress while ``wait`` "sleeps"."""

    def __init__(self, simulator: Any):
        super().__init__(start=0.0)
        self.simulator = simulator

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.simulator.sim.advance(seconds)


def finish(simulator: Any, client: AkoolClient, job_id: str, **kwargs: Any) -> Job:
    """Wait for a job in simulated time and return it (JobFailed if it failed)."""
    time = SimTime(simulator)
    kwargs.setdefault("timeout", 3600)
    return client.wait_for(job_id, sleep=time.sleep, clock=time.clock, **kwargs)


class ScriptedServer:
    """Answers requests from a script of (status, headers, body) in order; repeats the last one."""

    def __init__(self, *script: tuple[int, dict[str, str], object]):
        self.script = list(script)
        self.requests: list[dict[str, object]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                index = min(len(server.requests), len(server.script)) - 1
                status, headers, payload = server.script[index]
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
