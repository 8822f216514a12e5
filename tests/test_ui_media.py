"""What API callers download, and how stored images are served: previews as files, originals as URLs (or a
file from /original), immutable cache headers, ETags and 304s, and the handlers' thread lanes."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import requests

from akool_ui.ui.handlers import common
from akool_ui.ui.media import MediaLinks
from akool_ui.ui.media_files import IMMUTABLE, media_url_path, resolve_media
from tests.app_helpers import running_demo_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running_app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("ui-media-cache")) as running:
        yield running


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("client-downloads")


@pytest.fixture(scope="module")
def made(running_app, downloads):
    """One finished job, fetched with the client's default settings: (client, result, stored original)."""
    client = Client(running_app.local_url, verbose=False, download_files=str(downloads))
    result = client.predict(prompt="A tidy harbour at noon", api_name="/generate")
    record = running_app.studio.store.get(result["jobs"][0]["id"])
    return client, result, running_app.studio.image_path(record.images[0].original)


def test_a_default_call_downloads_previews_only_and_gives_original_urls(made, downloads, running_app):
    _, result, stored = made
    (job,) = result["jobs"]
    assert job["state"] == "succeeded" and job["images"]
    for image in job["images"]:
        assert "original" not in image
        assert Path(image["preview"]).is_file() and Path(image["preview"]).suffix == ".webp"
        assert image["original_url"].startswith(running_app.local_url.rstrip("/") + "/media/")
    fetched = [p for p in downloads.rglob("*") if p.is_file()]
    assert sorted(p.name for p in fetched) == sorted(Path(i["preview"]).name for i in job["images"])
    response = requests.get(job["images"][0]["original_url"], timeout=10)
    assert response.status_code == 200 and response.content == stored.read_bytes()  # as stored, never re-encoded
    assert response.headers["cache-control"] == IMMUTABLE and response.headers["etag"]
    assert response.headers["content-type"].startswith("image/")


def test_an_unchanged_image_is_answered_304_without_a_body(made):
    _, result, _ = made
    url = result["jobs"][0]["images"][0]["original_url"]
    first = requests.get(url, timeout=10)
    again = requests.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    assert requests.get(url, headers={"If-None-Match": '"something-else"'}, timeout=10).status_code == 200
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(first.content)
    part = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10)
    assert part.status_code == 206 and part.content == first.content[:10]


def test_gradio_file_links_of_media_get_the_same_cache_headers(made, running_app):
    _, result, _ = made
    job_id = result["jobs"][0]["id"]
    previews = list((running_app_media_root(running_app)).glob(f"*/{job_id}-*-preview.webp"))
    assert previews
    base = running_app.local_url.rstrip("/")
    response = requests.get(f"{base}/gradio_api/file={previews[0]}", timeout=10)
    assert response.status_code == 200 and response.content == previews[0].read_bytes()
    assert response.headers["cache-control"] == IMMUTABLE
    cached = requests.get(f"{base}/gradio_api/file={previews[0]}", headers={"If-None-Match": response.headers["etag"]},
                          timeout=10)
    assert cached.status_code == 304


def running_app_media_root(running_app) -> Path:
    from gradio.utils import get_upload_folder

    return MediaLinks(b"k", get_upload_folder()).root


def test_an_original_comes_as_a_file_when_asked(made):
    client, result, stored = made
    job, session = result["jobs"][0], result["session"]
    one = client.predict(job_id=job["id"], index=0, session=session, api_name="/original")
    assert Path(one).read_bytes() == stored.read_bytes()
    again = client.predict(job["id"], 0, "", session, api_name="/original")  # positional, as in the README
    assert Path(again).read_bytes() == stored.read_bytes()


def test_original_refuses_what_it_cannot_give(made):
    client, result, _ = made
    job, session = result["jobs"][0], result["session"]
    with pytest.raises(AppError, match="no stored original"):
        client.predict(job_id=job["id"], index=7, session=session, api_name="/original")
    with pytest.raises(AppError, match="must be a whole number"):
        client.predict(job_id=job["id"], index="0", session=session, api_name="/original")
    with pytest.raises(AppError, match="no job with that id"):
        client.predict(job_id=job["id"], index=0, session="someone-else-0123456789", api_name="/original")


def test_no_traffic_pages_and_no_listing_of_the_media_folder(running_app):
    """Gradio's /monitoring pages (every endpoint's traffic, open to anyone by default) are off, and the
    media folder, now one of Gradio's static paths, lists nothing."""
    base = running_app.local_url.rstrip("/")
    for path in ("/monitoring", "/monitoring/summary", f"/gradio_api/file={running_app_media_root(running_app)}"):
        assert requests.get(base + path, timeout=10).status_code in (403, 404), path


def test_the_media_route_serves_only_media_links(made, running_app):
    _, result, stored = made
    base = running_app.local_url.rstrip("/")
    url = result["jobs"][0]["images"][0]["original_url"]
    link_dir = url.split("/media/")[1].split("/")[0]
    cache = running_app.studio.store.cache_dir
    for path in (
        f"/media/{link_dir}/.hidden", f"/media/{link_dir}/..%2F..%2Fowner.key", f"/media/{'0' * 64}/x.png",
        f"/media/not-a-dir/{stored.name}", f"/media/{link_dir}/%2E%2E", f"/media/..%2F{cache}/owner.key",
    ):
        assert requests.get(base + path, timeout=10).status_code == 404, path


def test_media_paths_and_names(tmp_path):
    media = MediaLinks(b"key", tmp_path)
    source = tmp_path / "source.png"
    source.write_bytes(b"x")
    published = media.publish(source, owner="o", job_id="j", name="j-0.png")
    assert media_url_path(media, published) == f"/media/{Path(published).parent.name}/j-0.png"
    assert media_url_path(media, str(source)) is None
    assert resolve_media(media, Path(published).parent.name, "j-0.png") == Path(published)
    for link_dir, name in (("x" * 64, "a.png"), ("0" * 64, ".tmp"), ("0" * 64, "a/b"), ("0" * 63, "a.png")):
        assert resolve_media(media, link_dir, name) is None


def test_waiting_api_calls_take_no_worker_slot(running_app):
    fns = {fn.api_name: fn for fn in running_app.demo.fns.values()}
    assert fns["generate"].concurrency_limit is None and fns["press_button"].concurrency_limit is None
    assert fns["job"].concurrency_limit == common.QUICK_CONCURRENCY  # quick calls keep a bounded lane


def test_a_quick_call_answers_while_more_calls_wait_than_gradio_has_places(tmp_path):
    """Gradio's queue gives every running event a place (40 unless told otherwise) and a waiting /generate
    keeps its place for its whole job: 45 scripts waiting on slow jobs must leave room for a quick call."""
    waiting = 45
    session = "load-test-session-0123456789"
    with running_demo_app(tmp_path / "cache", AKOOL_DEMO_SPEED="0.01") as slow_app:  # each job takes minutes
        client = Client(slow_app.local_url, verbose=False, download_files=False, max_workers=2 * waiting)
        calls = [client.submit(f"slow job {n}", session=session, api_name="/generate") for n in range(waiting)]
        studio = slow_app.studio
        owner = studio.owner_for(None, session)
        deadline = time.monotonic() + 60
        while len(studio.history(owner, limit=100).items) < waiting:
            assert time.monotonic() < deadline, "some waiting calls never started: the queue had no place for them"
            time.sleep(0.2)
        # a quick call through the same queue (before: it waited for a job to finish, minutes away)
        listed = client.submit(session=session, limit=100, api_name="/history").result(timeout=60)
        assert len(listed["jobs"]) == waiting
        assert all(job["state"] != "succeeded" for job in listed["jobs"])
        assert not any(call.done() for call in calls)  # every waiting call still holds its place
        for call in calls:
            call.cancel()


def test_quick_calls_get_a_thread_while_the_work_lane_is_full():
    """Work-lane calls blocked on a slow Akool never delay a quick read."""
    release = threading.Event()
    outcome: dict[str, float] = {}

    async def scenario() -> None:
        slow = [asyncio.create_task(common.in_thread(release.wait, 30, lane=common.WORK_LANE))
                for _ in range(common.LANE_THREADS[common.WORK_LANE] + 4)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.wait_for(common.in_thread(lambda: "read"), timeout=10)
        outcome["quick"] = time.monotonic() - started
        outcome["slow_running"] = sum(not t.done() for t in slow)
        release.set()
        await asyncio.gather(*slow)

    runner = threading.Thread(target=lambda: asyncio.run(scenario()))
    runner.start()
    runner.join(60)
    release.set()
    assert outcome["slow_running"] == common.LANE_THREADS[common.WORK_LANE] + 4
    assert "quick" in outcome  # finished while every work thread was still blocked
