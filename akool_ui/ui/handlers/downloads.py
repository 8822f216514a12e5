"""What a person downloads from the results panel: one original, or every original in view as a zip.

Both reach the page as media links (``StudioAccess.link``), named after the prompt, the job and the image
(``a-lighthouse-at-dawn-9c8d0e-3.png``, ``…-U3.jpg``: no two downloads share a name), and each file
carries the job's prompt and settings in its metadata (``service.image_meta``), so dropping it back on the
page restores the form. The stored original is never changed: the download is a tagged copy, made once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from ...jobs import JobRecord
from ...service import settings_of
from ..exports import tagged_copy, zip_files
from .common import StudioAccess

__all__ = ["Downloads", "download_name"]

_SLUG_WORDS = re.compile(r"[a-z0-9]+")
_SLUG_LENGTH = 40
_TAGGED_CACHE = 256  # tagged copies remembered (by source file): renders repeat many times per job


def _slug(prompt: str) -> str:
    words = _SLUG_WORDS.findall(prompt.lower())
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > _SLUG_LENGTH:
            break
        slug = f"{slug}-{word}" if slug else word
    return slug or "akool-image"


def download_name(record: JobRecord, index: int, path: Path | None) -> str | None:
    """The file name a person downloads: the prompt's first words, the job (its id's end) and the image
    (a U/V result by its button), e.g. ``a-lighthouse-on-a-cliff-9c8d0e-3.png``."""
    if path is None:
        return None
    which = record.button if record.kind == "button" and record.button else str(index + 1)
    return f"{_slug(record.prompt or '')}-{record.id[-6:]}-{which}{path.suffix}"


class Downloads:
    """Download links for the results panel."""

    def __init__(self, access: StudioAccess):
        self.access = access
        self._tagged: OrderedDict[tuple[str, int, int], Path] = OrderedDict()
        self._lock = threading.Lock()

    def original(self, record: JobRecord | None, index: int) -> str | None:
        """A link to the stored original of ``record``'s image ``index``, tagged with its settings (None when
        it is not on disk)."""
        if record is None:
            return None
        path = self.access.original(record, index)
        if path is None:
            return None
        name = download_name(record, index, path)
        return self.access.link(record, self._tagged_copy(record, path, name), name)

    def _settings(self, record: JobRecord) -> dict[str, Any]:
        request = dict(record.request or {})
        if record.kind == "button" and record.parent_id and not request.get("scale"):
            parent = self.access.studio.get(record.parent_id, record.owner)  # a U/V job's settings are its parent's
            request = {**(parent.request if parent is not None else {}), **request}
        request.setdefault("prompt", record.prompt or "")
        return settings_of(request, job_id=record.id, button=record.button)

    def _tagged_copy(self, record: JobRecord, path: Path, name: str) -> Path | None:
        """The tagged copy of ``path`` (made once per file version); the original itself if that fails."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._tagged.get(key)
            if cached is not None and cached.is_file():
                self._tagged.move_to_end(key)
                return cached
        try:
            copy = tagged_copy(path, self._settings(record), name)
        except OSError:
            return path
        with self._lock:
            self._tagged[key] = copy
            while len(self._tagged) > _TAGGED_CACHE:
                self._tagged.popitem(last=False)
        return copy

    def zip(self, view: dict[str, Any], records: Sequence[JobRecord]) -> str | None:
        """A zip of every stored original in view, built once per set of files (remembered in ``view``)."""
        if not records or any(r.is_in_flight for r in records):
            return None
        files: list[tuple[Path, str]] = []
        for record in records:
            for entry in record.images:
                if entry.is_stored and entry.original:
                    path = self.access.abspath(entry.original)
                    name = download_name(record, entry.index, path)
                    tagged = self._tagged_copy(record, path, name) if path.is_file() else None
                    if tagged is not None:
                        files.append((tagged, name))
        if not files:
            return None
        signature = [str(p) for p, _ in files]
        cached = view.get("zip")
        if cached and cached.get("files") == signature and Path(cached["path"]).is_file():
            return cached["path"]
        path = zip_files(files, f"{_slug(records[0].prompt or '')}-{records[0].id[-6:]}.zip")
        view["zip"] = {"files": signature, "path": str(path)}
        return str(path)
