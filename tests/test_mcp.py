"""The studio as an agent's tools over MCP: a real MCP client session (the ``mcp`` package's client over
streamable HTTP) against the really running app, its demo simulator or the Akool simulator behind it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import base64
import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from PIL import Image

from akool_ui.akool import fields as request_fields
from akool_ui.settings import Settings
from akool_ui.ui.agents import TOOL_NAMES
from tests.app_helpers import running_demo_app
from tests.conftest import API_KEY, OTHER_API_KEY

pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client import streamable_http  # noqa: E402

pytestmark = pytest.mark.slow

SESSION = "mcp-test-session-0001"
_CLIENT_LOGGERS = ("mcp.client", "httpcore", "httpx")


def _run(app, steps, headers: dict[str, str] | None = None) -> Any:
    """``steps(session)`` inside one MCP client session with the app (headers sent on every request)."""
    async def go():
        async with contextlib.AsyncExitStack() as stack:
            if hasattr(streamable_http, "streamable_http_client"):  # headers go on the HTTP client
                http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300))  # the SDK's timeouts
                transport = streamable_http.streamable_http_client(
                    app.mcp_url, http_client=await stack.enter_async_context(http))
            else:  # mcp before streamable_http_client
                transport = streamable_http.streamablehttp_client(app.mcp_url, headers=headers)
            read, write, _ = await stack.enter_async_context(transport)
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            return await steps(session)
    # On a thread of its own: an earlier test's sync Playwright (its session-wide browser) leaves an event
    # loop marked running in the main thread, where asyncio.run refuses to start another.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mcp-client") as runner:
        return runner.submit(asyncio.run, go()).result()


def _call(app, name: str, arguments: dict[str, Any], *, headers: dict[str, str] | None = None, progress=None):
    return _run(app, lambda s: s.call_tool(name, arguments, progress_callback=progress), headers)


def _json(result) -> dict[str, Any]:
    assert not result.isError, result.content[0].text
    return json.loads(result.content[0].text)


def _error(result) -> str:
    assert result.isError
    return result.content[0].text


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("mcp")) as running:
        yield running


@pytest.fixture(scope="module")
def made(app) -> dict[str, Any]:
    """A batch of two made over MCP, waited for, and the progress heard meanwhile."""
    heard: list[tuple[float, str]] = []

    async def progress(value, total, message):
        heard.append((value, message))

    result = _call(app, "generate", {"prompt": "A red kite over green hills", "batch": 2, "session": SESSION},
                   progress=progress)
    return {**_json(result), "progress": heard}


def test_the_tools_are_the_agent_tools_with_descriptions_and_typed_parameters(app):
    assert app.mcp_url == app.local_url.rstrip("/") + "/gradio_api/mcp/"
    tools = {t.name: t for t in _run(app, lambda s: s.list_tools()).tools}
    # exactly the agent tools: not the gradio_client endpoints (generate/job/original ...), no page event
    assert sorted(tools) == sorted(TOOL_NAMES)
    for tool in tools.values():
        assert len(tool.description) > 40, tool.name
        assert all(p.get("description") for p in tool.inputSchema["properties"].values()), tool.name
    generate = tools["generate"].inputSchema
    props = generate["properties"]
    # every /generate field of the request table, typed from it
    assert [f.api for f in request_fields.FIELDS if f.api] == list(props)[:len([f for f in request_fields.FIELDS if f.api])]
    assert props["scale"]["enum"] == list(request_fields.field("scale").choices_for(True))
    assert props["resolution"]["enum"] == list(request_fields.field("resolution").choices)
    assert props["batch"]["type"] == "integer" and props["similar"]["type"] == "number"
    assert props["wait"] == {**props["wait"], "type": "boolean", "default": True}
    assert generate["required"] == ["prompt"]
    assert tools["press"].inputSchema["properties"]["button"]["enum"] == [
        "U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]
    assert set(tools["press"].inputSchema["required"]) == {"job_id", "button"}
    assert "api_key" in props and "session" in props
    # the schema route (what Hugging Face reads of an MCP Space) lists the same tools
    schema = requests.get(app.local_url.rstrip("/") + "/gradio_api/mcp/schema", timeout=10).json()
    assert [t["name"] for t in schema] == list(TOOL_NAMES)


def test_generate_waits_reporting_progress_and_returns_finished_jobs_with_images(app, made):
    assert made["session"] == SESSION and len(made["jobs"]) == 2
    for job in made["jobs"]:
        assert job["state"] == "succeeded" and job["buttons_free"]
        assert job["request"]["prompt"] == "A red kite over green hills"
        image = job["images"][0]
        assert image["state"] == "stored"
        for url in (image["preview_url"], image["original_url"]):
            assert url.startswith(app.local_url.rstrip("/") + "/media/")
            fetched = Image.open(io.BytesIO(requests.get(url, timeout=10).content))
            assert fetched.size[0] > 0
    assert made["progress"], "no progress notification while waiting"
    values = [v for v, _ in made["progress"]]
    assert values == sorted(values) and len(set(values)) == len(values)  # growing, as MCP requires
    assert any("Image 1" in message for _, message in made["progress"])


def test_press_u1_makes_a_child_job_and_job_status_and_history_find_it(app, made):
    parent = made["jobs"][0]
    child = _json(_call(app, "press", {"job_id": parent["id"], "button": "U1", "session": SESSION}))["jobs"][0]
    assert child["parent_id"] == parent["id"] and child["button"] == "U1" and child["state"] == "succeeded"
    assert child["images"][0]["original_url"]
    status = _json(_call(app, "job_status", {"job_id": parent["id"], "session": SESSION}))["jobs"][0]
    assert "U1" in status["used_buttons"] and "U1" not in status["buttons_free"]
    found = _json(_call(app, "search_history", {"query": "kite", "session": SESSION}))
    assert {j["id"] for j in made["jobs"]} <= {j["id"] for j in found["jobs"]}
    assert _json(_call(app, "search_history", {"query": "submarine", "session": SESSION}))["jobs"] == []
    # another session (a stranger) sees none of it
    other = "mcp-someone-else-0001"
    assert _json(_call(app, "search_history", {"session": other}))["jobs"] == []
    assert "no job with that id" in _error(_call(app, "job_status", {"job_id": parent["id"], "session": other}))


def test_download_original_is_the_full_size_image_as_image_content(app, made):
    job = made["jobs"][0]
    result = _call(app, "download_original", {"job_id": job["id"], "index": 0, "session": SESSION})
    assert not result.isError
    image_part = next(c for c in result.content if c.type == "image")
    image = Image.open(io.BytesIO(base64.b64decode(image_part.data)))
    assert image.size == (job["images"][0]["width"], job["images"][0]["height"])
    assert image_part.mimeType.startswith("image/")
    assert "not ready" in _error(_call(app, "download_original", {"job_id": job["id"], "index": 9, "session": SESSION}))


def test_generate_without_waiting_returns_at_once_and_the_session_is_made_when_none_is_given(app):
    made = _json(_call(app, "generate", {"prompt": "A lighthouse", "wait": False}))
    assert made["session"] and made["jobs"][0]["state"] in ("queued", "processing", "downloading", "succeeded")
    job_id = made["jobs"][0]["id"]
    status = _json(_call(app, "job_status", {"job_id": job_id, "session": made["session"]}))
    assert status["jobs"][0]["id"] == job_id


@pytest.mark.parametrize("name, arguments, sentence", [
    ("generate", {"prompt": "A kite", "batch": 7}, "The batch size must be 1, 2, 3 or 4."),
    ("generate", {"prompt": "   "}, None),
    ("generate", {"prompt": "A kite", "source_url": "http://127.0.0.1:1/x.png"}, None),
    ("generate", {"prompt": "A kite", "session": "no spaces allowed"}, None),
    ("press", {"job_id": "6650a1b2c3d4e5f6a7b8c9d0", "button": "U1"}, None),
    ("search_history", {"limit": 0}, "limit must be a whole number from 1 to 100."),
])
def test_bad_input_is_one_sentence_as_a_tool_error(app, name, arguments, sentence):
    creates = app.built.demo_server.sim.stats()["creates"]
    text = _error(_call(app, name, arguments))
    if sentence is not None:
        assert text == sentence
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text and not text.startswith("'")
    assert app.built.demo_server.sim.stats()["creates"] == creates  # nothing was sent
    # and the server goes on serving
    assert len(_run(app, lambda s: s.list_tools()).tools) == len(TOOL_NAMES)


def test_a_wrong_type_or_an_unknown_argument_is_refused_by_the_schema_before_the_tool_runs(app):
    text = _error(_call(app, "generate", {"prompt": "A kite", "scale": "7:5"}))
    assert "validation error" in text.lower() and "7:5" in text
    text = _error(_call(app, "generate", {"prompt": "A kite", "colour": "red"}))
    assert "validation error" in text.lower() and "'colour' was unexpected" in text and "view API" not in text


def test_account_credit_counts_what_this_session_made(app, made):
    credit = _json(_call(app, "account_credit", {"session": SESSION}))
    assert credit["paid_by"] == "this app's Akool key"
    # the operator's own (local, not shared) app: the account's balance, below the simulator's starting one
    assert isinstance(credit["balance"], (int, float)) and 0 < credit["balance"] < 100_000
    assert credit["about_per_job"] == 3 and credit["about_per_press"] >= 3  # what Akool charged, learned
    assert credit["credits_spent_here"] >= 3 + 4  # one 1080p job and one U press, as Akool charged them
    assert credit["limits"] is None  # a local app limits nothing


# --- strangers on a shared app: the page's limits --------------------------------------------------------


def test_a_stranger_over_mcp_hits_the_same_limit_as_on_the_page(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with running_demo_app(tmp_path, AKOOL_SHARED="1", AKOOL_LIMIT_IMAGES_PER_HOUR="2") as shared:
        _json(_call(shared, "generate", {"prompt": "A kite", "batch": 2, "session": "stranger-one-000001"}))
        creates = shared.built.demo_server.sim.stats()["creates"]
        # a fresh session from the same address changes nothing: counted under the address too
        refused = _error(_call(shared, "generate", {"prompt": "A kite", "session": "stranger-two-000002"}))
        assert "hour" in refused and "\n" not in refused
        assert shared.built.demo_server.sim.stats()["creates"] == creates
        # the page's API refuses the same visitor with the same sentence
        with pytest.raises(AppError) as exc:
            Client(shared.local_url, verbose=False).predict(prompt="A kite", api_name="/generate")
        assert refused in str(exc.value)
        credit = _json(_call(shared, "account_credit", {"session": "stranger-one-000001"}))
        assert credit["limits"]["images_last_hour"] == 2 and credit["limits"]["images_per_hour"] == 2
        assert credit["balance"] is None and "app's" in credit["balance_note"]  # never the operator's balance


# --- a caller's own key ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def akool_app(simulator_session, tmp_path_factory):
    from akool_ui.bootstrap import launch_app

    cache = tmp_path_factory.mktemp("mcp-akool")
    settings = Settings.from_env({"AKOOL_CACHE_DIR": str(cache), "AKOOL_BASE_URL": simulator_session.base_url,
                                  "AKOOL_POLL_INTERVAL": "0.2"})
    running = launch_app(settings, host="127.0.0.1", port=None, quiet=True)
    try:
        yield running
    finally:
        running.close()


def test_the_callers_key_header_pays_owns_the_jobs_and_is_never_kept(akool_app, caplog):
    caplog.set_level(logging.DEBUG)
    # no key on an app without one of its own: one sentence asking for it
    assert "key" in _error(_call(akool_app, "generate", {"prompt": "A harbour"})).lower()
    mine = {"X-Akool-Api-Key": API_KEY}
    made = _call(akool_app, "generate", {"prompt": "A harbour at night"}, headers=mine)
    job = _json(made)["jobs"][0]
    assert job["state"] == "succeeded" and job["images"]
    # the key is the owner, whatever the session; another key (as a parameter) sees nothing
    seen = _json(_call(akool_app, "job_status", {"job_id": job["id"], "session": "any-session-00000001"},
                       headers=mine))
    assert seen["jobs"][0]["id"] == job["id"]
    assert "no job with that id" in _error(_call(akool_app, "job_status",
                                                 {"job_id": job["id"], "api_key": OTHER_API_KEY}))
    credit = _json(_call(akool_app, "account_credit", {}, headers=mine))
    assert credit["paid_by"] == "your own Akool key" and credit["limits"] is None
    assert credit["credits_spent_here"] >= 1
    refused = _call(akool_app, "generate", {"prompt": "A harbour", "api_key": "WrongKey0123456789abcdef"})
    # never echoed, logged or stored
    texts = [c.text for r in (made, refused) for c in r.content if c.type == "text"]
    assert all(API_KEY not in t and "WrongKey0123456789abcdef" not in t for t in texts)
    # the server's log (this process also holds the test's MCP client and its HTTP library, which log
    # what they send: the caller's own side)
    server_log = [r for r in caplog.records if not r.name.startswith(_CLIENT_LOGGERS)]
    leaked = [f"{r.name}: {r.getMessage()[:200]}" for r in server_log
              if API_KEY in r.getMessage() or "WrongKey0123456789abcdef" in r.getMessage()]
    assert not leaked and server_log
    for needle in (API_KEY.encode(), b"WrongKey0123456789abcdef"):
        for path in Path(akool_app.studio.store.cache_dir).rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), path


# --- the switch ------------------------------------------------------------------------------------------


def test_mcp_is_on_unless_akool_mcp_is_0():
    assert Settings.from_env({}).mcp is True
    assert Settings.from_env({"AKOOL_MCP": "0"}).mcp is False
    with pytest.raises(ValueError, match="AKOOL_MCP"):
        Settings.from_env({"AKOOL_MCP": "maybe"})


def test_with_mcp_off_there_is_no_mcp_server_and_no_tool_endpoint(tmp_path):
    with running_demo_app(tmp_path, AKOOL_MCP="0") as off:
        assert off.mcp_url is None
        assert requests.get(off.local_url.rstrip("/") + "/gradio_api/mcp/", timeout=10).status_code == 404
        config = requests.get(off.local_url.rstrip("/") + "/config", timeout=10).json()
        assert not [d for d in config["dependencies"] if str(d.get("api_name", "")).startswith("mcp_")]
