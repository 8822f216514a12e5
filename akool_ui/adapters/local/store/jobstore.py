"""JobStore: the local adapter of the ``JobRecords`` port — records, history pages and their accounting.

It composes the collaborators of this package and keeps the rules that span them in one public place: a
record, its index row (and the running total) and its record file change in one SQLite transaction
(``writer.py``), so two processes sharing the directory never see one without the other and never lose
an update (``JobStore.update`` is a read-modify-write inside that transaction); a job never moves to
another owner; someone else's job reads as missing (``owners.py``). History pages come from
``paging.py``, a downloaded result's entry from ``results.py``. The index may live apart from the data
(``location.py``); opening an empty one refills it from the record files (``rebuild.py``).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ....akool.models import validate_job_id
from ....fileio import remove_stale_temp_files
from ....jobs import JobRecord, Page
from .index import JobIndex, decode_cursor
from .locks import DOWNLOAD_LOCK_EXPIRE, DownloadLock
from .owners import same_owner
from .paging import read_page
from .rebuild import Rebuilt, check_on_open, refill
from .recordfiles import RecordFiles
from .records import RecordCache, ensure_private_dir, open_cache
from .totals import RunningTotal
from .writer import RecordWriter

if TYPE_CHECKING:  # pragma: no cover
    from ....settings import Settings

__all__ = ["JobStore", "MAX_PAGE_SIZE"]

# History pages are for people: a hundred rows is more than a screen, and bounds one request's reads.
MAX_PAGE_SIZE = 100


class JobStore:
    """Job records and the per-owner history index of one data folder (``JobRecords``)."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        index_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        """``index_dir`` holds the SQLite index (default: ``cache_dir``; see ``location.index_dir_for``)."""
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.index_dir = self.cache_dir if index_dir is None else Path(index_dir).expanduser().absolute()
        self._clock = clock
        ensure_private_dir(self.cache_dir)
        ensure_private_dir(self.index_dir)
        self._cache = open_cache(self.index_dir)
        try:
            self._index = JobIndex(self._cache)
            self._index.create()
            self._records = RecordCache(self._cache)
            self._total = RunningTotal(self._cache, recount=self._index.total_bytes)
            self._record_files = RecordFiles(self.cache_dir)
            self._writer = RecordWriter(self._cache, self._index, self._records, self._total, self._record_files, clock)
            check_on_open(self._cache, self._index, self._records, self._record_files, self._total)
        except BaseException:
            self._cache.close()
            raise

    @classmethod
    def from_settings(cls, settings: "Settings") -> "JobStore":
        from .location import index_dir_for

        return cls(settings.cache_dir, index_dir=index_dir_for(settings.cache_dir))

    def __repr__(self) -> str:
        return f"JobStore({str(self.cache_dir)!r}, index_dir={str(self.index_dir)!r})"

    @property
    def index_is_local(self) -> bool:
        """The SQLite index lives apart from the data (on local disk) and is rebuilt from it when missing."""
        return self.index_dir != self.cache_dir

    def private_folders(self) -> list[Path]:
        """The folders that must never be served as files: the data and (when apart) the index."""
        return list(dict.fromkeys([self.cache_dir, self.index_dir]))

    def remove_stale_temp_files(self) -> int:
        """Remove what writes interrupted by a crash left in the data folder; how many files."""
        return remove_stale_temp_files(self.cache_dir)

    def close(self) -> None:
        self._cache.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- reading -----------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The record, or None. Raises InvalidRequest if ``job_id`` is not 24 hex characters."""
        return self._records.load(validate_job_id(job_id))

    def get_for_owner(self, job_id: str, owner: str) -> JobRecord | None:
        """The record if it belongs to ``owner``; None otherwise (someone else's job looks missing)."""
        record = self.get(job_id)
        if record is None or not same_owner(record.owner, owner):
            return None
        return record

    def list_jobs(
        self, owner: str, *, cursor: str | None = None, limit: int = 20, query: str | None = None
    ) -> Page[JobRecord]:
        """The owner's records, newest first, ``limit`` (1-100) a page.

        ``query`` keeps records whose prompt contains it (case-insensitive). ``cursor`` is a previous
        page's ``next_cursor``; ValueError if it is not one."""
        limit = max(1, min(int(limit), MAX_PAGE_SIZE))
        after = decode_cursor(cursor) if cursor else None
        return read_page(self._index, self._records, owner, after, (query or "").strip().casefold(), limit)

    def count_jobs(self, owner: str, *, query: str | None = None) -> int:
        """How many records ``owner`` has (matching ``query``, as in ``list_jobs``)."""
        return self._index.count(owner, (query or "").strip().casefold())

    def children(self, job_id: str, *, owner: str | None = None) -> list[JobRecord]:
        """Button jobs made from ``job_id``, oldest first (only ``owner``'s, when given)."""
        job_id = validate_job_id(job_id)
        records = [r for child in self._index.children(job_id) if (r := self._records.load(child)) is not None]
        return [r for r in records if owner is None or same_owner(r.owner, owner)]

    def in_flight(self) -> list[JobRecord]:
        """Every owner's records that still need polling or downloading (``needs_work``), oldest first.

        The tracker resumes these at start-up."""
        return [r for r in self.unsettled() if r.needs_work]

    def unsettled(self) -> list[JobRecord]:
        """Every owner's records the app still owes something (``JobRecord.is_unsettled``), oldest first:
        in-flight jobs, write-ahead intents, timed-out jobs and downloads that gave up."""
        return [r for job_id in self._index.pending() if (r := self._records.load(job_id)) is not None and r.is_unsettled]

    def intents(self) -> list[JobRecord]:
        """Write-ahead intents (SENDING or UNKNOWN) of every owner, oldest first."""
        return [r for r in self.unsettled() if r.is_intent]

    # --- writing -----------------------------------------------------------------------------------

    def put(self, record: JobRecord) -> JobRecord:
        """Insert or replace ``record`` (and its index row) atomically; sets ``updated_at``.

        Raises OwnerMismatch if the job is stored under another owner, ValueError if the record could not
        be read back."""
        if not isinstance(record, JobRecord):
            raise TypeError("put() takes a JobRecord")
        self._writer.put([record])
        return record

    def put_many(self, records: Iterable[JobRecord]) -> int:
        """``put`` several records in one transaction (all or none); returns how many were written."""
        records = list(records)
        if not all(isinstance(r, JobRecord) for r in records):
            raise TypeError("put_many() takes JobRecords")
        self._writer.put(records)
        return len(records)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes of this thread (``put``, ``update``, ``replace``) into one transaction:
        all of them are durable together, or none is."""
        with self._cache.transact(retry=True):
            yield

    def replace(self, intent_id: str, records: Iterable[JobRecord]) -> None:
        """Swap a write-ahead intent for the job records Akool made for it, atomically (see ``writer``)."""
        records = list(records)
        if not all(isinstance(r, JobRecord) for r in records):
            raise TypeError("replace() takes JobRecords")
        self._writer.replace(validate_job_id(intent_id), records)

    def update(self, job_id: str, fn: Callable[[JobRecord], Any]) -> JobRecord:
        """Read-modify-write one record atomically across threads and processes; returns the new record.

        ``fn`` changes the record in place, or returns a replacement JobRecord; any other return value is
        ignored, so ``lambda r: r.set_state(...)`` works. It runs inside the database's write transaction,
        so keep it short and free of I/O. Raises RecordNotFound if there is no readable
        record; exceptions from ``fn`` leave the record unchanged."""
        return self._writer.update(job_id, fn)

    def delete(self, job_id: str, owner: str) -> bool:
        """Remove ``owner``'s record and its index row (its image blobs are the caller's to remove).
        False if not theirs (or absent)."""
        return self._writer.delete(validate_job_id(job_id), owner)

    # --- the index and the record files ------------------------------------------------------------------

    def rebuild_index(self) -> Rebuilt:
        """File again every job whose record file (``records/``) the index lacks: owner rows, lineage,
        pending flags and byte totals come back with it. Runs by itself when an empty index is opened
        (a wiped local disk, a fresh cache, a corrupt database moved aside); safe to call at any time."""
        return refill(self._cache, self._index, self._records, self._record_files, self._total)

    # --- what the records say about stored originals ----------------------------------------------------

    def original_bytes(self) -> int:
        """Bytes of stored originals, every owner's (a running total kept with the records)."""
        return self._total.get()

    def owner_bytes(self, owner: str) -> int:
        return self._index.owner_bytes(owner)

    def bytes_by_owner(self) -> dict[str, int]:
        """Original bytes of each owner that has any."""
        return self._index.bytes_by_owner()

    def evictable(self, owner: str, cutoff: float) -> list[str]:
        """``owner``'s ids with originals, done at or before ``cutoff``; oldest completion first."""
        return self._index.evictable(owner, cutoff)

    def download_lock(self, job_id: str, *, expire: float = DOWNLOAD_LOCK_EXPIRE) -> DownloadLock:
        """A lock so only one thread/process downloads a job's results (see DownloadLock)."""
        return DownloadLock(self._cache, validate_job_id(job_id), expire=expire)
