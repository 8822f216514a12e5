"""The write path: a record, its index row, the running total and its record file change together.

Everything here runs inside one SQLite transaction (``Cache.transact``), so two processes sharing the
directory never see a record without its row (or the other way round) and never lose an update:
``update`` reads, changes and writes inside that transaction. A job never moves to another owner. The
record file in the data folder is written in the same transaction, so two writers of one record never
leave the older file last; deleting a job removes its file before the transaction commits, so a deleted
job never comes back in a rebuild.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import diskcache

from ....akool.models import validate_job_id
from ....jobs import JobRecord
from ....service.ports import updated_record
from .errors import OwnerMismatch, RecordNotFound
from .index import JobIndex
from .owners import same_owner
from .recordfiles import RecordFiles
from .records import RecordCache, encode_record
from .totals import RunningTotal

__all__ = ["RecordWriter"]

LOG = logging.getLogger(__name__)


class RecordWriter:
    """Puts, updates and deletes records; each call is one transaction over every place a record lives."""

    def __init__(
        self,
        cache: diskcache.Cache,
        index: JobIndex,
        records: RecordCache,
        total: RunningTotal,
        record_files: RecordFiles,
        clock: Callable[[], float],
    ):
        self._cache = cache
        self._index = index
        self._records = records
        self._total = total
        self._record_files = record_files
        self._clock = clock

    def put(self, records: Iterable[JobRecord]) -> None:
        """Insert or replace ``records`` in one transaction (all or none); sets their ``updated_at``."""
        with self._cache.transact(retry=True):
            for record in records:
                self._write(record)

    def update(self, job_id: str, fn: Callable[[JobRecord], Any]) -> JobRecord:
        """Read-modify-write one record in one transaction (see ``JobStore.update``); returns the new record."""
        job_id = validate_job_id(job_id)
        with self._cache.transact(retry=True):
            record = self._records.load(job_id)
            if record is None:
                raise RecordNotFound(f"no job record {job_id}")
            record = updated_record(record, fn)
            self._write(record)
        return record

    def replace(self, old_id: str, records: Iterable[JobRecord]) -> None:
        """Swap a write-ahead intent for the job records it became, in one transaction: a crash leaves the
        intent or the jobs, never neither. The intent may already be gone (dismissed, or adopted by
        another process); the jobs are stored all the same, since Akool made (and charged for) them. A job
        already stored (adopted from a webhook meanwhile) is kept as it is: it may have moved on."""
        records = list(records)
        with self._cache.transact(retry=True):
            old = self._records.load(old_id)
            if old is not None and all(r.owner == old.owner for r in records):
                self._remove(old_id)
            for record in records:
                if self._records.raw(record.id) is None:
                    self._write(record)

    def delete(self, job_id: str, owner: str) -> bool:
        """Remove ``owner``'s record, index row and record file (``job_id`` already valid); False if not theirs.

        The image files are the caller's to remove, after the transaction."""
        with self._cache.transact(retry=True):
            indexed = self._index.owner_and_bytes(job_id)
            record = self._records.load(job_id)
            # a damaged record can still be deleted by its owner: the index remembers whose it was
            record_owner = record.owner if record is not None else (indexed[0] if indexed is not None else None)
            if record_owner is None or not same_owner(record_owner, owner):
                return False
            self._remove(job_id)
        return True

    def _remove(self, job_id: str) -> None:
        """Drop a record, its index row, its bytes from the total and its file; the caller holds the transaction."""
        indexed = self._index.owner_and_bytes(job_id)
        self._records.delete(job_id)
        self._index.delete(job_id)
        self._total.adjust(-(indexed[1] if indexed is not None else 0))
        self._record_files.remove(job_id)  # in the transaction: a deleted job never comes back in a rebuild

    def _write(self, record: JobRecord) -> None:
        """Store record + index row + total + record file; the caller holds the transaction."""
        record.updated_at = self._clock()
        data = encode_record(record)
        indexed = self._index.owner_and_bytes(record.id)
        if indexed is not None and indexed[0] != record.owner:
            raise OwnerMismatch(f"job {record.id} belongs to another owner")
        previous = self._records.raw(record.id)
        self._records.save(record.id, data)
        self._index.upsert(record)
        self._total.adjust(record.stored_bytes - (indexed[1] if indexed is not None else 0))
        try:
            self._record_files.write(record.id, data, previous)
        except OSError as exc:
            # Refusing the write would lose a job Akool already accepted (and charged for) over a hiccup of
            # the data folder's storage. The index has it; the file is written again on the next write.
            LOG.warning("could not write the record file of job %s (%s); retried on its next change", record.id, exc)
