"""Writing a file so that a reader (or a crash) never sees it half written.

Result images, uploads, the owner-hashing key and the demo account are all read by other threads,
other processes or the next run of the app while they may be being written. ``write_atomic`` is the one
way this package writes such a file: a temp file in the same folder (so ``os.replace`` is a rename on
one file system), optionally fsynced, then swapped in whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

__all__ = ["write_atomic", "remove_stale_temp_files", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"
# A temp file this old is not being written any more: its writer crashed (or was killed) mid-write. Young
# ones are left alone: another process sharing the folder may be writing them right now.
STALE_TEMP_SECONDS = 600.0


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview,
    *,
    mode: int = 0o600,
    fsync: bool = True,
) -> Path:
    """Replace ``path`` with ``data``: readers see the old content or the new, never a part.

    The file gets exactly ``mode`` (the umask does not apply; 0600 by default, since most of what we
    write is private). ``fsync`` flushes the data to disk before the rename, so a power cut leaves the
    old file or the new one rather than an empty one; skip it only for files that are cheap to lose.
    On any failure the temp file is removed and the exception propagates; ``path`` is untouched.
    Returns ``path`` as a Path.
    """
    path = Path(path)
    # The writer's pid in the name lets a restart tell a crashed writer's leftovers from a live one's.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def remove_stale_temp_files(root: str | os.PathLike[str], *, older_than: float = STALE_TEMP_SECONDS,
                            now: float | None = None) -> int:
    """Delete what writes interrupted by a crash left under ``root``: ``write_atomic``'s temp files
    (``.<name>.<pid>.<random>.tmp``) whose writing process is gone, and any such file last changed more
    than ``older_than`` seconds ago. Returns how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if not _writer_alive(name) or now - os.lstat(path).st_mtime > older_than:
                    os.unlink(path)
                    removed += 1
    return removed


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temp file's name may still be writing it (True when unsure)."""
    parts = name.split(".")
    pid = next((int(p) for p in reversed(parts[:-2]) if p.isdigit()), None)
    if not pid:
        return True  # not ours to judge by pid: only by age
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. it exists but belongs to another user
        return True
    return True
