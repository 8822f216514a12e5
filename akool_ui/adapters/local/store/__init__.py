"""The job store, the local adapter of ``JobRecords``: records (JSON in diskcache) and an owner index for
history pages. (Their image files are blobs: ``service.results.storing`` over ``adapters.local.blobs``.)

Layout of ``cache_dir`` (mode 0700), the data folder::

    records/<id[:2]>/<id>.json           every JobRecord as a JSON file too          recordfiles.py

and of ``index_dir``, the same folder unless the data is on storage SQLite cannot trust (location.py)::

    cache.db, cache.db-wal ...           diskcache's SQLite database:
        key "job:<id>"                   a JobRecord as JSON (never pickle)            records.py
        key "meta:original-bytes"        running total of stored originals             totals.py
        key "lock:download:<id>"         DownloadLock tokens (with an expiry)           locks.py
        table akool_job_index            one row per record: owner, created, prompt,   index.py
                                         flags (for paging, resuming and eviction)

``JobStore`` (jobstore.py) is the facade; it composes those collaborators. Every change to a record, its
index row and its record file happens in one SQLite transaction (writer.py), so processes sharing the
directory never see one without the other. History pages come from paging.py, and "is this job theirs?"
from owners.py. The data folder alone is enough: an empty index
is refilled from ``records/`` when the store opens (rebuild.py), so a local index wiped with its
container loses nothing.
Records that fail to parse (foreign, corrupt, pickled, from a newer schema) are skipped with a warning;
they never crash a listing.
"""

from __future__ import annotations

from ....jobs import Page
from .errors import OwnerMismatch, RecordNotFound, StoreError, UnsafeCacheValue
from .jobstore import MAX_PAGE_SIZE, JobStore
from .locks import DOWNLOAD_LOCK_EXPIRE, DownloadLock
from .rebuild import Rebuilt
from .records import JsonOnlyDisk as _JsonOnlyDisk  # its name before the split; tests/test_store.py imports it

__all__ = [
    "JobStore",
    "DownloadLock",
    "Rebuilt",
    "Page",
    "StoreError",
    "RecordNotFound",
    "OwnerMismatch",
    "UnsafeCacheValue",
    "DOWNLOAD_LOCK_EXPIRE",
    "MAX_PAGE_SIZE",
]
