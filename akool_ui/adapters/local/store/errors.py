"""The store's exceptions: the ports' own (so the service catches the same classes whatever adapter is
behind them), plus one of this adapter's.

::

    StorageError (service.ports)
     ├── RecordNotFound (also LookupError)     no readable record with that id
     ├── OwnerMismatch (also PermissionError)  a write would move a job to another owner
     └── UnsafeCacheValue                      a cache row that is not our JSON, refused unread
"""

from __future__ import annotations

from ....service.ports import OwnerMismatch, RecordNotFound, StorageError

__all__ = ["StoreError", "RecordNotFound", "OwnerMismatch", "UnsafeCacheValue"]

StoreError = StorageError


class UnsafeCacheValue(StorageError):
    """A cache row that is not our JSON (pickled, binary, garbage) and was refused unread."""
