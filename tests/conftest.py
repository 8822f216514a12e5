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
