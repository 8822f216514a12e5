"""Stored images are private to their owner, against a real running app (audit item HIGH 1).

Every spelling a stranger might try against Gradio's file route (absolute, URL-looking prefixes, percent
encodings, ``..``, cwd-relative, symlinks) must fail for files in the cache; the owner's own links work,
are not derivable from the job id, and stop working when the job is deleted.
"""

from __future__ import annotations

import http.client
import os
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from gradio.utils import get_upload_folder

from akool_ui.settings import Settings
from tests.app_helpers import running_demo_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_demo_app(tmp_path_factory.mktemp("security-files-cache")) as running:
        yield running


@pytest.fixture(scope="module")
def made(app):
    """One finished job of a first visitor: (result, its stored original and preview paths)."""
    client = Client(app.local_url, verbose=False)
    result = client.predict(prompt="A private lighthouse", api_name="/generate")
    job = result["jobs"][0]
    assert job["state"] == "succeeded", job
    record = app.studio.store.get(job["id"])
    entry = record.images[0]
    original = app.studio.image_path(entry.original)
    preview = app.studio.image_path(entry.preview)
    assert original.is_file() and preview.is_file()
    return result, original, preview


def _get(app, path: str, method: str = "GET") -> tuple[int, bytes]:
    """A raw request with the path sent exactly as written (no client-side normalisation of ``..``)."""
    parts = urlsplit(app.local_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _spellings(target: Path) -> list[str]:
    absolute = str(target)
    relative = os.path.relpath(target, os.getcwd())
    root_relative = absolute.lstrip("/")
    encoded = quote(absolute, safe="")
    return [
        f"/gradio_api/file={absolute}",
        f"/gradio_api/file=/a://..{absolute}",  # the audit's bypass: looks like a URL, is a path
        f"/gradio_api/file=a://..{absolute}",
        f"/gradio_api/file=x://y/../..{absolute}",
        f"/gradio_api/file=HTTP://..{absolute}",
        f"/gradio_api/file=/tmp/..{absolute}",
        f"/gradio_api/file=/tmp/./../{root_relative}",
        f"/gradio_api/file=//{root_relative}",
        f"/gradio_api/file={relative}",
        f"/gradio_api/file=./{relative}",
        f"/gradio_api/file={encoded}",
        f"/gradio_api/file={quote(encoded, safe='')}",  # double-encoded
        f"/gradio_api/file={absolute.replace('/', '%2F')}",
        f"/gradio_api/file={absolute.replace('/', '%252F')}",
        f"/gradio_api/file={absolute}%00.png",
        f"/gradio_api/file/{absolute}",
        f"/gradio_api/file={get_upload_folder()}/../..{absolute}",
    ]


def test_no_spelling_of_a_stored_file_is_served(app, made):
    _, original, preview = made
    cache = Path(app.studio.store.cache_dir)
    index = Path(app.studio.store.index_dir)
    targets = [original, preview, index / "cache.db", cache / "owner-key.json", cache / "demo" / "account.json"]
    for target in targets:
        assert target.exists(), target
        for path in _spellings(target):
            for method in ("GET", "HEAD"):
                status, body = _get(app, path, method)
                assert status in (400, 403, 404), (path, method, status)
                assert target.read_bytes()[:64] not in body or not body, path


def test_a_symlink_into_the_cache_is_not_followed(app, made):
    _, original, _ = made
    link_dir = Path(get_upload_folder()) / "security-test-links"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / f"link-{os.getpid()}.jpg"
    dir_link = link_dir / f"dir-{os.getpid()}"
    try:
        link.unlink(missing_ok=True)
        link.symlink_to(original)
        dir_link.unlink(missing_ok=True)
        dir_link.symlink_to(original.parent, target_is_directory=True)
        for path in (f"/gradio_api/file={link}", f"/gradio_api/file={dir_link}/{original.name}"):
            status, _ = _get(app, path)
            assert status in (403, 404), (path, status)
    finally:
        link.unlink(missing_ok=True)
        dir_link.unlink(missing_ok=True)


def test_the_owner_gets_working_links_that_name_no_job_path(app, made):
    result, original, preview = made
    image = result["jobs"][0]["images"][0]
    job_id = result["jobs"][0]["id"]
    # gradio_client downloaded the preview: same bytes as the store, from a path outside the cache; the
    # original is a URL to the owner's link, with the stored bytes as they are
    assert Path(image["preview"]).read_bytes() == preview.read_bytes()
    response = requests.get(image["original_url"], timeout=10)
    assert response.status_code == 200 and response.content == original.read_bytes()
    assert str(original.parent) not in image["original_url"]
    links = list((Path(get_upload_folder()) / "akool-media").glob(f"*/{job_id}-*"))
    assert links, "the app published nothing for the owner"
    for link in links:
        folder = link.parent.name
        assert re.fullmatch(r"[0-9a-f]{64}", folder) and job_id not in folder
        status, body = _get(app, f"/gradio_api/file={link}")
        assert status == 200 and body == link.read_bytes()


def test_deleting_a_job_revokes_its_links(app):
    client = Client(app.local_url, verbose=False)
    result = client.predict(prompt="Soon deleted", api_name="/generate")
    job = result["jobs"][0]
    owner = app.studio.owner_for(None, result["session"])
    links = list((Path(get_upload_folder()) / "akool-media").glob(f"*/{job['id']}-*"))
    assert links
    assert _get(app, f"/gradio_api/file={links[0]}")[0] == 200
    import gradio as gr

    from akool_ui.ui.handlers import StudioHandlers
    from akool_ui.ui.layout import render_page

    with gr.Blocks():
        page = render_page(app.studio, browser_secret="0" * 32)
    handlers = StudioHandlers(app.studio, page)
    view = {"jobs": [job["id"]], "selected": job["id"], "index": 0, "items": [], "zip": None}
    shown = handlers.results.delete(view, "", result["session"])
    assert shown[page.results.view]["jobs"] == [] and shown[page.results.gallery] == []
    assert handlers.access.records([job["id"]], owner) == []  # out of the history at once (undo possible)
    app.studio.trash.flush()  # the undo period ends
    assert app.studio.get(job["id"], owner) is None
    for link in links:
        assert not link.exists()
        assert _get(app, f"/gradio_api/file={link}")[0] in (403, 404)


def test_app_refuses_to_start_when_gradio_folder_is_inside_the_cache(tmp_path, monkeypatch):
    from akool_ui.bootstrap import launch_app as launch

    cache = tmp_path / "cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache / "gradio"))
    settings = Settings.from_env({"AKOOL_CACHE_DIR": str(cache)})
    with pytest.raises(ValueError, match="must not contain each other"):
        launch(settings, host="127.0.0.1", port=None, quiet=True)
