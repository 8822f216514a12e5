"""Job records as JSON text in diskcache: the JSON-only serialiser, opening the cache, reading defensively.

A record is stored under ``job:<id>``. What comes back is never trusted: rows that are not our JSON
(pickled by another program, binary, garbage) are refused unread, and records that fail to parse
(corrupt, foreign, from a newer schema, filed under another id) are skipped with one warning per id,
so a damaged row never crashes a listing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_RAW, MODE_TEXT

from ....jobs import JobRecord, RecordError
from .errors import UnsafeCacheValue

__all__ = ["JsonOnlyDisk", "RecordCache", "encode_record", "ensure_private_dir", "open_cache"]

LOG = logging.getLogger(__name__)

RECORD_PREFIX = "job:"
# Records are a few KB; anything up to 64 KB stays inside SQLite rather than in a side file.
INLINE_VALUE_BYTES = 2**16
# diskcache must never evict a record behind our back: no eviction policy, and a size limit it can't reach.
CACHE_SETTINGS = {
    "eviction_policy": "none",
    "size_limit": 2**62,
    "cull_limit": 10,  # still drops expired lock keys, ten per write
    "statistics": 0,
    "tag_index": 0,
    "disk_min_file_size": INLINE_VALUE_BYTES,
}
# Two processes share one database; a writer may wait this long for the other's transaction to end.
SQLITE_TIMEOUT = 60.0


class JsonOnlyDisk(diskcache.Disk):
    """diskcache serialisation that only ever reads and writes JSON text.

    ``diskcache.JSONDisk`` is not enough: its ``fetch`` still calls ``Disk.fetch``, which unpickles any row
    whose stored mode says "pickle", so a row planted by another program would execute code. Here keys must
    be ``str`` and every value is JSON text; rows in any other mode are refused without being read.
    """

    def __init__(self, directory: str, min_file_size: int = INLINE_VALUE_BYTES, **_ignored: Any):
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


def ensure_private_dir(path: Path) -> None:
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


def open_cache(cache_dir: Path) -> diskcache.Cache:
    """diskcache on ``cache_dir`` with the JSON-only disk; an unreadable database is moved aside, not lost."""

    def open_() -> diskcache.Cache:
        return diskcache.Cache(str(cache_dir), disk=JsonOnlyDisk, timeout=SQLITE_TIMEOUT, **CACHE_SETTINGS)

    try:
        return open_()
    except sqlite3.OperationalError:
        raise  # locked, unreadable, out of space: not corruption, so never move data aside
    except sqlite3.DatabaseError as exc:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        LOG.warning(
            "cache database in %s is unreadable (%s); moved it aside as cache.db.corrupt-%s and started "
            "a new one",
            cache_dir,
            exc,
            stamp,
        )
        for suffix in ("", "-wal", "-shm"):
            src = cache_dir / f"cache.db{suffix}"
            if src.exists():
                src.replace(cache_dir / f"cache.db{suffix}.corrupt-{stamp}")
        return open_()


def encode_record(record: JobRecord) -> dict[str, Any]:
    """The record's JSON, checked by reading it back: we never write what we could not read (RecordError)."""
    data = record.to_json()
    JobRecord.from_json(data)
    return data


class RecordCache:
    """Job records under ``job:<id>`` in one diskcache; unreadable ones read as missing (warned once)."""

    def __init__(self, cache: diskcache.Cache):
        self._cache = cache
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    def load(self, job_id: str) -> JobRecord | None:
        """The record filed under ``job_id``, or None if absent or unreadable (``job_id`` already valid)."""
        try:
            data = self._cache.get(RECORD_PREFIX + job_id, retry=True)
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

    def raw(self, job_id: str) -> dict[str, Any] | None:
        """The stored JSON of a record as it is (no parsing into a JobRecord), or None if absent or not ours."""
        try:
            data = self._cache.get(RECORD_PREFIX + job_id, retry=True)
        except UnsafeCacheValue:
            return None
        return data if isinstance(data, dict) else None

    def save(self, job_id: str, data: dict[str, Any]) -> None:
        """Store JSON from ``encode_record`` (inside the caller's transaction, next to its index row)."""
        self._cache.set(RECORD_PREFIX + job_id, data, retry=True)

    def delete(self, job_id: str) -> None:
        self._cache.delete(RECORD_PREFIX + job_id, retry=True)

    def _warn_once(self, job_id: str, message: str, *args: Any) -> None:
        """One warning per bad record per process: listings re-read the same rows on every page."""
        with self._warn_lock:
            if job_id in self._warned:
                return
            self._warned.add(job_id)
        LOG.warning(message, *args)
