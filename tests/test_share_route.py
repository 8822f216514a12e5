"""The share page over real HTTP against the running app (``ui/share_page.py``): one job's image through
the share's own URLs, the prompt only when included, escaped, nothing of the owner's other jobs; revoked,
unknown and deleted links get one sentence; a link survives a restart. And Gradio's own run history
(``/gradio_api/runs``) is off: it records nothing and serves nothing to anyone."""

from __future__ import annotations

import re

import pytest
import requests

from akool_ui.akool.models import ImageRequest
from akool_ui.service import ShareGone, ShareNotFound
from tests.app_helpers import running_demo_app
from tests.test_tracker import wait_final

pytestmark = pytest.mark.slow

OWNER = "owner-share-route"
PROMPT = "A <script>alert('x')</script> harbour & a ship"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("share-route-cache")


@pytest.fixture(scope="module")
def running(folder):
    with running_demo_app(folder) as running:
        yield running


def _finished(studio, prompt: str, owner: str = OWNER):
    [record] = studio.submit(ImageRequest(prompt=prompt, negative_prompt="rain"), api_key=None, owner=owner)
    wait_final(studio.tracker, [record.id])
    return studio.get(record.id, owner)


def _url(running, path: str) -> str:
    return running.local_url.rstrip("/") + path


@pytest.fixture(scope="module")
def jobs(running):
    studio = running.studio
    return _finished(studio, PROMPT), _finished(studio, "Another job of the same owner")


def test_the_page_shows_the_one_image_with_its_prompt_escaped_and_nothing_else(running, jobs):
    studio = running.studio
    shared, other = jobs
    entry = shared.images[1]
    share = studio.share(OWNER, shared.id, entry.index, include_prompt=True)
    page = requests.get(_url(running, f"/share/{share.id}"), timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; harbour &amp; a ship" in body and "<script" not in body
    assert "rain" in body and "Generated from a text prompt" in body
    assert "Made with <a href=\"../\">Akool Image Studio</a>" in body
    assert 'name="viewport"' in body
    for secret in (shared.id, other.id, OWNER, "/media/", "gradio_api", "file="):
        assert secret not in body
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    sources = re.findall(r'src="([^"]+)"', body)
    assert sources == [f"{share.id}/image/1"]  # relative to /share/: one image, through the share's own URL
    image = requests.get(_url(running, f"/share/{sources[0]}"), timeout=10)
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    assert image.content == studio.image_path(entry.preview).read_bytes()
    original = requests.get(_url(running, f"/share/{share.id}/original/1"), timeout=10)
    assert original.content == studio.image_path(entry.original).read_bytes()
    assert shared.id not in original.headers.get("content-disposition", "")
    for wrong in ("image/2", "image/0", "image/abc", "image/-1", "original/99", "image/1.webp", "other/1"):
        assert requests.get(_url(running, f"/share/{share.id}/{wrong}"), timeout=10).status_code == 404, wrong


def test_without_the_prompt_neither_the_page_nor_the_files_carry_it(running, jobs):
    studio = running.studio
    shared, _ = jobs
    share = studio.share(OWNER, shared.id, 0, include_prompt=False)
    body = requests.get(_url(running, f"/share/{share.id}"), timeout=10).text
    assert "harbour" not in body and "rain" not in body and "Prompt" not in body
    for kind in ("image", "original"):
        data = requests.get(_url(running, f"/share/{share.id}/{kind}/1"), timeout=10).content
        assert b"harbour" not in data and b"rain" not in data


def test_unknown_revoked_and_deleted_links_say_one_sentence(running):
    studio = running.studio
    record = _finished(studio, "Shared, then revoked")
    share = studio.share(OWNER, record.id, 0)
    assert requests.get(_url(running, f"/share/{share.id}"), timeout=10).status_code == 200
    for bad in ("nope", "A" * 24, share.id[:-1], "%2e%2e", share.id + "x"):
        page = requests.get(_url(running, f"/share/{bad}"), timeout=10)
        assert page.status_code == 404, bad
        assert ShareNotFound.user_message in page.text.replace("&#x27;", "'")
    assert studio.revoke_share(OWNER, share.id)
    page = requests.get(_url(running, f"/share/{share.id}"), timeout=10)
    assert page.status_code == 404 and 'id="share-refusal"' in page.text
    assert requests.get(_url(running, f"/share/{share.id}/image/1"), timeout=10).status_code == 404
    deleted = _finished(studio, "Shared, then deleted")
    link = studio.share(OWNER, deleted.id, 0)
    assert studio.delete(deleted.id, OWNER)
    page = requests.get(_url(running, f"/share/{link.id}"), timeout=10)
    assert page.status_code == 410 and ShareGone.user_message in page.text
    assert requests.get(_url(running, f"/share/{link.id}/original/1"), timeout=10).status_code == 410


def test_gradio_run_history_is_off_and_serves_nobody_anything(running, jobs):
    # Gradio 6.24+ would keep every public call's inputs and outputs (prompts, and the key box's value) in
    # the browser, and offers routes to save them to a bucket. Off here: the config tells the page to record
    # nothing (and to delete runs an earlier version saved), and no history route exists for a stranger.
    base = _url(running, "")
    config = requests.get(base + "/config", timeout=10).json()
    assert config["run_history"] is False and "runs" not in config.get("footer_links", [])
    for path in ("/gradio_api/runs", "/gradio_api/runs/", "/gradio_api/run-history/records?bucket=abc/def",
                 "/gradio_api/run-history/buckets"):
        answer = requests.get(base + path, timeout=10)
        assert answer.status_code == 404, path
        assert PROMPT not in answer.text and "harbour" not in answer.text


def test_a_link_survives_a_restart(folder, running, jobs):
    shared, _ = jobs
    share = running.studio.share(OWNER, shared.id, 0, include_prompt=True)
    running.close()
    with running_demo_app(folder) as again:
        page = requests.get(again.local_url.rstrip("/") + f"/share/{share.id}", timeout=10)
        assert page.status_code == 200 and "harbour" in page.text
        image = requests.get(again.local_url.rstrip("/") + f"/share/{share.id}/image/1", timeout=10)
        assert image.status_code == 200 and image.content[:4] == b"RIFF"
