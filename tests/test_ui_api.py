"""The named API endpoints (/generate, /press_button, /job) through gradio_client, against the real app
in demo mode (in-process simulator over HTTP), plus the app's own routes and its file privacy."""

from __future__ import annotations

import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from akool_ui.service.library.uploads import NoPublicUrl
from akool_ui.settings import Settings
from tests.app_helpers import running_demo_app
from tests.conftest import API_KEY, OTHER_API_KEY

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

pytestmark = pytest.mark.slow

CONCURRENT_USERS = 20


def _page_handlers(studio):
    """The handlers of one page, bound to its panels (built in a Blocks that is never launched)."""
    import gradio as gr

    from akool_ui.ui.handlers import StudioHandlers
    from akool_ui.ui.layout import render_page

    with gr.Blocks():
        page = render_page(studio, browser_secret="0" * 32)
    return StudioHandlers(studio, page), page


@pytest.fixture(scope="module")
def running_app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("ui-api-cache")) as running:
        yield running


@pytest.fixture(scope="module")
def client(running_app):
    return Client(running_app.local_url, verbose=False)


def _open(path: str) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def test_only_the_named_endpoints_are_public(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert sorted(info["named_endpoints"]) == [
        "/check_again", "/generate", "/history", "/job", "/original", "/press_button",
    ]
    assert info["unnamed_endpoints"] == {}
    params = [p["parameter_name"] for p in info["named_endpoints"]["/generate"]["parameters"]]
    assert params[:3] == ["prompt", "negative_prompt", "scale"] and "api_key" in params and "session" in params


def test_generate_waits_and_returns_local_images(client):
    result = client.predict(prompt="A red kite over green hills", batch=2, api_name="/generate")
    assert len(result["session"]) >= 16
    jobs = result["jobs"]
    assert len(jobs) == 2 and len({j["id"] for j in jobs}) == 2
    for job in jobs:
        assert job["state"] == "succeeded", job
        assert job["prompt"] == "A red kite over green hills"
        assert "U1" in job["buttons"] and job["used_buttons"] == []
        assert job["images"], job
        for image in job["images"]:
            original = _open_bytes(requests.get(image["original_url"], timeout=10).content)
            preview = _open(image["preview"])
            assert original.size == (image["width"], image["height"])
            assert max(preview.size) <= 768 and preview.size[0] > 0
            assert max(original.size) >= max(preview.size)


def test_press_button_makes_a_4k_child_and_marks_the_button_used(client):
    first = client.predict(prompt="A lighthouse at dawn", api_name="/generate")
    session, parent = first["session"], first["jobs"][0]
    pressed = client.predict(job_id=parent["id"], button="U1", session=session, api_name="/press_button")
    child = pressed["jobs"][0]
    assert child["state"] == "succeeded" and child["kind"] == "button"
    assert child["parent_id"] == parent["id"] and child["button"] == "U1"
    assert child["lineage"].startswith("U1 of ")
    assert "original" not in child["images"][0]  # a URL only: downloaded when asked for
    big = _open(client.predict(job_id=child["id"], index=0, session=session, api_name="/original"))
    assert max(big.size) >= 3840, big.size  # 4K
    again = client.predict(job_id=parent["id"], session=session, api_name="/job")["jobs"][0]
    assert "U1" in again["used_buttons"] and "U1" not in again["buttons"]
    with pytest.raises(AppError, match="already been used"):
        client.predict(job_id=parent["id"], button="U1", session=session, api_name="/press_button")


def test_jobs_are_private_to_their_session(client):
    made = client.predict(prompt="A private teapot", wait=False, api_name="/generate")
    job_id = made["jobs"][0]["id"]
    assert client.predict(job_id=job_id, session=made["session"], api_name="/job")["jobs"][0]["id"] == job_id
    with pytest.raises(AppError, match="no job with that id"):
        client.predict(job_id=job_id, session="another-browser-0123456789", api_name="/job")
    with pytest.raises(AppError, match="no job with that id"):
        client.predict(job_id=job_id, api_name="/job")  # a fresh session


def test_bad_input_is_one_plain_sentence(client):
    with pytest.raises(AppError) as exc:
        client.predict(prompt="   ", api_name="/generate")
    assert str(exc.value).strip() == "Please write a prompt describing the image."
    with pytest.raises(AppError, match="batch size must be 1, 2, 3 or 4"):
        client.predict(prompt="x", batch=9, api_name="/generate")
    with pytest.raises(AppError, match="source images must be a list of web addresses"):
        client.predict(prompt="x", source_url=[1, 2], api_name="/generate")
    with pytest.raises(AppError, match="At most 4 source images"):
        client.predict(prompt="x", source_url=[f"https://example.com/{n}.png" for n in range(5)],
                       api_name="/generate")
    with pytest.raises(AppError, match="'Original' aspect ratio needs a source image"):
        client.predict(prompt="x", scale="Original", api_name="/generate")
    with pytest.raises(AppError, match="valid job id"):
        client.predict(job_id="../../etc/passwd", api_name="/job")


def test_twenty_concurrent_generations_all_complete_and_overlap(client, running_app):
    def one(i: int) -> dict:
        return client.predict(prompt=f"Concurrent scene number {i}", api_name="/generate")

    started = time.monotonic()
    one(-1)
    single = time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT_USERS) as pool:
        results = list(pool.map(one, range(CONCURRENT_USERS)))
    wall = time.monotonic() - started
    jobs = [result["jobs"][0] for result in results]
    assert [job["state"] for job in jobs] == ["succeeded"] * CONCURRENT_USERS
    assert len({job["id"] for job in jobs}) == CONCURRENT_USERS
    # How many jobs were in progress at the same moment: a queue serving one caller at a time (Gradio's
    # default concurrency limit) would never have more than one.
    overlap = max(sum(1 for j in jobs if j["created_at"] <= job["created_at"] < j["finished_at"]) for job in jobs)
    assert overlap >= CONCURRENT_USERS // 2, overlap
    print(f"20 concurrent generations: {wall:.1f} s wall (one alone: {single:.1f} s), {overlap} in flight at once")


def test_cache_files_are_never_served_directly(client, running_app):
    result = client.predict(prompt="A guarded vault", api_name="/generate")
    job_id = result["jobs"][0]["id"]
    store = running_app.studio.store
    record = store.get(job_id)
    original = running_app.studio.image_path(record.images[0].original)
    assert original.is_file()
    base = running_app.local_url.rstrip("/")
    for path in (original, store.cache_dir / "cache.db", store.cache_dir / "owner-key.json"):
        for prefix in ("/gradio_api/file=", "/gradio_api/file/"):
            response = requests.get(f"{base}{prefix}{path}", timeout=10)
            assert response.status_code == 404, (prefix, path, response.status_code)
    # ...while what the API handed out (the owner's link) serves it
    assert requests.get(result["jobs"][0]["images"][0]["original_url"], timeout=10).content == original.read_bytes()


def test_uploads_route_serves_only_stored_tokens(running_app):
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 99, 199)).save(buf, format="PNG")
    upload = running_app.studio.uploads.add_bytes(buf.getvalue())
    base = running_app.local_url.rstrip("/")
    response = requests.get(f"{base}/uploads/{upload.name}", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert _open_bytes(response.content).getpixel((3, 3)) == (9, 99, 199)
    for name in ("A" * 43 + ".png", "..%2Fcache.db", upload.token, "owner.key"):
        assert requests.get(f"{base}/uploads/{name}", timeout=10).status_code == 404


def test_webhook_route_refuses_what_it_cannot_verify(running_app):
    base = running_app.local_url.rstrip("/")
    response = requests.post(
        f"{base}/webhooks/akool",
        json={"signature": "0" * 40, "dataEncrypt": "AAAA", "timestamp": int(time.time() * 1000), "nonce": "1"},
        timeout=10,
    )
    assert response.status_code == 400
    assert requests.post(f"{base}/webhooks/akool", data=b"not json", timeout=10).status_code == 400
    assert requests.get(f"{base}/healthz", timeout=10).json() == {"status": "ok", "mode": "demo"}


def _open_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- Akool mode: no server credentials, every visitor brings their own key --------------------------------


@pytest.fixture(scope="module")
def akool_app(simulator_session, tmp_path_factory):
    from akool_ui.bootstrap import launch_app as launch

    cache = tmp_path_factory.mktemp("ui-akool-cache")
    settings = Settings.from_env(
        {"AKOOL_CACHE_DIR": str(cache), "AKOOL_BASE_URL": simulator_session.base_url, "AKOOL_POLL_INTERVAL": "0.2"}
    )
    running = launch(settings, host="127.0.0.1", port=None, quiet=True)
    try:
        yield running
    finally:
        running.close()


def test_akool_mode_without_a_key_asks_for_one(akool_app):
    assert akool_app.studio.mode == "akool"
    client = Client(akool_app.local_url, verbose=False)
    with pytest.raises(AppError, match="enter your Akool API key"):
        client.predict(prompt="A harbour at night", api_name="/generate")
    with pytest.raises(AppError, match="did not accept the API key"):
        client.predict(prompt="A harbour at night", api_key="WrongKey0123456789abcdef", api_name="/generate")


def test_a_visitors_own_key_owns_its_jobs_and_is_never_kept(akool_app, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(akool_app.local_url, verbose=False)
    made = client.predict(prompt="A harbour at night", api_key=API_KEY, api_name="/generate")
    job = made["jobs"][0]
    assert job["state"] == "succeeded" and job["images"]
    # the key is the owner: another session with the same key sees the job, another key does not
    seen = client.predict(job_id=job["id"], api_key=API_KEY, session="some-other-browser-0001", api_name="/job")
    assert seen["jobs"][0]["id"] == job["id"]
    with pytest.raises(AppError, match="no job with that id"):
        client.predict(job_id=job["id"], api_key=OTHER_API_KEY, api_name="/job")
    with pytest.raises(AppError, match="no job with that id"):
        client.predict(job_id=job["id"], session=made["session"], api_name="/job")  # the session alone: no
    # never written anywhere: not in logs, not in any file under the cache dir
    assert API_KEY not in caplog.text
    needle = API_KEY.encode()
    for path in Path(akool_app.studio.store.cache_dir).rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_akool_mode_without_a_public_url_explains_uploads(akool_app, tmp_path):
    from akool_ui.ui.layout import _banner

    text, _ = _banner(akool_app.studio)
    # visitors are told what they can do; the operator's fix (AKOOL_PUBLIC_URL) is in the log, not the page
    assert "connected to akool" in text.lower() and "paste a public image URL" in text
    assert "AKOOL_PUBLIC_URL" not in text
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(source)
    handlers, _ = _page_handlers(akool_app.studio)
    with pytest.raises(NoPublicUrl) as exc:
        handlers.create.build_request({"prompt": "A cat", "source_upload": str(source)})
    assert "paste a public image URL" in exc.value.user_message and "AKOOL_" not in exc.value.user_message
    assert akool_app.studio.uploads.total_bytes() == 0  # nothing stored
    # a public image URL still works as the source
    request = handlers.create.build_request({"prompt": "A cat", "source_images": [" https://example.com/cat.png "]})
    assert request.source_image_url == "https://example.com/cat.png"


def test_history_pages_newest_first_and_searches_prompts(client, running_app):
    from akool_ui.ui.handlers import HISTORY_PAGE_SIZE

    session = "paging-browser-0123456789"
    total = HISTORY_PAGE_SIZE + 1
    for i in range(total):
        client.predict(prompt=f"Paging test {i:02d}", session=session, wait=False, api_name="/generate")
    h, page = _page_handlers(running_app.studio)
    panel = page.history
    first = h.history.refresh("", False, "", session)
    tiles, state = first[panel.gallery], first[panel.state]
    assert len(tiles) == HISTORY_PAGE_SIZE and first[panel.pager] == "Page 1"
    assert tiles[0][1].startswith(f"Paging test {total - 1:02d}")  # newest first
    assert first[panel.newer]["interactive"] is False and first[panel.older]["interactive"] is True
    second = h.history.older(state, "", session)
    assert [t[1][:15] for t in second[panel.gallery]] == ["Paging test 00 "] and second[panel.pager] == "Page 2"
    assert second[panel.newer]["interactive"] is True and second[panel.older]["interactive"] is False
    prompts = lambda page: [caption.split(" · ")[0] for _, caption in page]  # noqa: E731 - states change
    assert prompts(h.history.newer(second[panel.state], "", session)[panel.gallery]) == prompts(tiles)
    found = h.history.refresh("test 07", False, "", session)[panel.gallery]
    assert [t[1][:14] for t in found] == ["Paging test 07"]
    nothing = h.history.refresh("no such prompt", False, "", session)
    assert nothing[panel.gallery] == [] and nothing[panel.pager] == "No jobs match that search."
    # another browser sees none of it
    assert h.history.refresh("", False, "", "someone-else-0123456789")[panel.gallery] == []


def test_generate_takes_a_model_and_shows_it_in_the_job(client):
    result = client.predict(prompt="A kite over dunes", model_name="wavespeed-ai/flux-krea-dev-lora",
                            api_name="/generate")
    (job,) = result["jobs"]
    assert job["state"] == "succeeded" and job["request"]["model_name"] == "wavespeed-ai/flux-krea-dev-lora"
    with pytest.raises(AppError, match="is for image-to-image"):
        client.predict(prompt="A kite", model_name="wavespeed-ai/flux-kontext-dev", api_name="/generate")
    with pytest.raises(AppError, match="The model must be one of"):
        client.predict(prompt="A kite", model_name="dall-e", api_name="/generate")
