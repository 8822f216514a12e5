"""Between the index and the record files: refill the index from the files, or give old records their file.

``rebuild`` is what makes a wiped local index harmless: every record found in ``records/`` that the index
lacks is filed again, with its owner row and byte total, so history, lineage, resuming and eviction see
exactly what they saw before the restart. ``export_missing`` runs once for an index made before record
files existed, so that from then on the files alone are enough.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import diskcache

from ...jobs import JobRecord, RecordError
from .index import JobIndex
from .recordfiles import RecordFiles
from .records import RecordCache, encode_record

__all__ = ["Rebuilt", "rebuild", "export_missing"]

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
