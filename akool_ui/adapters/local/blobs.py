"""LocalBlobs: the ``Blobs`` port on a folder of this machine's disk (result images, source uploads).

A key is a relative path of plain segments (``images/ab/<id>/0.png``, ``uploads/<token>.png``) and the
blob is the file at that path under the root: nothing a key says can reach outside it. Files are written
whole (``write_atomic``: a reader sees the old file or the new, never a part), mode 0600 in 0700 folders.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO

from ...fileio import write_atomic
from ...service.ports import BlobInfo, BlobNotFound

__all__ = ["LocalBlobs"]

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_MAX_SEGMENTS = 8


def _segments(key: str) -> list[str]:
    """The key's path segments, or ValueError for anything that is not a plain relative path."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key:
        raise ValueError("a blob key is a relative path")
    parts = key.rstrip("/").split("/")
    if len(parts) > _MAX_SEGMENTS or not all(_SEGMENT.fullmatch(p) and ".." not in p for p in parts):
        raise ValueError("a blob key is made of plain names separated by '/'")
    return parts


class LocalBlobs:
    """Blobs as files under ``root`` (thread- and process-safe: every write is a rename)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalBlobs({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """Where the blob ``key`` lives (it may not exist)."""
        return self.root.joinpath(*_segments(key))

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, data)

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {key!r}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except OSError:
            return None

    def delete(self, key: str) -> int:
        path = self.path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            return 0
        return size

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path(prefix)
        if not folder.is_dir():
            return self.delete(prefix) if folder.is_file() else 0
        freed = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return freed

    def list(self, prefix: str) -> list[BlobInfo]:
        folder = self.path(prefix)
        found = []
        try:
            entries = list(folder.iterdir())
        except OSError:
            return []
        base = prefix.rstrip("/") + "/"
        for entry in entries:
            if entry.name.startswith(".") or not _SEGMENT.fullmatch(entry.name):
                continue  # a write in progress (write_atomic's temp file), or not ours
            try:
                if entry.is_file():
                    stat = entry.stat()
                    found.append(BlobInfo(base + entry.name, stat.st_size, stat.st_mtime))
            except FileNotFoundError:
                continue
        return sorted(found, key=lambda b: (b.modified, b.key))

    def url(self, key: str) -> str | None:
        return None  # served by the app itself

    def local_path(self, key: str) -> Path | None:
        path = self.path(key)
        return path if path.is_file() else None
