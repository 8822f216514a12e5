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
from pathlib import Path

__all__ = ["write_atomic"]


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
