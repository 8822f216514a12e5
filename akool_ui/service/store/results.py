"""A downloaded result in its record: the entry pointed at the files just saved, or a failure counted.

``store_result`` writes the files first (outside any transaction: previews are slow) and then points the
record's entry at them in one short update. If the job was deleted meanwhile, the files just written go
again, so nothing is left behind without a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ...jobs import ImageEntry, ImageState, JobRecord
from .errors import RecordNotFound
from .files import ImageFiles, SavedImage, remove_files, save_result_image
from .records import RecordCache

__all__ = ["entry_at", "mark_failed", "mark_stored", "store_result"]

# A failed download's reason is one sentence for the page; a server's whole HTML error body is not kept.
_MAX_ERROR_CHARS = 500

Update = Callable[[str, Callable[[JobRecord], Any]], JobRecord]


def store_result(
    files: ImageFiles,
    records: RecordCache,
    update: Update,
    job_id: str,
    index: int,
    data: bytes,
    remote_url: str | None,
) -> JobRecord:
    """Save ``data`` as original ``index`` (with a preview) and mark the entry STORED; returns the record.

    ``job_id`` and ``index`` are already valid. Raises ImageValidationError for bad bytes (nothing
    written), RecordNotFound if the job has no record (files just written are removed again)."""
    record = records.load(job_id)
    if record is None:
        raise RecordNotFound(f"no job record {job_id}")
    previous = next((e for e in record.images if e.index == index), None)
    saved = save_result_image(files, job_id, index, data, previous)
    stale: list[Path] = []

    def point_at_saved(rec: JobRecord) -> None:
        stale.extend(mark_stored(rec.image(index), saved, files, remote_url))

    try:
        record = update(job_id, point_at_saved)
    except RecordNotFound:  # deleted while we were writing: leave nothing behind
        remove_files(saved.written)
        raise
    remove_files(stale)
    return record


def entry_at(record: JobRecord, index: int) -> ImageEntry:
    """The record's entry for result ``index`` (it exists: the caller just wrote it)."""
    return next(e for e in record.images if e.index == index)


def mark_stored(entry: ImageEntry, saved: SavedImage, files: ImageFiles, remote_url: str | None) -> list[Path]:
    """Point ``entry`` at the files just saved; returns the file it replaces (same index, other format)."""
    stale = []
    if entry.original and entry.original != files.relative(saved.original):
        stale.append(files.local_path(entry.original))
    entry.state = ImageState.STORED
    entry.original = files.relative(saved.original)
    entry.preview = files.relative(saved.preview)
    entry.width, entry.height = saved.width, saved.height
    entry.nbytes = saved.nbytes
    entry.error = None
    entry.attempts += 1
    if remote_url:
        entry.remote_url = remote_url
    return stale


def mark_failed(entry: ImageEntry, error: str, expired: bool, remote_url: str | None) -> None:
    """Count a failed download of ``entry`` (EXPIRED when Akool no longer serves it)."""
    if entry.is_stored:
        return  # another process stored it meanwhile; the failure is moot
    entry.state = ImageState.EXPIRED if expired else ImageState.ERROR
    entry.error = str(error)[:_MAX_ERROR_CHARS]
    entry.attempts += 1
    if remote_url:
        entry.remote_url = remote_url
