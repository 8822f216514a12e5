"""The running total of stored original bytes: what the cache size limit is checked against.

Summing the index on every stored image would scan the whole table, so the total is kept as one cache
value (``meta:original-bytes``) moved in the same transaction as each index row. A missing or foreign
value is recounted from the index rather than trusted.
"""

from __future__ import annotations

from typing import Callable

import diskcache

from .errors import UnsafeCacheValue

__all__ = ["RunningTotal"]

TOTAL_KEY = "meta:original-bytes"


class RunningTotal:
    """Bytes of original image files, cached; ``recount`` sums the index when the cached value is unusable."""

    def __init__(self, cache: diskcache.Cache, recount: Callable[[], int]):
        self._cache = cache
        self._recount = recount

    def _read(self) -> int | None:
        try:
            total = self._cache.get(TOTAL_KEY, retry=True)
        except UnsafeCacheValue:
            return None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            return None
        return total

    def get(self) -> int:
        """The total, recounted (and stored again) if missing or not ours."""
        total = self._read()
        if total is None:
            with self._cache.transact(retry=True):
                total = self._recount()
                self._cache.set(TOTAL_KEY, total, retry=True)
        return total

    def recount(self) -> int:
        """Sum the index again and keep that (after a rebuild refilled it)."""
        with self._cache.transact(retry=True):
            total = self._recount()
            self._cache.set(TOTAL_KEY, total, retry=True)
        return total

    def adjust(self, delta: int) -> None:
        """Move the total by ``delta`` (inside the caller's transaction, after its index row changed)."""
        total = self._read()
        if total is None:
            total = self._recount()  # the index already reflects this change
        else:
            total += delta
        self._cache.set(TOTAL_KEY, max(0, total), retry=True)
