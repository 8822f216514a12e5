"""What the shared records keep besides each record's JSON, as Redis structures, and the commands that
change them: queued on one ``MULTI`` pipeline with the record itself, so Redis applies a record and its
index entries together (another replica never sees one without the other).

    rec:<id>            the record's JSON (``JobRecord.to_json``)
    ix:<id>             hash: owner, created, parent, bytes (what the entries below were filed under)
    own:<owner>         sorted set id -> created: history pages, newest first (ties by id, descending)
    prompt:<owner>      hash id -> the prompt casefolded: search, as the local index's ``instr``
    kids:<parent>       sorted set id -> created: lineage
    pending             sorted set id -> created: every owner's unsettled jobs (resume, adoption)
    obytes              hash owner -> bytes of stored originals;  total: all owners' (size limits)
    evict:<owner>       sorted set id -> done_at, of jobs holding originals (eviction, oldest first)
"""

from __future__ import annotations

import json
from typing import Any

from ...jobs import JobRecord
from ..local.store.records import encode_record
from .connection import Keys

__all__ = ["Filed", "queue_write", "queue_remove", "filed_from"]


class Filed(dict):
    """How a job is filed now (the ``ix:<id>`` hash, decoded): owner, created, parent, bytes."""

    @property
    def owner(self) -> str:
        return self["owner"]

    @property
    def nbytes(self) -> int:
        return int(self.get("bytes", 0))


def filed_from(raw: dict[bytes, bytes] | None) -> Filed | None:
    """The ``ix:<id>`` hash as Redis returned it, or None when the job is not filed."""
    if not raw:
        return None
    return Filed({k.decode(): v.decode() for k, v in raw.items()})


def filed_of(record: JobRecord) -> Filed:
    return Filed(owner=record.owner, created=repr(float(record.created_at)), parent=record.parent_id or "",
                 bytes=str(int(record.stored_bytes)))


def queue_write(pipe: Any, keys: Keys, record: JobRecord, previous: Filed | None) -> Filed:
    """Queue the record and every index entry of it on ``pipe``; what it is filed as now."""
    data = json.dumps(encode_record(record), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    filed = filed_of(record)
    job_id, owner, created = record.id, record.owner, float(record.created_at)
    pipe.set(keys("rec", job_id), data)
    pipe.hset(keys("ix", job_id), mapping=filed)
    pipe.zadd(keys("own", owner), {job_id: created})
    pipe.hset(keys("prompt", owner), job_id, record.prompt.casefold())
    if previous is not None and previous.get("parent") and previous["parent"] != (record.parent_id or ""):
        pipe.zrem(keys("kids", previous["parent"]), job_id)
    if record.parent_id:
        pipe.zadd(keys("kids", record.parent_id), {job_id: created})
    if record.is_unsettled:
        pipe.zadd(keys("pending"), {job_id: created})
    else:
        pipe.zrem(keys("pending"), job_id)
    delta = filed.nbytes - (previous.nbytes if previous is not None else 0)
    if delta:
        pipe.hincrby(keys("obytes"), owner, delta)
        pipe.incrby(keys("total"), delta)
    if filed.nbytes > 0:
        pipe.zadd(keys("evict", owner), {job_id: float(record.done_at)})
    else:
        pipe.zrem(keys("evict", owner), job_id)
    return filed


def queue_remove(pipe: Any, keys: Keys, job_id: str, filed: Filed | None) -> None:
    """Queue the removal of a record and of every index entry it was filed under."""
    pipe.delete(keys("rec", job_id), keys("ix", job_id))
    pipe.zrem(keys("pending"), job_id)
    if filed is None:
        return
    owner = filed.owner
    pipe.zrem(keys("own", owner), job_id)
    pipe.hdel(keys("prompt", owner), job_id)
    pipe.zrem(keys("evict", owner), job_id)
    if filed.get("parent"):
        pipe.zrem(keys("kids", filed["parent"]), job_id)
    if filed.nbytes:
        pipe.hincrby(keys("obytes"), owner, -filed.nbytes)
        pipe.incrby(keys("total"), -filed.nbytes)
