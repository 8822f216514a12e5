"""The app's HTTP edges that need no browser: the private-file guard and the BrowserState secret."""

from __future__ import annotations

import os
from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from akool_ui.ui.server import PrivateFilesGuard, browser_secret


def _client(root) -> TestClient:
    async def ok(request):
        return PlainTextResponse("served")

    app = Starlette(routes=[Route("/{rest:path}", ok)])
    return TestClient(PrivateFilesGuard(app, roots=[root]))


def test_guard_refuses_every_spelling_of_a_cache_path(tmp_path):
    cache = tmp_path / "cache"
    (cache / "images").mkdir(parents=True)
    (cache / "cache.db").write_text("db")
    outside = tmp_path / "public"
    outside.mkdir()
    os.symlink(cache, outside / "link")
    client = _client(cache)
    blocked = [
        f"/gradio_api/file={cache}/cache.db",
        f"/gradio_api/file/{cache}/cache.db",
        f"/gradio_api/file={cache}",
        f"/gradio_api/file={str(cache).replace('/', '%2F')}%2Fcache.db",
        f"/gradio_api/file={outside}/../cache/cache.db",
        f"/gradio_api/file={outside}/link/cache.db",  # a symlink into the cache
        f"/gradio_api/file={cache}/images/ab/0123/0.png",  # need not exist to be refused
        f"/gradio_api/file=/a://..{cache}/cache.db",  # looks like a URL, Gradio reads it as a path
        f"/gradio_api/file=a://..{cache}/cache.db",
        f"/gradio_api/file=HTTPS://..{cache}/cache.db",  # Gradio's URL test is case-sensitive
        f"/gradio_api/file={str(cache).replace('/', '%252F')}%252Fcache.db",  # decoded twice
        f"/gradio_api/file={os.path.relpath(cache, os.getcwd())}/cache.db",  # relative to the cwd
        f"/gradio_api/file=//{str(cache).lstrip('/')}/cache.db",
    ]
    guard = PrivateFilesGuard(None, roots=[cache])
    for path in blocked:
        # The server hands the guard the path as sent (uvicorn keeps ``..``; httpx would normalise it).
        assert guard._is_private(path), path
        if "/.." not in path and "=//" not in path:
            assert client.get(path).status_code == 404, path
    allowed = [
        f"/gradio_api/file={outside}/x.png",
        "/gradio_api/file=/tmp/gradio/abc/0.preview.webp",
        f"/gradio_api/file=https://example.com{cache}/cache.db",
        "/",
        f"/uploads/{'A' * 43}.png",
    ]
    for path in allowed:
        assert client.get(path).text == "served", path


def _keys(cache_dir):
    from akool_ui.adapters.local import LocalDocuments
    from akool_ui.service.identity.owners import derived_key, load_owner_key

    return SimpleNamespace(derived_key=lambda purpose: derived_key(load_owner_key(LocalDocuments(cache_dir)), purpose))


def test_browser_secret_is_stable_per_cache_and_differs_between_caches(tmp_path):
    first = browser_secret(_keys(tmp_path / "a"))
    assert first == browser_secret(_keys(tmp_path / "a")) and len(first) == 32
    assert browser_secret(_keys(tmp_path / "b")) != first
    key = (tmp_path / "a" / "owner-key.json").read_bytes()
    assert first.encode() not in key and key.hex() not in first
