"""JobStore: the one object the tracker and the UI use for records, history pages and image files.

It composes the collaborators of this package and owns the rules that span them: a record, its index row
(and the running total) and its record file change in one SQLite transaction (``Cache.transact``), so two
processes sharing the directory never see one without the other and never lose an update
(``JobStore.update`` is a read-modify-write inside that transaction); a job never moves to another owner;
someone else's job reads as missing. The index may live apart from the data (``location.py``); opening
an empty one refills it from the record files (``rebuild_index``).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ...akool.models import validate_job_id
from ...jobs import ImageEntry, ImageState, JobRecord, Page
from .errors import OwnerMismatch, RecordNotFound, UnsafeCacheValue
from .eviction import FairEviction
from .files import ImageFiles, SavedImage, check_index, remove_files, save_result_image
from .index import JobIndex, decode_cursor, encode_cursor
from .locks import DOWNLOAD_LOCK_EXPIRE, DownloadLock
from .rebuild import Rebuilt, export_missing, rebuild
from .recordfiles import FILES_COMPLETE_KEY, RecordFiles
from .records import RecordCache, encode_record, ensure_private_dir, open_cache
from .totals import RunningTotal

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import Settings

__all__ = ["JobStore", "DEFAULT_LIMIT_BYTES", "DEFAULT_MIN_AGE_SECONDS", "MAX_PAGE_SIZE"]

LOG = logging.getLogger(__name__)

DEFAULT_LIMIT_BYTES = 5 * 2**30
# A finished result must survive long enough for its owner to see it and save it: no eviction (by the
# global limit or the owner's own quota) touches a job that completed less than an hour ago.
DEFAULT_MIN_AGE_SECONDS = 3600.0
# History pages are for people: a hundred rows is more than a screen, and bounds one request's reads.
MAX_PAGE_SIZE = 100
# A failed download's reason is one sentence for the page; a server's whole HTML error body is not kept.
_MAX_ERROR_CHARS = 500


class JobStore:
    """Job records, the per-owner history index and the image files of one cache directory."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        index_dir: str | os.PathLike[str] | None = None,
        limit_bytes: int = DEFAULT_LIMIT_BYTES,
        owner_limit_bytes: int | None = None,
        min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        """``index_dir`` holds the SQLite index (default: ``cache_dir``; see ``location.index_dir_for``);
        ``owner_limit_bytes`` is one owner's quota of originals (None: the same as ``limit_bytes``);
        ``min_age_seconds`` protects recently finished jobs from any eviction."""
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.index_dir = self.cache_dir if index_dir is None else Path(index_dir).expanduser().absolute()
        self.limit_bytes = int(limit_bytes)
        self.owner_limit_bytes = None if owner_limit_bytes is None else int(owner_limit_bytes)
        self.min_age_seconds = float(min_age_seconds)
        self._clock = clock
        ensure_private_dir(self.cache_dir)
        ensure_private_dir(self.index_dir)
        self._cache = open_cache(self.index_dir)
        try:
            self._index = JobIndex(self._cache)
            self._index.create()
            self._records = RecordCache(self._cache)
            self._total = RunningTotal(self._cache, recount=self._index.total_bytes)
            self._files = ImageFiles(self.cache_dir)
            self._record_files = RecordFiles(self.cache_dir)
            self.images_dir = self._files.images_dir
            self._eviction = FairEviction(
                self._index, self._files, update=self.update, original_bytes=self.original_bytes, clock=clock
            )
            self._check_record_files()
        except BaseException:
            self._cache.close()
            raise

    @classmethod
    def from_settings(cls, settings: "Settings") -> "JobStore":
        from .location import index_dir_for

        return cls(
            settings.cache_dir,
            index_dir=index_dir_for(settings.cache_dir),
            limit_bytes=int(settings.cache_limit_gb * 2**30),
            owner_limit_bytes=int(settings.owner_cache_limit_gb * 2**30),
            min_age_seconds=settings.cache_min_age_hours * 3600.0,
        )

    def __repr__(self) -> str:
        return (
            f"JobStore({str(self.cache_dir)!r}, limit_bytes={self.limit_bytes}, "
            f"owner_limit_bytes={self.owner_quota_bytes}, min_age_seconds={self.min_age_seconds:g})"
        )

    @property
    def owner_quota_bytes(self) -> int:
        """One owner's quota of stored originals (``owner_limit_bytes``, else the global limit)."""
        return self.limit_bytes if self.owner_limit_bytes is None else self.owner_limit_bytes

    @property
    def index_is_local(self) -> bool:
        """The SQLite index lives apart from the data (on local disk) and is rebuilt from it when missing."""
        return self.index_dir != self.cache_dir

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
        if record is None or not _same_owner(record.owner, owner):
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
        return _read_page(self._index, self._records, owner, after, (query or "").strip().casefold(), limit)

    def count_jobs(self, owner: str, *, query: str | None = None) -> int:
        """How many records ``owner`` has (matching ``query``, as in ``list_jobs``)."""
        return self._index.count(owner, (query or "").strip().casefold())

    def children(self, job_id: str, *, owner: str | None = None) -> list[JobRecord]:
        """Button jobs made from ``job_id``, oldest first (only ``owner``'s, when given)."""
        job_id = validate_job_id(job_id)
        records = [r for child in self._index.children(job_id) if (r := self._records.load(child)) is not None]
        return [r for r in records if owner is None or _same_owner(r.owner, owner)]

    def in_flight(self) -> list[JobRecord]:
        """Every owner's records that still need polling or downloading (``needs_work``), oldest first.

        The tracker resumes these at start-up."""
        return [r for job_id in self._index.pending() if (r := self._records.load(job_id)) is not None and r.needs_work]

    # --- writing -----------------------------------------------------------------------------------

    def put(self, record: JobRecord) -> JobRecord:
        """Insert or replace ``record`` (and its index row) atomically; sets ``updated_at``.

        Raises OwnerMismatch if the job is stored under another owner, ValueError if the record could not
        be read back."""
        if not isinstance(record, JobRecord):
            raise TypeError("put() takes a JobRecord")
        with self._cache.transact(retry=True):
            self._write(record)
        return record

    def put_many(self, records: Iterable[JobRecord]) -> int:
        """``put`` several records in one transaction (all or none); returns how many were written."""
        records = list(records)
        if not all(isinstance(r, JobRecord) for r in records):
            raise TypeError("put_many() takes JobRecords")
        with self._cache.transact(retry=True):
            for record in records:
                self._write(record)
        return len(records)

    def update(self, job_id: str, fn: Callable[[JobRecord], Any]) -> JobRecord:
        """Read-modify-write one record atomically across threads and processes; returns the new record.

        ``fn`` changes the record in place, or returns a replacement JobRecord; any other return value is
        ignored, so ``lambda r: r.set_state(...)`` works. It runs inside the database's write transaction,
        so keep it short and free of I/O. Raises RecordNotFound if there is no readable
        record; exceptions from ``fn`` leave the record unchanged."""
        job_id = validate_job_id(job_id)
        with self._cache.transact(retry=True):
            record = self._records.load(job_id)
            if record is None:
                raise RecordNotFound(f"no job record {job_id}")
            owner = record.owner
            result = fn(record)
            if isinstance(result, JobRecord):
                record = result
            if record.id != job_id or record.owner != owner:
                raise ValueError("update() must not change a record's id or owner")
            self._write(record)
        return record

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

    def delete(self, job_id: str, owner: str) -> bool:
        """Remove ``owner``'s record, its index row and its image files. False if not theirs (or absent)."""
        job_id = validate_job_id(job_id)
        with self._cache.transact(retry=True):
            indexed = self._index.owner_and_bytes(job_id)
            record = self._records.load(job_id)
            # a damaged record can still be deleted by its owner: the index remembers whose it was
            record_owner = record.owner if record is not None else (indexed[0] if indexed is not None else None)
            if record_owner is None or not _same_owner(record_owner, owner):
                return False
            self._records.delete(job_id)
            self._index.delete(job_id)
            self._total.adjust(-(indexed[1] if indexed is not None else 0))
            self._record_files.remove(job_id)  # in the transaction: a deleted job never comes back in a rebuild
        self._files.remove_job(job_id)
        return True

    # --- the index and the record files ------------------------------------------------------------------

    def rebuild_index(self) -> Rebuilt:
        """File again every job whose record file (``records/``) the index lacks: owner rows, lineage,
        pending flags and byte totals come back with it. Runs by itself when an empty index is opened
        (a wiped local disk, a fresh cache, a corrupt database moved aside); safe to call at any time."""
        started = time.monotonic()
        result = rebuild(self._cache, self._index, self._records, self._record_files)
        self._total.recount()
        if result.restored or result.skipped:
            LOG.info(
                "job index in %s: restored %d job records from %s (%d unreadable files skipped) in %.1f s",
                self.index_dir, result.restored, self._record_files.root, result.skipped,
                time.monotonic() - started,
            )
        return result

    def _check_record_files(self) -> None:
        """On opening: refill an empty index from the files; once, give records older than the files theirs."""
        try:
            complete = self._cache.get(FILES_COMPLETE_KEY, retry=True) == 1
        except UnsafeCacheValue:
            complete = False
        if self._index.is_empty():
            self.rebuild_index()  # everything indexed now came from a file
        elif not complete:
            written = export_missing(self._cache, self._index, self._records, self._record_files)
            if written:
                LOG.info("wrote %d job record files to %s (records from before they existed)", written,
                         self._record_files.root)
        else:
            return
        self._cache.set(FILES_COMPLETE_KEY, 1, retry=True)

    # --- size limits -------------------------------------------------------------------------------

    def original_bytes(self) -> int:
        """Bytes of original image files on disk (what ``limit_bytes`` counts)."""
        return self._total.get()

    def enforce_limit(self, *, keep: Iterable[str] = (), owner: str | None = None) -> int:
        """Free space fairly (see ``eviction``); returns bytes of original files deleted.

        With ``owner``, first trim that owner's own oldest originals to their quota (``owner_quota_bytes``).
        Then, over ``limit_bytes``, evict only from owners above their fair share (limit / owners with
        originals), heaviest first, each one's oldest first: one visitor's burst never evicts another's
        results. If no such owner has an evictable job the store stays over the limit until one does.
        Never evicted: jobs finished less than ``min_age_seconds`` ago, jobs still polling or downloading,
        ids in ``keep``. Records and previews stay (entries become EVICTED with their remote URL kept)."""
        return self._eviction.enforce(
            limit=self.limit_bytes,
            quota=self.owner_quota_bytes,
            min_age=self.min_age_seconds,
            keep=frozenset(keep),
            owner=owner,
        )

    # --- image files -------------------------------------------------------------------------------

    def image_path(self, job_id: str, index: int, ext: str) -> Path:
        """Where original ``index`` of a job lives (``ext``: jpg, png or webp). Nothing else can be named."""
        return self._files.image_path(job_id, index, ext)

    def preview_path(self, job_id: str, index: int) -> Path:
        return self._files.preview_path(job_id, index)

    def local_path(self, relative: str) -> Path:
        """The absolute path of an ``ImageEntry.original`` / ``.preview`` (ValueError for anything else)."""
        return self._files.local_path(relative)

    def display_paths(self, record: JobRecord) -> list[Path]:
        """Existing local files to show for a record, in result order: previews, else originals."""
        return self._files.display_paths(record)

    def store_original(
        self, job_id: str, index: int, data: bytes, *, remote_url: str | None = None
    ) -> ImageEntry:
        """Check ``data`` is a whole PNG/JPEG/WebP image, keep it as original ``index`` with a web preview,
        mark the record's entry STORED and apply the owner's quota and the size limit. Returns the updated entry.

        Raises ImageValidationError for bad bytes (nothing written), RecordNotFound if the job has no record.
        """
        job_id = validate_job_id(job_id)
        index = check_index(index)
        record = self._records.load(job_id)
        if record is None:
            raise RecordNotFound(f"no job record {job_id}")
        previous = next((e for e in record.images if e.index == index), None)
        saved = save_result_image(self._files, job_id, index, data, previous)
        stale: list[Path] = []

        def point_at_saved(rec: JobRecord) -> None:
            stale.extend(_mark_stored(rec.image(index), saved, self._files, remote_url))

        try:
            record = self.update(job_id, point_at_saved)
        except RecordNotFound:  # deleted while we were writing: leave nothing behind
            remove_files(saved.written)
            raise
        remove_files(stale)
        self.enforce_limit(keep=(job_id,), owner=record.owner)
        return next(e for e in record.images if e.index == index)

    def mark_image_failed(
        self, job_id: str, index: int, error: str, *, expired: bool = False, remote_url: str | None = None
    ) -> ImageEntry:
        """Record a failed download of result ``index`` (EXPIRED when Akool no longer serves it)."""
        index = check_index(index)
        record = self.update(job_id, lambda rec: _mark_failed(rec.image(index), error, expired, remote_url))
        return next(e for e in record.images if e.index == index)

    def download_lock(self, job_id: str, *, expire: float = DOWNLOAD_LOCK_EXPIRE) -> DownloadLock:
        """A lock so only one thread/process downloads a job's results (see DownloadLock)."""
        return DownloadLock(self._cache, validate_job_id(job_id), expire=expire)


def _read_page(
    index: JobIndex, records: RecordCache, owner: str, after: tuple[float, str] | None, needle: str, limit: int
) -> Page[JobRecord]:
    """Up to ``limit`` of ``owner``'s readable records after the key ``after``, and the next page's cursor.

    Rows whose record is unreadable (or not the owner's) are skipped, so a page may take more than one
    query; asking for one row more than needed tells whether another page exists."""
    items: list[JobRecord] = []
    last_key: tuple[float, str] | None = None
    while True:
        want = limit - len(items) + 1
        rows = index.page(owner, after, needle, want)
        for job_id, created in rows:
            if len(items) == limit:
                assert last_key is not None
                return Page(items, encode_cursor(*last_key))
            after = (created, job_id)
            record = records.load(job_id)
            if record is None or not _same_owner(record.owner, owner):
                continue
            items.append(record)
            last_key = after
        if len(rows) < want:
            return Page(items, None)


def _mark_stored(entry: ImageEntry, saved: SavedImage, files: ImageFiles, remote_url: str | None) -> list[Path]:
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


def _mark_failed(entry: ImageEntry, error: str, expired: bool, remote_url: str | None) -> None:
    """Count a failed download of ``entry`` (EXPIRED when Akool no longer serves it)."""
    if entry.is_stored:
        return  # another process stored it meanwhile; the failure is moot
    entry.state = ImageState.EXPIRED if expired else ImageState.ERROR
    entry.error = str(error)[:_MAX_ERROR_CHARS]
    entry.attempts += 1
    if remote_url:
        entry.remote_url = remote_url


def _same_owner(a: str, b: str) -> bool:
    """Owner ids compared in constant time (they are keyed hashes; a timing leak would help guess one)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
