"""Serving media links cheaply: they are immutable, so browsers and scripts may keep them for good.

A media link (``media.MediaLinks``) names one stored result of one owner's job, and a result never changes
once written (a new result is a new job and a new name). So every answer for one says so: a long-lived
``Cache-Control: private, max-age=…, immutable`` and a strong ``ETag`` (the file's inode, size and mtime),
``If-None-Match`` answered ``304`` without opening the file, and the body streamed from disk in large
chunks (Starlette reads them in worker threads; nothing is decoded or re-encoded).

Two ways in, one answer:

* ``GET /media/<link dir>/<name>`` (``MEDIA_ROUTE``): the URL API callers get for originals
  (``original_url``), to fetch when and if they want them;
* ``GET /gradio_api/file=<path of a media link>``: what pages and gradio_client fetch for files Gradio
  handed out. ``MediaFastPath`` answers those itself (after ``PrivateFilesGuard``), skipping Gradio's
  generic route, which sends no cache headers for them.

Anything else (a path outside the media folder, a hidden file, a folder) goes on to Gradio as before.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .media import MediaLinks

__all__ = ["MEDIA_ROUTE", "IMMUTABLE", "media_url_path", "resolve_media", "media_response", "MediaFastPath"]

MEDIA_ROUTE = "/media"
# A year, the longest value caches honour; "private": a link is made for one owner, shared caches keep out.
IMMUTABLE = "private, max-age=31536000, immutable"
# 4K originals are several MB: fewer, larger reads and writes than Starlette's 64 KB default.
CHUNK_BYTES = 512 * 1024
_LINK_DIR = re.compile(r"[0-9a-f]{64}")
_LINK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
_FILE_MARKERS = ("/gradio_api/file=", "/file=")


class _ChunkedFileResponse(FileResponse):
    chunk_size = CHUNK_BYTES


def media_url_path(media: MediaLinks, published: str) -> str | None:
    """``/media/<link dir>/<name>`` for a path ``media.publish`` returned (None if it is not one)."""
    path = Path(published)
    if path.parent.parent != media.root or not _LINK_DIR.fullmatch(path.parent.name):
        return None
    return f"{MEDIA_ROUTE}/{path.parent.name}/{quote(path.name)}"


def resolve_media(media: MediaLinks, link_dir: str, name: str) -> Path | None:
    """The link file ``<link dir>/<name>`` under the media folder, or None (bad shape, hidden, missing)."""
    if not (_LINK_DIR.fullmatch(link_dir) and _LINK_NAME.fullmatch(name)):
        return None
    return media.root / link_dir / name


def _etag(st: os.stat_result) -> str:
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def media_response(path: Path, headers: Mapping[str, str], *, download_name: str | None = None) -> Response:
    """The answer for a media link file: 304 when the caller has it, else the file streamed, both with
    immutable cache headers; 404 when it is gone (deleted or aged out)."""
    try:
        st = path.stat()
    except OSError:
        return Response(status_code=404)
    if not stat.S_ISREG(st.st_mode):
        return Response(status_code=404)
    etag = _etag(st)
    cache = {"Cache-Control": IMMUTABLE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if _matches(headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=cache)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    inline = media_type.startswith("image/") and media_type != "image/svg+xml"
    return _ChunkedFileResponse(
        path, stat_result=st, media_type=media_type if inline else "application/octet-stream", headers=cache,
        filename=download_name or path.name, content_disposition_type="inline" if inline else "attachment",
    )


class MediaFastPath:
    """ASGI middleware: answers Gradio file-route requests for media links with ``media_response``."""

    def __init__(self, app: ASGIApp, media: MediaLinks):
        self.app = app
        self.media = media

    def _link(self, path: str) -> Path | None:
        for marker in _FILE_MARKERS:
            if path.startswith(marker):
                target = path[len(marker):]
                break
        else:
            return None
        if not target.startswith(str(self.media.root) + os.sep):
            return None
        try:
            real = Path(os.path.realpath(target))
        except (OSError, ValueError):
            return None
        if real.parent.parent != self.media.root:
            return None
        return resolve_media(self.media, real.parent.name, real.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            link = self._link(scope.get("path", ""))
            if link is not None:
                response = media_response(link, Headers(scope=scope))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
