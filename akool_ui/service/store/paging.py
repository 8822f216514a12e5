"""History pages: an owner's readable records, newest first, in pages handed out as opaque cursors.

The index says which rows come next (``JobIndex.page``); the records themselves may be unreadable or,
in a damaged database, another owner's. Those are skipped here, so one bad row never shortens or breaks
a page.
"""

from __future__ import annotations

from ...jobs import JobRecord, Page
from .index import JobIndex, encode_cursor
from .owners import same_owner
from .records import RecordCache

__all__ = ["read_page"]


def read_page(
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
            if record is None or not same_owner(record.owner, owner):
                continue
            items.append(record)
            last_key = after
        if len(rows) < want:
            return Page(items, None)
