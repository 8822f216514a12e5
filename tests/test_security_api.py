"""/generate, /press_button and /job judge the raw values a caller sends (audit item LOW 6), against a
real running app through gradio_client: every bad value is one sentence, no traceback, nothing created."""

from __future__ import annotations

import logging
import pytest
import requests

from tests.app_helpers import running_demo_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

pytestmark = pytest.mark.slow

BATCH = "The batch size must be 1, 2, 3 or 4."
SIMILAR = "'Similar' must be a number from 0 to 1."


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("security-api")) as running:
        yield running


@pytest.fixture(scope="module")
def client(app):
    return Client(app.local_url, verbose=False)


def _creates(app) -> int:
    return app.built.demo_server.sim.stats()["creates"]


@pytest.mark.parametrize("kwargs, sentence", [
    ({"batch": "abc"}, BATCH),
    ({"batch": None}, BATCH),
    ({"batch": 2.5}, BATCH),  # was silently 2 jobs
    ({"batch": True}, BATCH),
    ({"batch": "2"}, BATCH),
    ({"batch": [2]}, BATCH),
    ({"similar": "abc", "source_url": "https://example.com/a.png"}, SIMILAR),
    ({"similar": None}, SIMILAR),
    ({"similar": True}, SIMILAR),
    ({"similar": 2}, SIMILAR),
    ({"wait": "false"}, "'wait' must be true or false."),
    ({"session": 12345}, "'session' must be text."),
    ({"api_key": {"k": "x"}}, "'api_key' must be text."),
    ({"source_url": 7}, "'source_url' must be text (a URL) or a list of URLs."),
])
def test_generate_refuses_bad_raw_values_with_one_sentence(app, client, caplog, kwargs, sentence):
    before = _creates(app)
    with caplog.at_level(logging.INFO), pytest.raises(AppError) as info:
        client.predict(prompt="A kite", **kwargs, api_name="/generate")
    assert str(info.value).strip() == sentence
    assert _creates(app) == before
    assert "failed unexpectedly" not in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize("batch, similar, sentence", [
    ("NaN", "0.5", BATCH), ("Infinity", "0.5", BATCH), ("1", "NaN", SIMILAR), ("1", "-Infinity", SIMILAR),
])
def test_generate_refuses_non_finite_numbers_sent_as_raw_json(app, batch, similar, sentence):
    """gradio_client will not encode NaN; a raw caller can (Python's JSON reader accepts it)."""
    body = ('{"data": ["A kite", "", "1:1", "1080p", %s, "https://example.com/a.png", %s, "", "", true, ""]}'
            % (batch, similar))
    before = _creates(app)
    started = requests.post(f"{app.local_url.rstrip('/')}/gradio_api/call/generate", data=body,
                            headers={"Content-Type": "application/json"}, timeout=10)
    assert started.status_code == 200, started.text
    event_id = started.json()["event_id"]
    stream = requests.get(f"{app.local_url.rstrip('/')}/gradio_api/call/generate/{event_id}", timeout=30).text
    assert "event: error" in stream and sentence.replace("'", "") in stream.replace("'", "").replace("\\", "")
    assert _creates(app) == before


def test_whole_floats_are_whole_numbers(app, client):
    result = client.predict(prompt="A kite", batch=2.0, similar=1, wait=False, api_name="/generate")
    assert len(result["jobs"]) == 2


@pytest.mark.parametrize("kwargs, sentence", [
    ({"job_id": 5, "button": "U1"}, "'job_id' must be text."),
    ({"job_id": "0" * 24, "button": None}, "The button must be one of U1-U4 (upscale) or V1-V4 (variation)."),
    ({"job_id": "0" * 24, "button": "U1", "wait": 1}, "'wait' must be true or false."),
])
def test_press_button_refuses_bad_raw_values(client, kwargs, sentence):
    with pytest.raises(AppError) as info:
        client.predict(**kwargs, api_name="/press_button")
    assert str(info.value).strip() == sentence


def test_job_refuses_a_non_text_id(client):
    with pytest.raises(AppError) as info:
        client.predict(job_id=["x"], api_name="/job")
    assert str(info.value).strip() == "'job_id' must be text."
