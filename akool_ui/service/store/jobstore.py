"""JobStore: job records (JSON in diskcache), an owner index for history pages, and image files on disk.

Layout of ``cache_dir`` (mode 0700)::

    cache.db, cache.db-wal ...           diskcache's SQLite database:
        key "job:<id>"                   a JobRecord as JSON (never pickle)
        key "meta:original-bytes"        running total of stored originals (recomputed when missing)
        key "lock:download:<id>"         DownloadLock tokens (with an expiry)
        table akool_job_index            one row per record: owner, created, prompt, flags (for paging)
    images/<id[:2]>/<id>/<n>.<ext>       original result n (ext jpg|png|webp, checked with Pillow)
    images/<id[:2]>/<id>/<n>.preview.webp  its web preview (long side <= 768 px)

Every change to a record and its index row happens in one SQLite transaction (``Cache.transact``), so
two processes sharing the directory never see one without the other and never lose an update
(``JobStore.update`` is a read-modify-write inside that transaction). Records that fail to parse (foreign,
corrupt, pickled, from a newer schema) are skipped with a warning; they never crash a listing.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import diskcache
from diskcache.core import MODE_RAW, MODE_TEXT

from ..akool.models import validate_job_id
from . import images
from ..jobs import (
    IMAGE_EXTENSIONS,
    MAX_IMAGES_PER_JOB,
    ImageEntry,
    ImageState,
    JobRecord,
    Page,
    RecordError,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import Settings

__all__ = [
    "JobStore",
    "DownloadLock",
    "Page",
    "StoreError",
    "RecordNotFound",
    "OwnerMismatch",
    "UnsafeCacheValue",
    "DEFAULT_LIMIT_BYTES",
    "DEFAULT_MIN_AGE_SECONDS",
    "DOWNLOAD_LOCK_EXPIRE",
    "MAX_PAGE_SIZE",
]

LOG = logging.getLogger(__name__)

DEFAULT_LIMIT_BYTES = 5 * 2**30
# A finished result must survive long enough for its owner to see it and save it: no eviction (by the
# global limit or the owner's own quota) touches a job that completed less than an hour ago.
DEFAULT_MIN_AGE_SECONDS = 3600.0
# Downloading four 4K results takes seconds; a lock older than ten minutes means its holder died (or
# hung) and another process may take over. Long downloads call DownloadLock.refresh().
DOWNLOAD_LOCK_EXPIRE = 600.0
MAX_PAGE_SIZE = 100
# Records are a few KB; anything up to 64 KB stays inside SQLite rather than in a side file.
_INLINE_VALUE_BYTES = 2**16
# diskcache must never evict a record behind our back: no eviction policy, and a size limit it can't reach.
_CACHE_SETTINGS = {
    "eviction_policy": "none",
    "size_limit": 2**62,
    "cull_limit": 10,  # still drops expired lock keys, ten per write
    "statistics": 0,
    "tag_index": 0,
    "disk_min_file_size": _INLINE_VALUE_BYTES,
}
_SQLITE_TIMEOUT = 60.0

_RECORD_PREFIX = "job:"
_TOTAL_KEY = "meta:original-bytes"
_LOCK_PREFIX = "lock:download:"
_INDEX = "akool_job_index"
_PATH_OK = re.compile(r"images/[0-9a-f]{2}/[0-9a-f]{24}/\d{1,2}\.(?:jpg|png|webp|preview\.webp)")


class StoreError(Exception):
    """Root of the store's own errors."""


class RecordNotFound(StoreError, LookupError):
    """No (readable) record with that id."""


class OwnerMismatch(StoreError, PermissionError):
    """A write would change which owner a job belongs to."""


class UnsafeCacheValue(StoreError):
    """A cache row that is not our JSON (pickled, binary, garbage) and was refused unread."""


class _JsonOnlyDisk(diskcache.Disk):
    """diskcache serialisation that only ever reads and writes JSON text.

    ``diskcache.JSONDisk`` is not enough: its ``fetch`` still calls ``Disk.fetch``, which unpickles any row
    whose stored mode says "pickle", so a row planted by another program would execute code. Here keys must
    be ``str`` and every value is JSON text; rows in any other mode are refused without being read.
    """

    def __init__(self, directory: str, min_file_size: int = _INLINE_VALUE_BYTES, **_ignored: Any):
        super().__init__(directory, min_file_size=min_file_size, pickle_protocol=0)

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError("cache keys must be str")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise UnsafeCacheValue("refused a pickled cache key")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> tuple:
        if read:
            raise TypeError("file values are not supported")
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return super().store(text, False, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if read:
            raise TypeError("file values are not supported")
        if mode == MODE_RAW and isinstance(value, str):
            text = value
        elif mode == MODE_TEXT and filename:
            text = super().fetch(mode, filename, value, False)
        else:
            raise UnsafeCacheValue(f"refused a cache value stored in mode {mode} (not JSON text)")
        try:
            return json.loads(text)
        except ValueError:
            raise UnsafeCacheValue("cache value is not valid JSON") from None


def _ensure_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or tighten an existing one (warning when it was wider)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        try:
            path.chmod(0o700)
        except OSError:
            LOG.warning("cache directory %s is readable by others (mode %o) and could not be restricted", path, mode)
        else:
            LOG.warning("cache directory %s had mode %o; restricted it to 0700", path, mode)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write a file so readers see the old content or the new, never half (temp file + os.replace)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress_os_error():
            os.unlink(tmp)
        raise


@contextmanager
def _suppress_os_error() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


def _encode_cursor(created: float, job_id: str) -> str:
    raw = json.dumps([created, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        if isinstance(created, bool) or not isinstance(created, (int, float)):
            raise ValueError
        return float(created), validate_job_id(job_id)
    except Exception:  # any malformed cursor (bad base64, JSON, shape or id) is just "invalid"
        raise ValueError("invalid page cursor") from None


_HOST = socket.gethostname()


def _holder_is_dead(token: str) -> bool:
    """Whether a lock token names a process on this host that has exited."""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but is not ours to signal
        return False
    return False


class DownloadLock:
    """A cross-process, cross-thread lock on one job's downloads.

    It is a cache key holding a random token, added only if absent and expiring after ``expire`` seconds,
    so a killed holder blocks others for at most that long. ``release`` removes the key only while it
    still holds our token. Not re-entrant. Typical use: ``with store.download_lock(job_id):`` then re-read
    the record (another process may have finished the download meanwhile).
    """

    def __init__(self, cache: diskcache.Cache, job_id: str, *, expire: float = DOWNLOAD_LOCK_EXPIRE):
        self._cache = cache
        self._key = _LOCK_PREFIX + job_id
        # host:pid:random, so a lock left by a killed process on this machine can be taken over at once
        self._token = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex}"
        self.expire = float(expire)
        self.job_id = job_id

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; with ``blocking=False`` (or after ``timeout`` seconds) return False if held."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            if self._cache.add(self._key, self._token, expire=self.expire, retry=True):
                return True
            if self._break_if_holder_dead():
                continue
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _break_if_holder_dead(self) -> bool:
        """Remove the lock if its holder was a process on this host that no longer exists (kill -9)."""
        with self._cache.transact(retry=True):
            try:
                holder = self._cache.get(self._key, retry=True)
            except UnsafeCacheValue:
                holder = None
            if not isinstance(holder, str) or not _holder_is_dead(holder):
                return False
            self._cache.delete(self._key, retry=True)
        LOG.info("download lock of job %s was held by a dead process; taken over", self.job_id)
        return True

    def _holds(self) -> bool:
        try:
            return self._cache.get(self._key, retry=True) == self._token
        except UnsafeCacheValue:
            return False

    def release(self) -> None:
        """Give the lock up (a no-op if it expired and someone else holds it now)."""
        with self._cache.transact(retry=True):
            if self._holds():
                self._cache.delete(self._key, retry=True)

    def refresh(self) -> bool:
        """Restart the expiry clock; False if we no longer hold the lock."""
        with self._cache.transact(retry=True):
            return self._holds() and self._cache.touch(self._key, expire=self.expire, retry=True)

    @property
    def held(self) -> bool:
        """Whether this lock object holds the lock right now."""
        return self._holds()

    @property
    def locked(self) -> bool:
        """Whether anyone holds the lock right now."""
        return self._key in self._cache

    def __enter__(self) -> "DownloadLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


class JobStore:
    """Job records, the per-owner history index and the image files of one cache directory."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        limit_bytes: int = DEFAULT_LIMIT_BYTES,
        owner_limit_bytes: int | None = None,
        min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        """``owner_limit_bytes`` is one owner's quota of originals (None: the same as ``limit_bytes``);
        ``min_age_seconds`` protects recently finished jobs from any eviction."""
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.images_dir = self.cache_dir / "images"
        self.limit_bytes = int(limit_bytes)
        self.owner_limit_bytes = None if owner_limit_bytes is None else int(owner_limit_bytes)
        self.min_age_seconds = float(min_age_seconds)
        self._clock = clock
        self._over_limit_logged = False
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        _ensure_private_dir(self.cache_dir)
        self._cache = self._open_cache()
        self._create_index()

    @classmethod
    def from_settings(cls, settings: "Settings") -> "JobStore":
        return cls(
            settings.cache_dir,
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

    def close(self) -> None:
        self._cache.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- setup -------------------------------------------------------------------------------------

    def _open_cache(self) -> diskcache.Cache:
        def open_() -> diskcache.Cache:
            return diskcache.Cache(str(self.cache_dir), disk=_JsonOnlyDisk, timeout=_SQLITE_TIMEOUT, **_CACHE_SETTINGS)

        try:
            return open_()
        except sqlite3.OperationalError:
            raise  # locked, unreadable, out of space: not corruption, so never move data aside
        except sqlite3.DatabaseError as exc:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            LOG.warning(
                "cache database in %s is unreadable (%s); moved it aside as cache.db.corrupt-%s and started "
                "a new one",
                self.cache_dir,
                exc,
                stamp,
            )
            for suffix in ("", "-wal", "-shm"):
                src = self.cache_dir / f"cache.db{suffix}"
                if src.exists():
                    src.replace(self.cache_dir / f"cache.db{suffix}.corrupt-{stamp}")
            return open_()

    def _sql(self, statement: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        # diskcache has no public SQL API. Borrowing its (per-thread) connection is the only way to make an
        # index row commit in the same SQLite transaction as the record it indexes (Cache.transact).
        return self._cache._sql(statement, params)

    @contextmanager
    def _transact(self) -> Iterator[None]:
        with self._cache.transact(retry=True):
            yield

    def _create_index(self) -> None:
        with self._transact():
            self._sql(
                f"CREATE TABLE IF NOT EXISTS {_INDEX} ("
                " id TEXT PRIMARY KEY,"
                " owner TEXT NOT NULL,"
                " created REAL NOT NULL,"
                " parent_id TEXT,"
                " prompt TEXT NOT NULL DEFAULT '',"  # casefolded, for substring search
                " pending INTEGER NOT NULL DEFAULT 0,"  # 1 while polling or downloading is due
                " done_at REAL,"  # completion time: the size limit evicts oldest first
                " orig_bytes INTEGER NOT NULL DEFAULT 0"  # bytes of stored originals
                ") WITHOUT ROWID"
            )
            self._sql(f"CREATE INDEX IF NOT EXISTS {_INDEX}_owner ON {_INDEX}(owner, created DESC, id DESC)")
            self._sql(f"CREATE INDEX IF NOT EXISTS {_INDEX}_parent ON {_INDEX}(parent_id) WHERE parent_id IS NOT NULL")
            self._sql(f"CREATE INDEX IF NOT EXISTS {_INDEX}_pending ON {_INDEX}(created) WHERE pending = 1")
            # Eviction works per owner (usage by GROUP BY owner, then an owner's oldest first); this covers both.
            self._sql(
                f"CREATE INDEX IF NOT EXISTS {_INDEX}_owner_evict ON {_INDEX}(owner, done_at, orig_bytes)"
                " WHERE orig_bytes > 0"
            )
            self._sql(f"DROP INDEX IF EXISTS {_INDEX}_evict")  # the old global oldest-first order; unused now

    # --- reading -----------------------------------------------------------------------------------

    def _warn_once(self, job_id: str, message: str, *args: Any) -> None:
        with self._warn_lock:
            if job_id in self._warned:
                return
            self._warned.add(job_id)
        LOG.warning(message, *args)

    def _load(self, job_id: str) -> JobRecord | None:
        try:
            data = self._cache.get(_RECORD_PREFIX + job_id, retry=True)
        except UnsafeCacheValue as exc:
            self._warn_once(job_id, "skipping job record %s: %s", job_id, exc)
            return None
        if data is None:
            return None
        try:
            record = JobRecord.from_json(data)
        except RecordError as exc:
            self._warn_once(job_id, "skipping unreadable job record %s: %s", job_id, exc)
            return None
        if record.id != job_id:
            self._warn_once(job_id, "skipping job record %s: it describes another job", job_id)
            return None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        """The record, or None. Raises InvalidRequest if ``job_id`` is not 24 hex characters."""
        return self._load(validate_job_id(job_id))

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
        after = _decode_cursor(cursor) if cursor else None
        needle = (query or "").strip().casefold()
        items: list[JobRecord] = []
        last_key: tuple[float, str] | None = None
        while True:
            want = limit - len(items) + 1  # one more than needed tells whether another page exists
            rows = self._page_rows(owner, after, needle, want)
            for job_id, created in rows:
                if len(items) == limit:
                    assert last_key is not None
                    return Page(items, _encode_cursor(*last_key))
                after = (created, job_id)
                record = self._load(job_id)
                if record is None or not _same_owner(record.owner, owner):
                    continue
                items.append(record)
                last_key = after
            if len(rows) < want:
                return Page(items, None)

    def _page_rows(
        self, owner: str, after: tuple[float, str] | None, needle: str, n: int
    ) -> list[tuple[str, float]]:
        where, params = ["owner = ?"], [owner]
        if after is not None:
            where.append("(created, id) < (?, ?)")
            params += [after[0], after[1]]
        if needle:
            where.append("instr(prompt, ?) > 0")
            params.append(needle)
        sql = f"SELECT id, created FROM {_INDEX} WHERE {' AND '.join(where)} ORDER BY created DESC, id DESC LIMIT ?"
        return self._sql(sql, (*params, n)).fetchall()

    def count_jobs(self, owner: str, *, query: str | None = None) -> int:
        """How many records ``owner`` has (matching ``query``, as in ``list_jobs``)."""
        needle = (query or "").strip().casefold()
        if needle:
            row = self._sql(f"SELECT count(*) FROM {_INDEX} WHERE owner = ? AND instr(prompt, ?) > 0", (owner, needle))
        else:
            row = self._sql(f"SELECT count(*) FROM {_INDEX} WHERE owner = ?", (owner,))
        return int(row.fetchone()[0])

    def children(self, job_id: str, *, owner: str | None = None) -> list[JobRecord]:
        """Button jobs made from ``job_id``, oldest first (only ``owner``'s, when given)."""
        job_id = validate_job_id(job_id)
        rows = self._sql(f"SELECT id FROM {_INDEX} WHERE parent_id = ? ORDER BY created, id", (job_id,)).fetchall()
        records = [r for (child,) in rows if (r := self._load(child)) is not None]
        return [r for r in records if owner is None or _same_owner(r.owner, owner)]

    def in_flight(self) -> list[JobRecord]:
        """Every owner's records that still need polling or downloading (``needs_work``), oldest first.

        The tracker resumes these at start-up."""
        rows = self._sql(f"SELECT id FROM {_INDEX} WHERE pending = 1 ORDER BY created, id").fetchall()
        return [r for (job_id,) in rows if (r := self._load(job_id)) is not None and r.needs_work]

    # --- writing -----------------------------------------------------------------------------------

    def put(self, record: JobRecord) -> JobRecord:
        """Insert or replace ``record`` (and its index row) atomically; sets ``updated_at``.

        Raises OwnerMismatch if the job is stored under another owner, ValueError if the record could not
        be read back."""
        if not isinstance(record, JobRecord):
            raise TypeError("put() takes a JobRecord")
        with self._transact():
            self._write(record)
        return record

    def put_many(self, records: Iterable[JobRecord]) -> int:
        """``put`` several records in one transaction (all or none); returns how many were written."""
        records = list(records)
        if not all(isinstance(r, JobRecord) for r in records):
            raise TypeError("put_many() takes JobRecords")
        with self._transact():
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
        with self._transact():
            record = self._load(job_id)
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
        """Store record + index row + total; the caller holds the transaction."""
        record.updated_at = self._clock()
        data = record.to_json()
        JobRecord.from_json(data)  # never write what we could not read back (raises RecordError)
        row = self._sql(f"SELECT owner, orig_bytes FROM {_INDEX} WHERE id = ?", (record.id,)).fetchone()
        if row is not None and row[0] != record.owner:
            raise OwnerMismatch(f"job {record.id} belongs to another owner")
        self._cache.set(_RECORD_PREFIX + record.id, data, retry=True)
        stored = record.stored_bytes
        done_at = record.finished_at if record.finished_at is not None else record.created_at
        self._sql(
            f"INSERT INTO {_INDEX} (id, owner, created, parent_id, prompt, pending, done_at, orig_bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, created = excluded.created,"
            " parent_id = excluded.parent_id, prompt = excluded.prompt, pending = excluded.pending,"
            " done_at = excluded.done_at, orig_bytes = excluded.orig_bytes",
            (
                record.id,
                record.owner,
                record.created_at,
                record.parent_id,
                record.prompt.casefold(),
                int(record.needs_work),
                done_at,
                stored,
            ),
        )
        self._adjust_total(stored - (row[1] if row is not None else 0))

    def delete(self, job_id: str, owner: str) -> bool:
        """Remove ``owner``'s record, its index row and its image files. False if not theirs (or absent)."""
        job_id = validate_job_id(job_id)
        with self._transact():
            row = self._sql(f"SELECT owner, orig_bytes FROM {_INDEX} WHERE id = ?", (job_id,)).fetchone()
            record = self._load(job_id)
            record_owner = record.owner if record is not None else (row[0] if row is not None else None)
            if record_owner is None or not _same_owner(record_owner, owner):
                return False
            self._cache.delete(_RECORD_PREFIX + job_id, retry=True)
            self._sql(f"DELETE FROM {_INDEX} WHERE id = ?", (job_id,))
            self._adjust_total(-(row[1] if row is not None else 0))
        shutil.rmtree(self._job_dir(job_id), ignore_errors=True)
        return True

    # --- size accounting -----------------------------------------------------------------------------

    def _adjust_total(self, delta: int) -> None:
        """Move the running total of stored originals by ``delta`` (inside the caller's transaction)."""
        try:
            total = self._cache.get(_TOTAL_KEY, retry=True)
        except UnsafeCacheValue:
            total = None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            total = self._recount()  # the index already reflects this change
        else:
            total += delta
        self._cache.set(_TOTAL_KEY, max(0, total), retry=True)

    def _recount(self) -> int:
        return int(self._sql(f"SELECT coalesce(sum(orig_bytes), 0) FROM {_INDEX}").fetchone()[0])

    def original_bytes(self) -> int:
        """Bytes of original image files on disk (what ``limit_bytes`` counts)."""
        try:
            total = self._cache.get(_TOTAL_KEY, retry=True)
        except UnsafeCacheValue:
            total = None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            with self._transact():
                total = self._recount()
                self._cache.set(_TOTAL_KEY, total, retry=True)
        return total

    def enforce_limit(self, *, keep: Iterable[str] = (), owner: str | None = None) -> int:
        """Free space fairly; returns bytes of original files deleted.

        With ``owner``, first trim that owner's own oldest originals to their quota (``owner_quota_bytes``).
        Then, over ``limit_bytes``, evict only from owners above their fair share (limit / owners with
        originals), heaviest first, each one's oldest first: one visitor's burst never evicts another's
        results. If no such owner has an evictable job the store stays over the limit until one does.
        Never evicted: jobs finished less than ``min_age_seconds`` ago, jobs still polling or downloading,
        ids in ``keep``. Records and previews stay (entries become EVICTED with their remote URL kept)."""
        keep = frozenset(keep)
        freed = 0
        if owner is not None:
            freed += self._enforce_owner_quota(owner, keep)
        freed += self._enforce_global_limit(keep)
        return freed

    def _cutoff(self) -> float:
        """Jobs done at or before this time are old enough to evict."""
        return self._clock() - self.min_age_seconds

    def _owner_usage(self, owner: str) -> int:
        row = self._sql(
            f"SELECT coalesce(sum(orig_bytes), 0) FROM {_INDEX} WHERE owner = ? AND orig_bytes > 0", (owner,)
        ).fetchone()
        return int(row[0])

    def _usage_by_owner(self) -> dict[str, int]:
        rows = self._sql(
            f"SELECT owner, sum(orig_bytes) FROM {_INDEX} WHERE orig_bytes > 0 GROUP BY owner"
        ).fetchall()
        return {owner: int(used) for owner, used in rows}

    def _evictable(self, owner: str, keep: frozenset[str], cutoff: float) -> deque[str]:
        """``owner``'s evictable job ids, oldest completion first."""
        rows = self._sql(
            f"SELECT id FROM {_INDEX} WHERE owner = ? AND orig_bytes > 0 AND pending = 0 AND done_at <= ?"
            " ORDER BY done_at, created, id",
            (owner, cutoff),
        ).fetchall()
        return deque(job_id for (job_id,) in rows if job_id not in keep)

    def _evict_job(self, job_id: str, cutoff: float) -> tuple[int, int]:
        """Evict one job's originals; returns (bytes it had counted, bytes of files deleted).

        The record is re-checked inside the transaction, so a job that became in-flight or was finished
        again since the index was read is left alone (0, 0)."""
        doomed: list[Path] = []
        released = 0

        def evict(record: JobRecord) -> None:
            nonlocal released
            done_at = record.finished_at if record.finished_at is not None else record.created_at
            if record.needs_work or done_at > cutoff:
                return
            released = record.stored_bytes
            for entry in record.images:
                if entry.is_stored:
                    if entry.original:
                        doomed.append(self.local_path(entry.original))
                    entry.state = ImageState.EVICTED
                    entry.original = None

        try:
            self.update(job_id, evict)
        except RecordNotFound:
            return 0, 0
        deleted = 0
        for path in doomed:  # after the commit: a crash leaves an orphan file, never a broken record
            with _suppress_os_error():
                size = path.stat().st_size
                path.unlink()
                deleted += size
        return released, deleted

    def _enforce_owner_quota(self, owner: str, keep: frozenset[str]) -> int:
        """Trim ``owner``'s own oldest originals until they are within their quota."""
        quota = self.owner_quota_bytes
        used = self._owner_usage(owner)
        if used <= quota:
            return 0
        cutoff = self._cutoff()
        freed = 0
        for job_id in self._evictable(owner, keep, cutoff):
            released, deleted = self._evict_job(job_id, cutoff)
            used -= released
            freed += deleted
            if used <= quota:
                break
        if freed:
            LOG.info("owner quota: evicted %d bytes of one owner's own original images", freed)
        return freed

    def _enforce_global_limit(self, keep: frozenset[str]) -> int:
        """Bring the store under ``limit_bytes`` at the expense of owners above their fair share only."""
        total = self.original_bytes()
        if total <= self.limit_bytes:
            self._over_limit_logged = False
            return 0
        cutoff = self._cutoff()
        usage = self._usage_by_owner()
        queues: dict[str, deque[str]] = {}
        exhausted: set[str] = set()
        freed = 0
        while total > self.limit_bytes:
            victim = _heaviest_over_fair_share(usage, self.limit_bytes, exhausted)
            if victim is None:
                self._log_stuck_over_limit(total, len(usage))
                break
            if victim not in queues:
                queues[victim] = self._evictable(victim, keep, cutoff)
            if not queues[victim]:
                exhausted.add(victim)
                continue
            released, deleted = self._evict_job(queues[victim].popleft(), cutoff)
            freed += deleted
            usage[victim] -= released
            if usage[victim] <= 0:
                del usage[victim]  # no originals left: no longer counts towards the fair share
            total = self.original_bytes()
        else:
            self._over_limit_logged = False
        if freed:
            LOG.info("cache limit: evicted %d bytes of original images", freed)
        return freed

    def _log_stuck_over_limit(self, total: int, owners: int) -> None:
        """Say once (per episode) that the store stays over its limit, and why."""
        if self._over_limit_logged:
            return
        self._over_limit_logged = True
        LOG.info(
            "cache is %d bytes over its limit, but no owner above their fair share (of %d) has a job old "
            "enough to evict; it stays over until one does",
            total - self.limit_bytes,
            owners,
        )

    # --- image files -----------------------------------------------------------------------------------

    def _job_dir(self, job_id: str) -> Path:
        return self.images_dir / job_id[:2] / job_id

    @staticmethod
    def _check_index(index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_IMAGES_PER_JOB:
            raise ValueError(f"image index must be an int in [0, {MAX_IMAGES_PER_JOB})")
        return index

    def image_path(self, job_id: str, index: int, ext: str) -> Path:
        """Where original ``index`` of a job lives (``ext``: jpg, png or webp). Nothing else can be named."""
        job_id = validate_job_id(job_id)
        index = self._check_index(index)
        ext = str(ext).lower().lstrip(".")
        ext = "jpg" if ext == "jpeg" else ext
        if ext not in IMAGE_EXTENSIONS:
            raise ValueError(f"image extension must be one of {IMAGE_EXTENSIONS}")
        return self._job_dir(job_id) / f"{index}.{ext}"

    def preview_path(self, job_id: str, index: int) -> Path:
        job_id = validate_job_id(job_id)
        return self._job_dir(job_id) / f"{self._check_index(index)}.preview.webp"

    def local_path(self, relative: str) -> Path:
        """The absolute path of an ``ImageEntry.original`` / ``.preview`` (ValueError for anything else)."""
        if not isinstance(relative, str) or not _PATH_OK.fullmatch(relative):
            raise ValueError("not a path of a stored image")
        return self.cache_dir / relative

    def display_paths(self, record: JobRecord) -> list[Path]:
        """Existing local files to show for a record, in result order: previews, else originals."""
        paths = []
        for entry in record.images:
            if entry.display_path:
                path = self.local_path(entry.display_path)
                if path.is_file():
                    paths.append(path)
        return paths

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.cache_dir).as_posix()

    def store_original(
        self, job_id: str, index: int, data: bytes, *, remote_url: str | None = None
    ) -> ImageEntry:
        """Check ``data`` is a whole PNG/JPEG/WebP image, keep it as original ``index`` with a web preview,
        mark the record's entry STORED and apply the owner's quota and the size limit. Returns the updated entry.

        Raises ImageValidationError for bad bytes (nothing written), RecordNotFound if the job has no record.
        """
        job_id = validate_job_id(job_id)
        index = self._check_index(index)
        record = self._load(job_id)
        if record is None:
            raise RecordNotFound(f"no job record {job_id}")
        prepared = images.prepare_original(data)
        dest = self.image_path(job_id, index, prepared.ext)
        preview = self.preview_path(job_id, index)
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        previous = next((e for e in record.images if e.index == index), None)
        written = [dest]
        _atomic_write(dest, prepared.data)
        # The preview is made once; a re-download of the same image (e.g. after eviction) reuses it.
        reuse_preview = (
            previous is not None
            and previous.preview is not None
            and (previous.width, previous.height) == (prepared.width, prepared.height)
            and previous.state in (ImageState.STORED, ImageState.EVICTED)
            and preview.is_file()
        )
        if not reuse_preview:
            _atomic_write(preview, images.make_preview(prepared.image))
            written.append(preview)
        stale: list[Path] = []

        def apply(rec: JobRecord) -> None:
            entry = rec.image(index)
            if entry.original and entry.original != self._relative(dest):
                stale.append(self.local_path(entry.original))  # same index, other format: drop the old file
            entry.state = ImageState.STORED
            entry.original = self._relative(dest)
            entry.preview = self._relative(preview)
            entry.width, entry.height = prepared.width, prepared.height
            entry.nbytes = len(prepared.data)
            entry.error = None
            entry.attempts += 1
            if remote_url:
                entry.remote_url = remote_url

        try:
            record = self.update(job_id, apply)
        except RecordNotFound:  # deleted while we were writing: leave nothing behind
            for path in written:
                with _suppress_os_error():
                    path.unlink()
            raise
        for path in stale:
            with _suppress_os_error():
                path.unlink()
        self.enforce_limit(keep=(job_id,), owner=record.owner)
        return next(e for e in record.images if e.index == index)

    def mark_image_failed(
        self, job_id: str, index: int, error: str, *, expired: bool = False, remote_url: str | None = None
    ) -> ImageEntry:
        """Record a failed download of result ``index`` (EXPIRED when Akool no longer serves it)."""
        index = self._check_index(index)

        def apply(rec: JobRecord) -> None:
            entry = rec.image(index)
            if entry.is_stored:
                return  # another process stored it meanwhile; the failure is moot
            entry.state = ImageState.EXPIRED if expired else ImageState.ERROR
            entry.error = str(error)[:500]
            entry.attempts += 1
            if remote_url:
                entry.remote_url = remote_url

        record = self.update(job_id, apply)
        return next(e for e in record.images if e.index == index)

    def download_lock(self, job_id: str, *, expire: float = DOWNLOAD_LOCK_EXPIRE) -> DownloadLock:
        """A lock so only one thread/process downloads a job's results (see DownloadLock)."""
        return DownloadLock(self._cache, validate_job_id(job_id), expire=expire)


def _heaviest_over_fair_share(usage: dict[str, int], limit: int, exhausted: set[str]) -> str | None:
    """The owner using most above ``limit / len(usage)`` (skipping ``exhausted``), or None."""
    if not usage:
        return None
    fair = limit / len(usage)
    over = [(used, owner) for owner, used in usage.items() if used > fair and owner not in exhausted]
    return max(over)[1] if over else None


def _same_owner(a: str, b: str) -> bool:
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
