"""One write of the shared records: the locks it holds, what it changed so far (so reads inside a
``transaction`` see it), and the ``MULTI`` pipeline Redis applies all of it in, or none.

Every write of a record holds that record's lock (``locks.RedisLock``) from its read to its commit, so a
read-modify-write runs its function once and nobody writes the record in between. A batch that touches
more than one record also holds the records' transaction lock first: two such batches never wait for each
other's record locks in opposite orders, and batches that hold one lock never wait while holding it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis

from ...jobs import JobRecord, RecordError
from .connection import Keys, unavailable
from .index import Filed, filed_from, queue_remove, queue_write
from .locks import RedisLock

__all__ = ["Batch", "load_record"]

log = logging.getLogger(__name__)
_warned: set[str] = set()
_warned_lock = threading.Lock()


def load_record(raw: bytes | None, job_id: str) -> JobRecord | None:
    """A record from its stored JSON; None when absent or unreadable (warned once per id and process)."""
    if raw is None:
        return None
    try:
        record = JobRecord.from_json(json.loads(raw))
    except (ValueError, RecordError) as exc:
        _warn_once(job_id, f"skipping unreadable job record {job_id}: {type(exc).__name__}")
        return None
    if record.id != job_id:
        _warn_once(job_id, f"skipping job record {job_id}: it describes another job")
        return None
    return record


def _warn_once(job_id: str, message: str) -> None:
    with _warned_lock:
        if job_id in _warned:
            return
        _warned.add(job_id)
    log.warning(message)


class Batch:
    """The records written by one call (or one ``transaction``), committed together."""

    def __init__(self, client: redis.Redis, keys: Keys, *, clock: Any):
        self._client, self._keys, self._clock = client, keys, clock
        self._locks: dict[str, RedisLock] = {}
        self._txn: RedisLock | None = None
        self._records: dict[str, JobRecord | None] = {}  # staged: the record, or None (removed)
        self._filed: dict[str, Filed | None] = {}
        self._ops: list[Any] = []

    # --- locking ------------------------------------------------------------------------------------

    def hold_transaction(self) -> None:
        if self._txn is None:
            self._txn = RedisLock(self._client, self._keys("lock", "txn")).acquire()

    def lock(self, job_id: str) -> None:
        if job_id not in self._locks:
            self._locks[job_id] = RedisLock(self._client, self._keys("lock", "rec", job_id)).acquire()

    def release(self) -> None:
        for held in [*self._locks.values(), *([self._txn] if self._txn else [])]:
            try:
                held.release()
            except Exception:  # it expires by itself; never hide the caller's own error behind this
                log.warning("a record lock could not be released; it expires by itself")
        self._locks.clear()
        self._txn = None

    # --- reading what this batch sees --------------------------------------------------------------

    def raw(self, job_id: str) -> bytes | None:
        with unavailable(f"job record {job_id} could not be read"):
            return self._client.get(self._keys("rec", job_id))

    def load(self, job_id: str) -> JobRecord | None:
        if job_id in self._records:
            staged = self._records[job_id]
            return None if staged is None else JobRecord.from_json(staged.to_json())
        return load_record(self.raw(job_id), job_id)

    def exists(self, job_id: str) -> bool:
        if job_id in self._records:
            return self._records[job_id] is not None
        return self.raw(job_id) is not None

    def filed(self, job_id: str) -> Filed | None:
        if job_id in self._filed:
            return self._filed[job_id]
        with unavailable(f"job record {job_id} could not be read"):
            return filed_from(self._client.hgetall(self._keys("ix", job_id)))

    # --- staging ------------------------------------------------------------------------------------

    def write(self, record: JobRecord) -> None:
        """Stage ``record`` (the caller holds its lock and checked its owner)."""
        record.updated_at = self._clock()
        previous = self.filed(record.id)
        snapshot = JobRecord.from_json(record.to_json())
        self._ops.append(lambda pipe, r=snapshot, p=previous: queue_write(pipe, self._keys, r, p))
        self._records[record.id] = snapshot
        self._filed[record.id] = Filed(owner=record.owner, created=repr(float(record.created_at)),
                                       parent=record.parent_id or "", bytes=str(int(record.stored_bytes)))

    def remove(self, job_id: str) -> None:
        filed = self.filed(job_id)
        self._ops.append(lambda pipe, f=filed: queue_remove(pipe, self._keys, job_id, f))
        self._records[job_id] = None
        self._filed[job_id] = None

    def commit(self) -> None:
        if not self._ops:
            return
        with unavailable("job records could not be written"):
            pipe = self._client.pipeline(transaction=True)
            for op in self._ops:
                op(pipe)
            pipe.execute()
        self._ops.clear()
