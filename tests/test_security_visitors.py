"""A stranger on a shared link cannot mint a fresh allowance: the attacks of issue 21 against a running
shared app over real HTTP, as an outside script makes them (a new session per call, no browser id, an
invented X-Forwarded-For per call), get at most one visitor's allowance, and the proxies the app is told
to trust are the only ones whose X-Forwarded-For entries count."""

from __future__ import annotations

import json
import random

import pytest
import requests

from tests.app_helpers import running_demo_app

pytestmark = pytest.mark.slow

# Real-time jobs (30-50 s): everything accepted stays in flight for the whole test.
SLOW_DEMO = {"AKOOL_DEMO_SPEED": "1", "AKOOL_SHARED": "1"}
IN_FLIGHT = 4  # the shared default: one batch of four per visitor


def _generate(base: str, *, session: str = "", batch: int = 4, headers: dict[str, str] | None = None) -> str | None:
    """One raw ``/generate`` call (no browser id, the session as given, wait false): the error sentence, or
    None when it was accepted."""
    data = ["A copper kettle", "", "1:1", "1080p", batch, "", 0.5, "", session, False, ""]
    started = requests.post(f"{base}/gradio_api/call/generate", json={"data": data}, headers=headers, timeout=10)
    assert started.status_code == 200, started.text
    stream = requests.get(f"{base}/gradio_api/call/generate/{started.json()['event_id']}", headers=headers,
                          timeout=60).text
    if "event: complete" in stream:
        return None
    assert "event: error" in stream, stream
    payload = json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    return str(payload.get("error") if isinstance(payload, dict) else payload)


def _public_address(rng: random.Random) -> str:
    while True:
        address = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if not address.startswith(("10.", "127.", "192.168.", "172.")):
            return address


@pytest.fixture()
def shared_app(tmp_path):
    with running_demo_app(tmp_path, **SLOW_DEMO) as running:
        yield running


def _images(app) -> int:
    """Jobs Akool (the demo simulator) made: one per image."""
    return app.built.demo_server.sim.stats()["creates"]


def test_a_new_session_per_call_with_an_invented_forwarded_for_gets_one_visitors_allowance(shared_app):
    base = shared_app.local_url.rstrip("/")
    rng = random.Random(21)
    refusals = []
    for _ in range(12):
        headers = {"X-Forwarded-For": _public_address(rng)}
        refusals.append(_generate(base, headers=headers))
    accepted = [r for r in refusals if r is None]
    assert len(accepted) == 1 and _images(shared_app) == IN_FLIGHT  # one batch of four, then nothing
    assert all("in the making" in r for r in refusals if r is not None), refusals


def test_rotating_sessions_without_a_browser_id_start_with_no_fresh_allowance(shared_app):
    base = shared_app.local_url.rstrip("/")
    assert _generate(base, batch=2) is None
    assert _generate(base, batch=2) is None  # another new session, the same visitor: 4 in the making
    refusal = _generate(base, batch=1, session="a-brand-new-session-0001")
    assert refusal is not None and "You already have 4 images in the making" in refusal
    assert _images(shared_app) == IN_FLIGHT


def test_behind_a_trusted_proxy_only_the_address_it_appended_counts(tmp_path):
    """An nginx on this machine (AKOOL_TRUSTED_PROXIES=127.0.0.1) appends the visitor's address; what the
    visitor wrote to the left of it is theirs to invent and never read."""
    with running_demo_app(tmp_path, AKOOL_TRUSTED_PROXIES="127.0.0.1", **SLOW_DEMO) as app:
        base = app.local_url.rstrip("/")
        rng = random.Random(7)
        visitor = "93.184.216.34"
        results = [_generate(base, headers={"X-Forwarded-For": f"{_public_address(rng)}, {visitor}"})
                   for _ in range(6)]
        assert results.count(None) == 1
        # another visitor behind the same proxy has an allowance of their own
        assert _generate(base, headers={"X-Forwarded-For": "8.8.4.4"}) is None
        assert _images(app) == 2 * IN_FLIGHT
