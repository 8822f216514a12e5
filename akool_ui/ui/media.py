"""Stored images handed to Gradio under per-owner, unguessable, revocable paths.

The store (``<cache>/images``, ``<cache>/uploads``) is never in Gradio's ``allowed_paths``: Gradio's
``/gradio_api/file=`` route serves any file under an allowed path to anyone who can spell it, and job ids
are not secrets (an ObjectId is a timestamp plus a counter). Instead, each image a page (or an API caller)
may see is linked into Gradio's own upload/cache folder, which that route serves, at

    <gradio cache>/akool-media/<HMAC(key, owner, job id)>/<name>

The directory name is a keyed hash: only the server can compute it, so only the owner it was computed for
ever learns it; deleting the job removes the directory (``revoke``), and Gradio's ``delete_cache`` ages
the links out like any file it handed out. A link is a hard link where the filesystem allows (no copy of
a 4K original per view), else a copy.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..service import Studio


log = logging.getLogger(__name__)

__all__ = ["MediaLinks", "MEDIA_DIR_NAME", "RELINK_AFTER_SECONDS"]

MEDIA_DIR_NAME = "akool-media"
# Gradio's delete_cache ages files by ctime (layout.DELETE_CACHE: 6 h). A link older than this is made
# again before it is handed out, so a page never receives a path that is about to be deleted under it.
RELINK_AFTER_SECONDS = 3600.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class MediaLinks:
    """Publishes store files into Gradio's cache folder for one owner at a time (thread-safe)."""

    def __init__(self, key: bytes, gradio_cache: str | os.PathLike[str]):
        self._key = bytes(key)
        self.root = Path(os.path.realpath(gradio_cache)) / MEDIA_DIR_NAME

    @classmethod
    def for_studio(cls, studio: "Studio", gradio_cache: str | os.PathLike[str] | None = None) -> "MediaLinks":
        """Links keyed by the studio's media key (stable across restarts), in Gradio's upload folder."""
        from gradio.utils import get_upload_folder

        return cls(studio.derived_key("media-links"), gradio_cache or get_upload_folder())

    def __repr__(self) -> str:
        return f"MediaLinks(root={str(self.root)!r})"

    def folder(self, owner: str, job_id: str) -> Path:
        """Where ``owner``'s links for ``job_id`` live (a keyed hash: not derivable without the key)."""
        digest = hmac.new(self._key, f"{owner}\0{job_id}".encode(), hashlib.sha256).hexdigest()
        return self.root / digest

    def publish(self, source: str | os.PathLike[str], *, owner: str, job_id: str, name: str | None = None) -> str | None:
        """A path Gradio may serve for ``source`` (None when the file is gone).

        ``name`` is what the browser sees (and downloads as); by default ``<job id>-<file name>``."""
        source = Path(source)
        if not source.is_file():
            return None
        folder = self.folder(owner, job_id)
        dest = folder / _SAFE_NAME.sub("_", name or f"{job_id}-{source.name}")
        try:
            if _fresh(dest, source):
                return str(dest)
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = folder / f".{secrets.token_hex(8)}.tmp"
            try:
                os.link(source, tmp)
            except OSError:  # another filesystem (or no hard links): copy instead
                shutil.copyfile(source, tmp)
            os.replace(tmp, dest)  # atomic: a concurrent reader sees the old link or the new one
        except FileNotFoundError:  # the source was deleted (or evicted) meanwhile
            return None
        return str(dest)

    def revoke(self, owner: str, job_id: str) -> None:
        """Remove every link of ``owner``'s ``job_id``: its old paths stop working at once."""
        shutil.rmtree(self.folder(owner, job_id), ignore_errors=True)

    def prune(self, max_age: float, *, now: float | None = None) -> int:
        """Delete links older than ``max_age`` seconds left by an earlier process (which may have crashed
        before Gradio's own clean-up ran); returns how many."""
        cutoff = (time.time() if now is None else now) - max_age
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            for entry in folder.iterdir() if folder.is_dir() else ():
                try:
                    if entry.lstat().st_ctime < cutoff:
                        entry.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                pass
        return removed


def _fresh(dest: Path, source: Path) -> bool:
    """The link exists, still shows the source's current content, and is young enough to hand out."""
    try:
        linked, original = dest.stat(), source.stat()
    except FileNotFoundError:
        return False
    same = (linked.st_ino == original.st_ino and linked.st_dev == original.st_dev) or (
        linked.st_size == original.st_size and linked.st_mtime >= original.st_mtime
    )
    return same and time.time() - linked.st_ctime < RELINK_AFTER_SECONDS
