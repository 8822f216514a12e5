"""Shared fixtures: every test talks real HTTP to a local Akool simulator on 127.0.0.1."""

from __future__ import annotations

import pytest

from akool_ui.simulator import SimulatorServer

API_KEY = "SimTestApiKey0123456789X"  # 24 chars: doubles as the account's client secret (AES-192)
CLIENT_ID = "64db241f6d9e5c4bd136c187"
CLIENT_SECRET = API_KEY
OTHER_API_KEY = "OtherAccountKey012345678"  # a second account, for "someone else's job" (1009)
OTHER_CLIENT_ID = "64db241f6d9e5c4bd136c999"


@pytest.fixture(scope="session")
def simulator_session():
    """One fast simulator for the whole run (speed 20: a job takes a fraction of a second)."""
    server = SimulatorServer(
        api_key=API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, speed=20.0,
    )
    server.sim.add_account(api_key=OTHER_API_KEY, client_id=OTHER_CLIENT_ID, client_secret=OTHER_API_KEY)
    with server:
        yield server


@pytest.fixture()
def simulator(simulator_session):
    """The shared simulator with faults cleared and default options restored for this test."""
    simulator_session.sim.reset_faults()
    yield simulator_session
    simulator_session.sim.reset_faults()


@pytest.fixture(scope="session")
def shared_servers():
    """Real Redis and S3 servers (``tests/shared_servers.py``): .ci/run's, or started for this run."""
    from shared_servers import start_servers

    servers = start_servers()
    yield servers
    servers.stop()


@pytest.fixture()
def shared_storage(shared_servers, tmp_path):
    """The shared adapter on those servers, under a key prefix and bucket of this test's own."""
    from akool_ui.adapters.shared import SharedStorage
    from akool_ui.settings import Settings
    from shared_servers import shared_env, unique_prefix

    settings = Settings.from_env({**shared_env(shared_servers, unique_prefix()), "AKOOL_CACHE_DIR": str(tmp_path)})
    storage = SharedStorage.from_settings(settings)
    yield storage
    storage.close()


# --- a worker left waiting is a failure with its stack, never a run that hangs at exit -------------------

LINGER_SECONDS = 30.0


def _lingering_threads(timeout: float) -> list:
    """Non-daemon threads still alive ``timeout`` seconds after doing what the interpreter does at exit:
    pool workers are woken and joined (``concurrent.futures``' exit hook: an idle worker ends at once, one
    that waits for good does not), then every other non-daemon thread is joined. Those left would hang
    the run's exit with no word."""
    import threading
    import time
    from concurrent.futures import thread as pool_threads

    deadline = time.monotonic() + timeout
    wake = getattr(pool_threads, "_python_exit", None)
    if wake is not None:
        waker = threading.Thread(target=wake, name="exit-check", daemon=True)
        waker.start()
        waker.join(timeout)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in others if t.is_alive()]


@pytest.hookimpl(trylast=True)  # after pytest-cov has written its data
def pytest_sessionfinish(session, exitstatus):
    import sys
    import traceback

    stuck = _lingering_threads(LINGER_SECONDS)
    if not stuck:
        return
    frames = sys._current_frames()
    lines = [f"\n{len(stuck)} thread(s) still running {LINGER_SECONDS:.0f} s after the last test "
             "(the interpreter would wait for them at exit for good):\n"]
    for thread in stuck:
        lines.append(f"--- {thread.name}\n")
        lines += traceback.format_stack(frames.get(thread.ident)) if thread.ident in frames else []
    sys.stderr.write("".join(lines))
    session.config._akool_stuck_threads = True
    session.exitstatus = 1


def pytest_unconfigure(config):
    if getattr(config, "_akool_stuck_threads", False):
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)  # the stacks above say which thread; exiting here keeps CI from waiting out its limit
