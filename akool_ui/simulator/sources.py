"""Image-to-image sources: fetched once per create call, on a small pool, kept for rendering.

Fetching goes through ``akool_ui.netguard.fetch_public`` (deadline, redirect and address rules live
there). With ``private_sources=False`` only public addresses are fetched, as Akool does (the demo on a
shared link must), except URLs ``trusted_source`` vouches for; True suits a developer's simulator
fetching fixtures from 127.0.0.1. A source that cannot be fetched or decoded fails its jobs.
"""

from __future__ import annotations

import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from PIL import Image

from ..netguard import fetch_public
from . import render
from .persistence import StateDir

__all__ = ["SourceFetcher", "SOURCE_MAX_BYTES", "SOURCE_FETCH_WORKERS", "SOURCE_KEEP_SIDE"]

log = logging.getLogger(__name__)

# Fetching an image-to-image source: bounded in size, and in time by netguard.fetch_public's deadline.
SOURCE_MAX_BYTES = 20 * 1024 * 1024
# Fetch threads: a few slow or dripping source URLs must not stall everyone else's image-to-image jobs.
SOURCE_FETCH_WORKERS = 8
SOURCE_KEEP_SIDE = 768  # sources are only blended at render.BASE_LONG_SIDE; keep a little more

# Told when a fetch ends: (job ids waiting for it, the source's original size or None if it failed).
FetchDone = Callable[[list[str], tuple[int, int] | None], None]


class SourceFetcher:
    """Fetches sources by key (the first job id of a batch) and hands them to the renderer."""

    def __init__(self, state: StateDir, on_done: FetchDone, *, private_sources: bool = True,
                 trusted_source: Callable[[str], bool] | None = None):
        self._state = state
        self._on_done = on_done
        self._private_sources = private_sources
        self._trusted_source = trusted_source
        self._lock = threading.Lock()
        self._sources: dict[str, bytes] = {}  # source key -> JPEG of the fetched source
        self._pool = ThreadPoolExecutor(max_workers=SOURCE_FETCH_WORKERS, thread_name_prefix="simulator-fetch")

    def fetch(self, key: str, url: str, job_ids: Iterable[str]) -> None:
        """Fetch ``url`` in the background as source ``key``; then tell ``on_done`` about ``job_ids``."""
        self._pool.submit(self._fetch, key, url, list(job_ids))

    def _fetch(self, key: str, url: str, job_ids: list[str]) -> None:
        data: bytes | None = None
        size: tuple[int, int] | None = None
        try:
            data_in = fetch_public(url, max_bytes=SOURCE_MAX_BYTES, allow_private=self._private_sources,
                                   trusted=self._trusted_source, user_agent="akool-simulator")
            img, size = render.load_source(data_in)
            img.thumbnail((SOURCE_KEEP_SIDE, SOURCE_KEEP_SIDE))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=92)
            data = buf.getvalue()
        except Exception as exc:  # any failure (network, HTTP status, not an image) fails the job
            log.info("source image for job %s unusable: %s", key, type(exc).__name__)
        if data is not None:
            with self._lock:
                self._sources[key] = data
            self._state.save_source(key, data)
        self._on_done(job_ids, size if data is not None else None)

    def image(self, key: str) -> Image.Image | None:
        """The fetched source ``key`` (from memory, else from the state dir), or None."""
        with self._lock:
            data = self._sources.get(key)
        if data is None:
            data = self._state.read_source(key)
            if data is None:
                return None
            with self._lock:
                self._sources[key] = data
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
