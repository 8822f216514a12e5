"""Between the index and the record files: refill the index from the files, or give old records their file.

``rebuild`` is what makes a wiped local index harmless: every record found in ``records/`` that the index
lacks is filed again, with its owner row and byte total, so history, lineage, resuming and eviction see
exactly what they saw before the restart. ``export_missing`` runs once for an index made before record
files existed, so that from then on the files alone are enough. ``check_on_open`` decides which of the
two (if either) a store needs when it opens.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import diskcache

from ....jobs import JobRecord, RecordError
from .errors import UnsafeCacheValue
from .index import JobIndex
from .recordfiles import FILES_COMPLETE_KEY, RecordFiles
from .records import RecordCache, encode_record
from .totals import RunningTotal

__all__ = ["Rebuilt", "rebuild", "refill", "export_missing", "check_on_open"]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild found: records filed again, and files it had to skip."""

    restored: int
    skipped: int


def _parse(job_id: str, data: Any) -> JobRecord | None:
    """The record in a file named ``job_id``, or None (warned) if it is unreadable or describes another job."""
    if data is None:
        return None  # unreadable; RecordFiles warned already
    try:
        record = JobRecord.from_json(data)
    except RecordError as exc:
        LOG.warning("skipping record file of job %s: %s", job_id, exc)
        return None
    if record.id != job_id:
        LOG.warning("skipping record file of job %s: it describes another job", job_id)
        return None
    return record


def rebuild(cache: diskcache.Cache, index: JobIndex, records: RecordCache, files: RecordFiles) -> Rebuilt:
    """File every readable record in ``files`` that ``index`` lacks, in one transaction. Jobs already
    indexed keep their indexed copy: it is at least as new as the file (both change in one transaction)."""
    found, skipped = [], 0
    for job_id, data in files.scan():
        record = _parse(job_id, data)
        if record is None:
            skipped += 1
        else:
            found.append(record)
    restored = 0
    with cache.transact(retry=True):
        for record in found:
            if index.owner_and_bytes(record.id) is not None:
                continue
            records.save(record.id, encode_record(record))
            index.upsert(record)
            restored += 1
    return Rebuilt(restored, skipped)


def export_missing(cache: diskcache.Cache, index: JobIndex, records: RecordCache, files: RecordFiles) -> int:
    """Write the file of every indexed record that has none; returns how many were written.

    Each copy happens inside a transaction, so a writer in another process cannot slip a newer version
    of the same file in between our read and our write. Not fsynced: the index still holds all of them."""
    written = 0
    for job_id in index.ids():
        with cache.transact(retry=True):
            if files.exists(job_id):
                continue
            data = records.raw(job_id)
            if data is not None and files.write(job_id, data, None, fsync=False):
                written += 1
    return written


def refill(
    cache: diskcache.Cache, index: JobIndex, records: RecordCache, files: RecordFiles, total: RunningTotal
) -> Rebuilt:
    """``rebuild``, then recount the running total from the refilled index, and say what came back."""
    started = time.monotonic()
    result = rebuild(cache, index, records, files)
    total.recount()
    if result.restored or result.skipped:
        LOG.info(
            "job index in %s: restored %d job records from %s (%d unreadable files skipped) in %.1f s",
            cache.directory, result.restored, files.root, result.skipped,
            time.monotonic() - started,
        )
    return result


def check_on_open(
    cache: diskcache.Cache, index: JobIndex, records: RecordCache, files: RecordFiles, total: RunningTotal
) -> None:
    """On opening: refill an empty index from the files; once, give records older than the files theirs."""
    try:
        complete = cache.get(FILES_COMPLETE_KEY, retry=True) == 1
    except UnsafeCacheValue:
        complete = False
    if index.is_empty():
        refill(cache, index, records, files, total)  # everything indexed now came from a file
    elif not complete:
        written = export_missing(cache, index, records, files)
        if written:
            LOG.info("wrote %d job record files to %s (records from before they existed)", written, files.root)
    else:
        return
    cache.set(FILES_COMPLETE_KEY, 1, retry=True)
