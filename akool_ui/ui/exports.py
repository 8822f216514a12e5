"""Downloads of original files for the browser: several results bundled into one zip, or one original with
its settings written in, as files in a private temp folder (Gradio hands a download out as a file)."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

__all__ = ["zip_files", "tagged_copy", "EXPORT_DIR_NAME", "EXPORT_MAX_AGE"]

EXPORT_DIR_NAME = "akool-studio-exports"
# A zip is built for the download button and fetched (copied by Gradio) within moments; an hour covers
# a slow click without letting a busy server fill its temp disk.
EXPORT_MAX_AGE = 3600.0
# Writing a zip copies every original (several MB each at 4K): a few at once, so a burst of "download all"
# cannot take every disk and worker thread; the others wait their turn.
ZIPS_AT_ONCE = 2
_zip_slots = threading.BoundedSemaphore(ZIPS_AT_ONCE)


def _export_root() -> Path:
    root = Path(tempfile.gettempdir()) / EXPORT_DIR_NAME
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _prune(root: Path, max_age: float) -> None:
    cutoff = time.time() - max_age
    for entry in root.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except OSError:
            continue


def zip_files(files: Iterable[tuple[Path, str]], name: str, *, max_age: float = EXPORT_MAX_AGE) -> Path:
    """Write ``files`` ((path, name in the archive) pairs) into ``<tmp>/<random>/<name>`` and return it.

    Images are already compressed, so entries are stored, not deflated. Missing files are skipped;
    raises FileNotFoundError if none exist.
    """
    root = _export_root()
    _prune(root, max_age)
    folder = root / secrets.token_hex(16)
    folder.mkdir(mode=0o700)
    dest = folder / Path(name).name
    written = 0
    with _zip_slots, zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as archive:
        for path, arcname in files:
            if Path(path).is_file():
                archive.write(path, arcname=Path(arcname).name)
                written += 1
    if not written:
        shutil.rmtree(folder, ignore_errors=True)
        raise FileNotFoundError("none of the files to zip exist")
    os.chmod(dest, 0o600)
    log.debug("zipped %d files into %s", written, dest.name)
    return dest


def tagged_copy(path: Path, settings: dict, name: str, *, max_age: float = EXPORT_MAX_AGE) -> Path:
    """A copy of the image at ``path`` named ``name``, with the job's ``settings`` written into its metadata
    (``image_meta.tag_image``; the stored original is never changed), in a private temp folder."""
    from ..service import tag_image

    root = _export_root()
    _prune(root, max_age)
    folder = root / secrets.token_hex(16)
    folder.mkdir(mode=0o700)
    dest = folder / Path(name).name
    dest.write_bytes(tag_image(Path(path).read_bytes(), settings))
    os.chmod(dest, 0o600)
    return dest
