"""The local adapter: the storage ports on this machine's disk, safe across threads and processes that
share one data folder.

Public surface: ``LocalStorage`` (every port on one data folder, opened and closed together), and its
parts: ``JobStore`` (records: diskcache + a SQLite owner index + a JSON file per record), ``LocalBlobs``
(files), ``LocalDocuments`` (one JSON file per document, compare-and-set under a lock file),
``LocalLeases`` (named leases with expiry in a small SQLite file), ``LocalEvents`` (in-process
subscriptions), ``MemorySlots`` (poll turns counted in this process); ``MemoryDocuments`` /
``MemoryLeases`` (one process, nothing on disk: tests and volatile state).
"""

from .blobs import LocalBlobs
from .documents import LocalDocuments, check_name
from .events import LocalEvents
from .leases import LocalLeases
from .memory import MemoryDocuments, MemoryLeases
from .slots import MemorySlots
from .storage import LocalStorage
from .store import JobStore

__all__ = ["LocalStorage", "JobStore", "LocalBlobs", "LocalDocuments", "LocalLeases", "LocalEvents",
           "MemorySlots", "MemoryDocuments", "MemoryLeases", "check_name"]
