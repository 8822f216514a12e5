"""Result files: what ``GET /<file>`` answers, and drawing each file once, on its first request.

A file name belongs to one job and one role (``grid``, ``c1``..``c4``, ``u``). It answers 404 until
the job has succeeded, 403 once ``url_ttl`` has passed since then, and otherwise its JPEG bytes,
rendered lazily, one render per name at a time, and kept in the FileCache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from PIL import Image

from . import render
from .clock import Clock
from .counters import Counters
from .files import FileCache
from .jobbook import JobBook
from .jobs import SimJob
from .options import Options

__all__ = ["ResultFiles", "FileAnswer", "NOT_FOUND", "EXPIRED", "ART_CACHE_ENTRIES"]

ART_CACHE_ENTRIES = 48  # small (512 px) renders of candidates, reused by grids, U and V children


class FileAnswer:
    """What ``GET /<file>`` answers: a status, a body and its media type."""

    __slots__ = ("status", "body", "media_type")

    def __init__(self, status: int, body: bytes, media_type: str):
        self.status, self.body, self.media_type = status, body, media_type


def _s3_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


NOT_FOUND = FileAnswer(404, _s3_error("NoSuchKey", "The specified key does not exist."), "application/xml")
EXPIRED = FileAnswer(403, _s3_error("AccessDenied", "Request has expired"), "application/xml")


class ResultFiles:
    """Answers file requests for the jobs in ``book``; ``source_image(key)`` gives image-to-image sources."""

    def __init__(self, book: JobBook, clock: Clock, options: Options, counters: Counters, cache: FileCache,
                 source_image: Callable[[str], Image.Image | None]):
        self._book = book
        self._clock = clock
        self._options = options
        self._counters = counters
        self._cache = cache
        self._source_image = source_image
        self._lock = threading.Lock()
        self._render_locks: dict[str, threading.Lock] = {}
        self._art: OrderedDict[tuple[str, int], Image.Image] = OrderedDict()

    def read(self, name: str) -> FileAnswer:
        """A result file: 200 with JPEG bytes, 404 if unknown or not ready, 403 once expired."""
        now = self._clock.now()
        found = self._book.file_at(name, now)
        if found is None:
            return NOT_FOUND
        job, role, status = found
        if status != 3:
            return NOT_FOUND
        if now >= job.done_at + self._options.url_ttl:
            return EXPIRED
        data = self._cache.get(name)
        if data is None:
            with self._lock:
                lock = self._render_locks.setdefault(name, threading.Lock())
            with lock:
                data = self._cache.get(name)
                if data is None:
                    data = self._render(job, role)
                    self._cache.put(name, data)
                    self._counters.add("renders")
            with self._lock:
                self._render_locks.pop(name, None)
        return FileAnswer(200, data, "image/jpeg")

    def _render(self, job: SimJob, role: str) -> bytes:
        size = tuple(job.size)
        base = render.base_size(size)
        if role == "u":
            parent = self._book.get(job.parent_id)
            art = self._art_for(parent, job.button_index)
            return render.encode(render.badge(art, job.prompt, f"U{job.button_index} 4K"), size)
        tag = f"V{job.button_index} " if job.api == "button" else ""
        if role == "grid":
            cells = [render.badge(self._art_for(job, n), job.prompt, f"{tag}#{n}") for n in range(1, 5)]
            return render.encode(render.grid(cells, base), size)
        n = int(role[1])
        return render.encode(render.badge(self._art_for(job, n), job.prompt, f"{tag}#{n}"), size)

    def _art_for(self, job: SimJob, n: int) -> Image.Image:
        """Candidate ``n`` of ``job`` at drawing size, without text (cached; do not modify)."""
        key = (job.id, n)
        with self._lock:
            art = self._art.get(key)
            if art is not None:
                self._art.move_to_end(key)
                return art
        base = render.base_size(job.size)
        if job.api == "button":  # a variation: candidate `n` is a variation of the parent's candidate
            parent = self._book.get(job.parent_id)
            origin = self._art_for(parent, job.button_index).resize(base, Image.Resampling.BILINEAR)
            art = render.vary(origin, render.seed_for(job.id, n))
        else:
            art = render.generate(render.seed_for(job.prompt, job.id, n), base)
            source = self._source_image(job.source_key) if job.source_key else None
            if source is not None:
                art = render.blend_source(art, source, job.similar)
        with self._lock:
            self._art[key] = art
            while len(self._art) > ART_CACHE_ENTRIES:
                self._art.popitem(last=False)
        return art
