"""Where the store's SQLite index lives: beside the data, unless the data sits on storage SQLite can't trust.

The data folder (records as JSON files, images, the owner key) must be on storage that outlives the
app; on Hugging Face Spaces that is ``/data``, either the persistent-storage upgrade or a Storage Bucket
mounted as a volume. A bucket volume is a network filesystem (hf-mount: NFS or FUSE) with no file
locking, writes uploaded whole on close, and other views possibly stale for seconds. SQLite needs working
POSIX locks (sqlite.org/howtocorrupt.html, section 2.1: network filesystems "especially") and, in WAL mode
as diskcache runs it, a shared-memory index that "does not work over a network filesystem"
(sqlite.org/wal.html); diskcache inherits those caveats (its tutorial, "Caveats": not for NFS).

So when the data folder is under ``settings.PERSISTENT_ROOT`` (we cannot tell the disk from the bucket
from inside) or on a network/FUSE mount, the index goes to local disk and is rebuilt from the record files
whenever it is missing (``JobStore.rebuild_index``). Elsewhere it stays beside the data, as before.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping

from .... import settings as _settings

__all__ = ["LOCAL_INDEX_FOLDER", "index_dir_for", "filesystem_type", "is_network_filesystem", "needs_local_index"]

LOCAL_INDEX_FOLDER = "akool-studio-index"
MOUNTS_FILE = Path("/proc/mounts")
# Filesystem types (column 3 of /proc/mounts) whose locking or shared memory SQLite cannot rely on. Every
# "fuse.*" type counts too (sshfs, s3fs, gcsfuse, hf-mount...), except "fuseblk": a local disk (ntfs-3g).
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs", "fuse"}
)
# A data folder's index folder is named by a digest of its path: two data folders never share an index.
_DIGEST_CHARS = 16
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def is_network_filesystem(fstype: str) -> bool:
    return fstype in NETWORK_FILESYSTEMS or (fstype.startswith("fuse.") and fstype != "fuseblk")


def filesystem_type(path: Path, mounts_file: Path = MOUNTS_FILE) -> str | None:
    """The type of the filesystem holding ``path`` (its longest enclosing mount point), or None if unknown."""
    try:
        lines = mounts_file.read_text("utf-8", "replace").splitlines()
    except OSError:  # not Linux, or /proc not mounted: nothing to go on
        return None
    target = Path(os.path.realpath(path))
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        # /proc/mounts writes a space in a mount point as \040 (and tab, newline, backslash likewise)
        point = Path(_OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[1]))
        if (target == point or point in target.parents) and (best is None or len(point.parts) >= best[0]):
            best = (len(point.parts), fields[2])
    return None if best is None else best[1]


def needs_local_index(data_dir: Path, mounts_file: Path = MOUNTS_FILE) -> bool:
    """Whether SQLite must not live in ``data_dir``: it is under the persistent root or on a network mount."""
    target = Path(os.path.realpath(data_dir))
    root = Path(os.path.realpath(_settings.PERSISTENT_ROOT))
    if target == root or root in target.parents:
        return True
    fstype = filesystem_type(target, mounts_file)
    return fstype is not None and is_network_filesystem(fstype)


def _local_base(env: Mapping[str, str], mounts_file: Path) -> Path:
    """The per-user cache folder for indexes, or a fresh private temp folder when that is remote too."""
    try:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / LOCAL_INDEX_FOLDER
    except RuntimeError:  # no home directory to be found
        base = None
    if base is None or needs_local_index(base, mounts_file):
        # A new folder per start: nobody else can have planted it, and the rebuild fills it from the records.
        return Path(tempfile.mkdtemp(prefix=LOCAL_INDEX_FOLDER + "-"))
    return base


def index_dir_for(
    data_dir: str | os.PathLike[str], *, env: Mapping[str, str] | None = None, mounts_file: Path = MOUNTS_FILE
) -> Path:
    """The folder for the SQLite index of ``data_dir``: ``data_dir`` itself where SQLite is safe, else a
    folder on local disk (``$XDG_CACHE_HOME`` or ``~/.cache``, ``akool-studio-index/<digest of the path>``)."""
    data_dir = Path(data_dir).expanduser().absolute()
    if not needs_local_index(data_dir, mounts_file):
        return data_dir
    digest = hashlib.sha256(os.path.realpath(data_dir).encode("utf-8", "surrogateescape")).hexdigest()
    return _local_base(os.environ if env is None else env, mounts_file) / digest[:_DIGEST_CHARS]
