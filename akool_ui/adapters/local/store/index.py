"""The owner index: one SQLite row per record, for history pages, search, resumption and eviction.

The table lives in diskcache's own database (``akool_job_index``) so that a record and its row are
written in one SQLite transaction (``Cache.transact``): two processes sharing the directory never see
one without the other. Columns: owner, created, parent_id, prompt (casefolded), pending, done_at,
orig_bytes. History pages are keyed by (created, id), newest first, and handed out as opaque cursors.

This is the only module that touches diskcache's private ``Cache._sql``; see ``JobIndex._sql``.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any, Sequence

import diskcache

from ....akool.models import validate_job_id
from ....jobs import JobRecord

__all__ = ["JobIndex", "decode_cursor", "done_at", "encode_cursor"]

TABLE = "akool_job_index"


def done_at(record: JobRecord) -> float:
    """When a record stopped needing work (its creation time until it finishes): eviction's age."""
    return record.done_at


def encode_cursor(created: float, job_id: str) -> str:
    """The opaque cursor of the page that starts after (``created``, ``job_id``)."""
    raw = json.dumps([created, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The (created, id) key in a cursor from ``encode_cursor``; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        if isinstance(created, bool) or not isinstance(created, (int, float)):
            raise ValueError
        return float(created), validate_job_id(job_id)
    except Exception:  # any malformed cursor (bad base64, JSON, shape or id) is just "invalid"
        raise ValueError("invalid page cursor") from None


class JobIndex:
    """Queries on the index table. Writes happen inside the caller's ``Cache.transact``."""

    def __init__(self, cache: diskcache.Cache):
        self._cache = cache

    def _sql(self, statement: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        # diskcache has no public SQL API. Borrowing its (per-thread) connection is the only way to make an
        # index row commit in the same SQLite transaction as the record it indexes (Cache.transact).
        return self._cache._sql(statement, params)

    def create(self) -> None:
        """Create the table and its indexes if missing (and drop ones older versions made)."""
        with self._cache.transact(retry=True):
            self._sql(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                " id TEXT PRIMARY KEY,"
                " owner TEXT NOT NULL,"
                " created REAL NOT NULL,"
                " parent_id TEXT,"
                " prompt TEXT NOT NULL DEFAULT '',"  # casefolded, for substring search
                " pending INTEGER NOT NULL DEFAULT 0,"  # 1 while the app owes it work (JobRecord.is_unsettled)
                " done_at REAL,"  # completion time: the size limit evicts oldest first
                " orig_bytes INTEGER NOT NULL DEFAULT 0"  # bytes of stored originals
                ") WITHOUT ROWID"
            )
            self._sql(f"CREATE INDEX IF NOT EXISTS {TABLE}_owner ON {TABLE}(owner, created DESC, id DESC)")
            self._sql(f"CREATE INDEX IF NOT EXISTS {TABLE}_parent ON {TABLE}(parent_id) WHERE parent_id IS NOT NULL")
            self._sql(f"CREATE INDEX IF NOT EXISTS {TABLE}_pending ON {TABLE}(created) WHERE pending = 1")
            # Eviction works per owner (usage by GROUP BY owner, then an owner's oldest first); this covers both.
            self._sql(
                f"CREATE INDEX IF NOT EXISTS {TABLE}_owner_evict ON {TABLE}(owner, done_at, orig_bytes)"
                " WHERE orig_bytes > 0"
            )
            self._sql(f"DROP INDEX IF EXISTS {TABLE}_evict")  # the old global oldest-first order; unused now

    def is_empty(self) -> bool:
        """No rows at all: a new index, or one on local disk that a restart wiped (see ``rebuild_index``)."""
        return self._sql(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchone() is None

    def ids(self) -> list[str]:
        """Every indexed job id."""
        return [job_id for (job_id,) in self._sql(f"SELECT id FROM {TABLE} ORDER BY id").fetchall()]

    # --- one row ---------------------------------------------------------------------------------------

    def owner_and_bytes(self, job_id: str) -> tuple[str, int] | None:
        """The indexed owner and original bytes of a job, or None if it has no row."""
        row = self._sql(f"SELECT owner, orig_bytes FROM {TABLE} WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def upsert(self, record: JobRecord) -> None:
        """Insert or refresh the record's row."""
        self._sql(
            f"INSERT INTO {TABLE} (id, owner, created, parent_id, prompt, pending, done_at, orig_bytes)"
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
                int(record.is_unsettled),
                done_at(record),
                record.stored_bytes,
            ),
        )

    def delete(self, job_id: str) -> None:
        self._sql(f"DELETE FROM {TABLE} WHERE id = ?", (job_id,))

    # --- history -----------------------------------------------------------------------------------------

    def page(self, owner: str, after: tuple[float, str] | None, needle: str, n: int) -> list[tuple[str, float]]:
        """Up to ``n`` (id, created) of ``owner``, newest first, after the key ``after``, prompt containing
        ``needle`` (already casefolded; empty matches all)."""
        where, params = ["owner = ?"], [owner]
        if after is not None:
            where.append("(created, id) < (?, ?)")
            params += [after[0], after[1]]
        if needle:
            where.append("instr(prompt, ?) > 0")
            params.append(needle)
        sql = f"SELECT id, created FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY created DESC, id DESC LIMIT ?"
        return self._sql(sql, (*params, n)).fetchall()

    def count(self, owner: str, needle: str) -> int:
        """How many rows ``owner`` has whose prompt contains ``needle`` (casefolded; empty: all)."""
        if needle:
            row = self._sql(f"SELECT count(*) FROM {TABLE} WHERE owner = ? AND instr(prompt, ?) > 0", (owner, needle))
        else:
            row = self._sql(f"SELECT count(*) FROM {TABLE} WHERE owner = ?", (owner,))
        return int(row.fetchone()[0])

    def children(self, job_id: str) -> list[str]:
        """Ids of the button jobs made from ``job_id``, oldest first."""
        rows = self._sql(f"SELECT id FROM {TABLE} WHERE parent_id = ? ORDER BY created, id", (job_id,)).fetchall()
        return [child for (child,) in rows]

    def pending(self) -> list[str]:
        """Ids of every owner's unsettled jobs (``JobRecord.is_unsettled``), oldest first."""
        rows = self._sql(f"SELECT id FROM {TABLE} WHERE pending = 1 ORDER BY created, id").fetchall()
        return [job_id for (job_id,) in rows]

    # --- bytes of originals ------------------------------------------------------------------------------

    def total_bytes(self) -> int:
        """Every owner's original bytes, summed over the whole table (the running total's recount)."""
        return int(self._sql(f"SELECT coalesce(sum(orig_bytes), 0) FROM {TABLE}").fetchone()[0])

    def owner_bytes(self, owner: str) -> int:
        row = self._sql(
            f"SELECT coalesce(sum(orig_bytes), 0) FROM {TABLE} WHERE owner = ? AND orig_bytes > 0", (owner,)
        ).fetchone()
        return int(row[0])

    def bytes_by_owner(self) -> dict[str, int]:
        """Original bytes of each owner that has any."""
        rows = self._sql(f"SELECT owner, sum(orig_bytes) FROM {TABLE} WHERE orig_bytes > 0 GROUP BY owner").fetchall()
        return {owner: int(used) for owner, used in rows}

    def evictable(self, owner: str, cutoff: float) -> list[str]:
        """``owner``'s ids with originals, done at or before ``cutoff``; oldest completion first. (Jobs still
        polling or downloading are skipped by the eviction itself, inside its transaction.)"""
        rows = self._sql(
            f"SELECT id FROM {TABLE} WHERE owner = ? AND orig_bytes > 0 AND done_at <= ?"
            " ORDER BY done_at, created, id",
            (owner, cutoff),
        ).fetchall()
        return [job_id for (job_id,) in rows]
