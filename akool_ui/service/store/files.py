"""Result image files: the only place their paths are built, and where a downloaded result is written.

Layout under the cache directory::

    images/<id[:2]>/<id>/<n>.<ext>           original result n (ext jpg|png|webp, checked with Pillow)
    images/<id[:2]>/<id>/<n>.preview.webp    its web preview (long side <= 768 px)

Every path comes from a validated job id and index, or from a relative path that matches exactly that
shape, so nothing a record (or a stranger) says can point outside the folder. The Pillow work itself
(checking bytes, making previews) lives in ``service/images.py``; ``save_result_image`` only calls it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ...akool.models import validate_job_id
from ...fileio import write_atomic
from ...jobs import IMAGE_EXTENSIONS, MAX_IMAGES_PER_JOB, ImageEntry, ImageState, JobRecord
from .. import images

__all__ = ["ImageFiles", "SavedImage", "check_index", "remove_files", "save_result_image"]

_PATH_OK = re.compile(r"images/[0-9a-f]{2}/[0-9a-f]{24}/\d{1,2}\.(?:jpg|png|webp|preview\.webp)")


def check_index(index: int) -> int:
    """``index`` if it is a result index (an int in [0, MAX_IMAGES_PER_JOB)); ValueError otherwise."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_IMAGES_PER_JOB:
        raise ValueError(f"image index must be an int in [0, {MAX_IMAGES_PER_JOB})")
    return index


def remove_files(paths: Iterable[Path]) -> int:
    """Delete files, ignoring ones already gone or not removable; returns the bytes actually deleted."""
    deleted = 0
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        deleted += size
    return deleted


class ImageFiles:
    """The image files of one cache directory: paths in, paths out, nothing else can be named."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = cache_dir
        self.images_dir = cache_dir / "images"

    def job_dir(self, job_id: str) -> Path:
        """The folder of one job's files (``job_id`` already validated)."""
        return self.images_dir / job_id[:2] / job_id

    def image_path(self, job_id: str, index: int, ext: str) -> Path:
        """Where original ``index`` of a job lives (``ext``: jpg, png or webp). Nothing else can be named."""
        job_id = validate_job_id(job_id)
        index = check_index(index)
        ext = str(ext).lower().lstrip(".")
        ext = "jpg" if ext == "jpeg" else ext
        if ext not in IMAGE_EXTENSIONS:
            raise ValueError(f"image extension must be one of {IMAGE_EXTENSIONS}")
        return self.job_dir(job_id) / f"{index}.{ext}"

    def preview_path(self, job_id: str, index: int) -> Path:
        job_id = validate_job_id(job_id)
        return self.job_dir(job_id) / f"{check_index(index)}.preview.webp"

    def local_path(self, relative: str) -> Path:
        """The absolute path of an ``ImageEntry.original`` / ``.preview`` (ValueError for anything else)."""
        if not isinstance(relative, str) or not _PATH_OK.fullmatch(relative):
            raise ValueError("not a path of a stored image")
        return self.cache_dir / relative

    def relative(self, path: Path) -> str:
        """The form kept in an ``ImageEntry`` (what ``local_path`` turns back into ``path``)."""
        return path.relative_to(self.cache_dir).as_posix()

    def display_paths(self, record: JobRecord) -> list[Path]:
        """Existing local files to show for a record, in result order: previews, else originals."""
        paths = []
        for entry in record.images:
            if entry.display_path:
                path = self.local_path(entry.display_path)
                if path.is_file():
                    paths.append(path)
        return paths

    def remove_job(self, job_id: str) -> None:
        """Delete every file of a job (``job_id`` already validated); missing is fine."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


@dataclass(frozen=True)
class SavedImage:
    """What ``save_result_image`` wrote, for the record's entry."""

    original: Path
    preview: Path
    width: int
    height: int
    nbytes: int
    written: tuple[Path, ...]
    """Files this call created or replaced: removed again if the record vanished meanwhile."""


def save_result_image(
    files: ImageFiles, job_id: str, index: int, data: bytes, previous: ImageEntry | None
) -> SavedImage:
    """Check ``data`` is a whole PNG/JPEG/WebP image and write it as original ``index``, with a preview.

    ``previous`` is the record's current entry for that index: its preview is reused when it shows the
    same image (a re-download after eviction), since making one is the slow part. Raises
    ImageValidationError before writing anything.
    """
    prepared = images.prepare_original(data)
    dest = files.image_path(job_id, index, prepared.ext)
    preview = files.preview_path(job_id, index)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = [dest]
    write_atomic(dest, prepared.data)
    reuse_preview = (
        previous is not None
        and previous.preview is not None
        and (previous.width, previous.height) == (prepared.width, prepared.height)
        and previous.state in (ImageState.STORED, ImageState.EVICTED)
        and preview.is_file()
    )
    if not reuse_preview:
        write_atomic(preview, images.make_preview(prepared.image))
        written.append(preview)
    return SavedImage(dest, preview, prepared.width, prepared.height, len(prepared.data), tuple(written))
