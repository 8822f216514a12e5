"""The store's own exceptions, in one module so every collaborator raises the same classes.

::

    StoreError
     ├── RecordNotFound (also LookupError)     no readable record with that id
     ├── OwnerMismatch (also PermissionError)  a write would move a job to another owner
     └── UnsafeCacheValue                      a cache row that is not our JSON, refused unread
"""

from __future__ import annotations

__all__ = ["StoreError", "RecordNotFound", "OwnerMismatch", "UnsafeCacheValue"]


class StoreError(Exception):
    """Root of the store's own errors."""


class RecordNotFound(StoreError, LookupError):
    """No (readable) record with that id."""


class OwnerMismatch(StoreError, PermissionError):
    """A write would change which owner a job belongs to."""


class UnsafeCacheValue(StoreError):
    """A cache row that is not our JSON (pickled, binary, garbage) and was refused unread."""
