"""Rendered result files: a byte-budgeted memory cache, backed by ``<state_dir>/files`` when given."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["FileCache", "write_atomic", "MEMORY_CACHE_BYTES"]

# A 4K JPEG is 0.2-0.4 MB; 256 MB keeps the results of hundreds of test jobs without re-rendering.
MEMORY_CACHE_BYTES = 256 * 1024 * 1024


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class FileCache:
    """Bytes by file name: most recently used in memory, everything on disk if a directory is set."""

    def __init__(self, directory: Path | None = None, budget: int = MEMORY_CACHE_BYTES):
        self._dir = directory
        self._budget = budget
        self._size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def get(self, name: str) -> bytes | None:
        with self._lock:
            data = self._items.get(name)
            if data is not None:
                self._items.move_to_end(name)
                return data
        if self._dir is not None:
            try:
                data = (self._dir / name).read_bytes()
            except OSError:
                return None
            self._remember(name, data)
            return data
        return None

    def put(self, name: str, data: bytes) -> None:
        if self._dir is not None:
            write_atomic(self._dir / name, data)
        self._remember(name, data)

    def _remember(self, name: str, data: bytes) -> None:
        with self._lock:
            old = self._items.pop(name, None)
            if old is not None:
                self._size -= len(old)
            self._items[name] = data
            self._size += len(data)
            while self._size > self._budget and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)
