"""History pages: an owner's readable records, newest first, in pages handed out as opaque cursors.

The index says which rows come next (``JobIndex.page``); the records themselves may be unreadable or,
in a damaged database, another owner's. Those are skipped here, so one bad row never shortens or breaks
a page.

The index query and the record reads are not one snapshot: a row can be removed between them (an intent
swapped for the jobs Akool made for it, a delete), and the record that replaces it sits at another place in
the order, which this read has passed. Such a page is read again from its start, so a listing never loses
a job that merely changed its shape while it was being read.
"""

from __future__ import annotations

from ....jobs import JobRecord, Page
from .index import JobIndex, encode_cursor
from .owners import same_owner
from .records import RecordCache

__all__ = ["read_page", "REREADS"]

# How many times a page that moved while it was read is read again; each swap is one short transaction,
# so a second read almost always holds still. The last read is returned as it is.
REREADS = 3


def read_page(
    index: JobIndex, records: RecordCache, owner: str, after: tuple[float, str] | None, needle: str, limit: int
) -> Page[JobRecord]:
    """Up to ``limit`` of ``owner``'s readable records after the key ``after``, and the next page's cursor.

    Rows whose record is unreadable (or not the owner's) are skipped, so a page may take more than one
    query; asking for one row more than needed tells whether another page exists."""
    for _ in range(REREADS):
        page, moved = _read_once(index, records, owner, after, needle, limit)
        if not moved:
            return page
    return _read_once(index, records, owner, after, needle, limit)[0]


def _read_once(
    index: JobIndex, records: RecordCache, owner: str, after: tuple[float, str] | None, needle: str, limit: int
) -> tuple[Page[JobRecord], bool]:
    """One read of the page, and whether a row vanished from the index while it was being read."""
    moved = False
    items: list[JobRecord] = []
    last_key: tuple[float, str] | None = None
    while True:
        want = limit - len(items) + 1
        rows = index.page(owner, after, needle, want)
        for job_id, created in rows:
            if len(items) == limit:
                assert last_key is not None
                return Page(items, encode_cursor(*last_key)), moved
            after = (created, job_id)
            record = records.load(job_id)
            if record is None:
                moved = moved or index.owner_and_bytes(job_id) is None  # gone, not merely unreadable
                continue
            if not same_owner(record.owner, owner):
                continue
            items.append(record)
            last_key = after
        if len(rows) < want:
            return Page(items, None), moved
