"""``RedisRecords``: the ``JobRecords`` port on Redis, shared by every replica that names the same Redis.

Records are JSON strings; history pages, search, lineage, resumption and the byte totals come from the
index structures of ``index.py``, changed in the same ``MULTI`` as the record (``batch.py``). A write
holds the record's lock from its read to its commit, so ``update`` runs its function once with nobody
writing in between; ``transaction`` groups one thread's writes into one ``MULTI`` (and, as the local
adapter's SQLite transaction does, lets one such group run at a time).

Pages are keyed by (created, id) newest first and handed out as the same opaque cursors as the local
adapter's; a job never moves to another owner; someone else's job reads as missing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterable, Iterator

import redis

from ...akool.models import validate_job_id
from ...jobs import JobRecord, Page
from ...service.ports import OwnerMismatch, RecordNotFound, updated_record
from ..local.store.index import decode_cursor, encode_cursor
from ..local.store.owners import same_owner
from .batch import Batch, load_record
from .connection import Keys, unavailable

__all__ = ["RedisRecords", "MAX_PAGE_SIZE"]

MAX_PAGE_SIZE = 100
# History is read from the owner's sorted set this many ids at a time (one round trip each).
_CHUNK = 64


class RedisRecords:
    """Job records in Redis under ``keys`` (thread-safe; every replica shares them)."""

    def __init__(self, client: redis.Redis, keys: Keys, *, clock: Callable[[], float] = time.time):
        self._client, self._keys, self._clock = client, keys, clock
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"RedisRecords(prefix={self._keys.prefix!r})"

    # --- batches ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _batch(self, *, many: bool = False) -> Iterator[Batch]:
        """This thread's open transaction, or a batch of its own committed at the end."""
        current: Batch | None = getattr(self._local, "batch", None)
        if current is not None:
            yield current
            return
        batch = Batch(self._client, self._keys, clock=self._clock)
        try:
            if many:
                batch.hold_transaction()
            yield batch
            batch.commit()
        finally:
            batch.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "batch", None) is not None:
            yield
            return
        batch = Batch(self._client, self._keys, clock=self._clock)
        batch.hold_transaction()
        self._local.batch = batch
        try:
            yield
            batch.commit()
        finally:
            self._local.batch = None
            batch.release()

    def _reader(self) -> Batch:
        return getattr(self._local, "batch", None) or Batch(self._client, self._keys, clock=self._clock)

    def _load_many(self, job_ids: list[str]) -> list[JobRecord]:
        if not job_ids:
            return []
        batch = getattr(self._local, "batch", None)
        if batch is not None:
            return [r for job_id in job_ids if (r := batch.load(job_id)) is not None]
        with unavailable("job records could not be read"):
            raws = self._client.mget([self._keys("rec", j) for j in job_ids])
        return [r for job_id, raw in zip(job_ids, raws) if (r := load_record(raw, job_id)) is not None]

    # --- reading -------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        return self._reader().load(validate_job_id(job_id))

    def get_for_owner(self, job_id: str, owner: str) -> JobRecord | None:
        record = self.get(job_id)
        return record if record is not None and same_owner(record.owner, owner) else None

    def list_jobs(self, owner: str, *, cursor: str | None = None, limit: int = 20,
                  query: str | None = None) -> Page[JobRecord]:
        limit = max(1, min(int(limit), MAX_PAGE_SIZE))
        after = decode_cursor(cursor) if cursor else None
        needle = (query or "").strip().casefold()
        items: list[JobRecord] = []
        for ids in self._newest_first(owner, after, needle):
            for record in self._load_many(ids):
                if not same_owner(record.owner, owner):
                    continue
                if len(items) == limit:
                    last = items[-1]
                    return Page(items, encode_cursor(float(last.created_at), last.id))
                items.append(record)
        return Page(items, None)

    def _newest_first(self, owner: str, after: tuple[float, str] | None, needle: str) -> Iterator[list[str]]:
        """The owner's ids after the key ``after``, newest first, in chunks (matching ``needle`` if given)."""
        key = self._keys("own", owner)
        while True:
            top = after[0] if after is not None else "+inf"
            with unavailable("the history could not be read"):
                rows = self._client.zrevrangebyscore(key, top, "-inf", start=0, num=_CHUNK + 8, withscores=True)
            fresh = [(m.decode(), s) for m, s in rows
                     if after is None or s < after[0] or (s == after[0] and m.decode() < after[1])]
            chunk = fresh[:_CHUNK]
            if not chunk:
                if len(rows) < _CHUNK + 8:
                    return
                # every row read was at the boundary score: read past them by offset
                chunk = self._past_ties(key, after, len(rows))
                if not chunk:
                    return
            ids = [m for m, _ in chunk]
            if needle:
                with unavailable("the history could not be searched"):
                    prompts = self._client.hmget(self._keys("prompt", owner), ids)
                ids = [i for i, p in zip(ids, prompts) if p is not None and needle in p.decode()]
            if ids:
                yield ids
            after = (chunk[-1][1], chunk[-1][0])

    def _past_ties(self, key: str, after: tuple[float, str], skip: int) -> list[tuple[str, float]]:
        with unavailable("the history could not be read"):
            rows = self._client.zrevrangebyscore(key, after[0], "-inf", start=skip, num=_CHUNK, withscores=True)
        return [(m.decode(), s) for m, s in rows if s < after[0] or m.decode() < after[1]]

    def count_jobs(self, owner: str, *, query: str | None = None) -> int:
        needle = (query or "").strip().casefold()
        with unavailable("the history could not be counted"):
            if not needle:
                return int(self._client.zcard(self._keys("own", owner)))
            return sum(1 for p in self._client.hvals(self._keys("prompt", owner)) if needle in p.decode())

    def children(self, job_id: str, *, owner: str | None = None) -> list[JobRecord]:
        job_id = validate_job_id(job_id)
        with unavailable("a job's lineage could not be read"):
            ids = [m.decode() for m in self._client.zrange(self._keys("kids", job_id), 0, -1)]
        records = self._load_many(ids)
        return [r for r in records if owner is None or same_owner(r.owner, owner)]

    def unsettled(self) -> list[JobRecord]:
        with unavailable("unfinished jobs could not be read"):
            ids = [m.decode() for m in self._client.zrange(self._keys("pending"), 0, -1)]
        return [r for r in self._load_many(ids) if r.is_unsettled]

    def in_flight(self) -> list[JobRecord]:
        return [r for r in self.unsettled() if r.needs_work]

    def intents(self) -> list[JobRecord]:
        return [r for r in self.unsettled() if r.is_intent]

    # --- writing -------------------------------------------------------------------------------------

    def _stage(self, batch: Batch, record: JobRecord) -> None:
        filed = batch.filed(record.id)
        if filed is not None and filed.owner != record.owner:
            raise OwnerMismatch(f"job {record.id} belongs to another owner")
        batch.write(record)

    def put(self, record: JobRecord) -> JobRecord:
        if not isinstance(record, JobRecord):
            raise TypeError("put() takes a JobRecord")
        with self._batch() as batch:
            batch.lock(record.id)
            self._stage(batch, record)
        return record

    def put_many(self, records: Iterable[JobRecord]) -> int:
        records = list(records)
        if not all(isinstance(r, JobRecord) for r in records):
            raise TypeError("put_many() takes JobRecords")
        with self._batch(many=len(records) > 1) as batch:
            for record in sorted(records, key=lambda r: r.id):
                batch.lock(record.id)
            for record in records:
                self._stage(batch, record)
        return len(records)

    def replace(self, intent_id: str, records: Iterable[JobRecord]) -> None:
        """Swap a write-ahead intent for the job records Akool made for it, in one ``MULTI`` (a job already
        stored, adopted from a webhook meanwhile, is kept as it is)."""
        intent_id = validate_job_id(intent_id)
        records = list(records)
        if not all(isinstance(r, JobRecord) for r in records):
            raise TypeError("replace() takes JobRecords")
        with self._batch(many=True) as batch:
            for job_id in sorted({intent_id, *(r.id for r in records)}):
                batch.lock(job_id)
            old = batch.load(intent_id)
            if old is not None and all(r.owner == old.owner for r in records):
                batch.remove(intent_id)
            for record in records:
                if not batch.exists(record.id):
                    self._stage(batch, record)

    def update(self, job_id: str, fn: Callable[[JobRecord], Any]) -> JobRecord:
        job_id = validate_job_id(job_id)
        with self._batch() as batch:
            batch.lock(job_id)
            record = batch.load(job_id)
            if record is None:
                raise RecordNotFound(f"no job record {job_id}")
            record = updated_record(record, fn)
            batch.write(record)
        return record

    def delete(self, job_id: str, owner: str) -> bool:
        job_id = validate_job_id(job_id)
        with self._batch() as batch:
            batch.lock(job_id)
            filed = batch.filed(job_id)
            record = batch.load(job_id)
            record_owner = record.owner if record is not None else (filed.owner if filed is not None else None)
            if record_owner is None or not same_owner(record_owner, owner):
                return False
            batch.remove(job_id)
        return True

    # --- what the records say about stored originals -------------------------------------------------------

    def original_bytes(self) -> int:
        with unavailable("the stored bytes could not be read"):
            return max(0, int(self._client.get(self._keys("total")) or 0))

    def owner_bytes(self, owner: str) -> int:
        with unavailable("the stored bytes could not be read"):
            return max(0, int(self._client.hget(self._keys("obytes"), owner) or 0))

    def bytes_by_owner(self) -> dict[str, int]:
        with unavailable("the stored bytes could not be read"):
            rows = self._client.hgetall(self._keys("obytes"))
        return {k.decode(): int(v) for k, v in rows.items() if int(v) > 0}

    def evictable(self, owner: str, cutoff: float) -> list[str]:
        with unavailable("the stored originals could not be listed"):
            return [m.decode() for m in self._client.zrangebyscore(self._keys("evict", owner), "-inf", cutoff)]
