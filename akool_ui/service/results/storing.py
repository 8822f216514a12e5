"""ResultFiles: a downloaded result kept for good — checked, previewed, written as blobs, pointed at by
its record, and the size limits applied.

Keys (the only place they are built; every one comes from a validated job id and index, or is a string
of exactly that shape, so nothing a record or a stranger says can name another blob)::

    images/<id[:2]>/<id>/<n>.<ext>           original result n (ext jpg|png|webp, checked with Pillow)
    images/<id[:2]>/<id>/<n>.preview.webp    its web preview (long side <= 768 px)

The blobs are written first (outside any record update: previews are slow), then the record's entry is
pointed at them in one short update; if the job was deleted meanwhile, what was just written goes again,
so nothing is left behind without a record. After each stored image the fair eviction runs
(``eviction``): one owner's burst never evicts another owner's results.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...akool.models import validate_job_id
from ...jobs import IMAGE_EXTENSIONS, MAX_IMAGES_PER_JOB, ImageEntry, ImageState, JobRecord
from ..ports import Blobs, JobRecords, RecordNotFound
from . import images
from .eviction import FairEviction

__all__ = ["ResultFiles", "SizeLimits", "check_index", "image_key", "preview_key", "is_image_key",
           "DEFAULT_LIMIT_BYTES", "DEFAULT_MIN_AGE_SECONDS"]

DEFAULT_LIMIT_BYTES = 5 * 2**30
# A finished result must survive long enough for its owner to see it and save it: no eviction (by the
# global limit or the owner's own quota) touches a job that completed less than an hour ago.
DEFAULT_MIN_AGE_SECONDS = 3600.0
# A failed download's reason is one sentence for the page; a server's whole HTML error body is not kept.
_MAX_ERROR_CHARS = 500
_KEY_OK = re.compile(r"images/[0-9a-f]{2}/[0-9a-f]{24}/\d{1,2}\.(?:jpg|png|webp|preview\.webp)")


def check_index(index: int) -> int:
    """``index`` if it is a result index (an int in [0, MAX_IMAGES_PER_JOB)); ValueError otherwise."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_IMAGES_PER_JOB:
        raise ValueError(f"image index must be an int in [0, {MAX_IMAGES_PER_JOB})")
    return index


def job_prefix(job_id: str) -> str:
    job_id = validate_job_id(job_id)
    return f"images/{job_id[:2]}/{job_id}/"


def image_key(job_id: str, index: int, ext: str) -> str:
    """The key of original ``index`` of a job (``ext``: jpg, png or webp). Nothing else can be named."""
    ext = str(ext).lower().lstrip(".")
    ext = "jpg" if ext == "jpeg" else ext
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"image extension must be one of {IMAGE_EXTENSIONS}")
    return f"{job_prefix(job_id)}{check_index(index)}.{ext}"


def preview_key(job_id: str, index: int) -> str:
    return f"{job_prefix(job_id)}{check_index(index)}.preview.webp"


def is_image_key(key: object) -> bool:
    """Whether ``key`` is exactly the shape of a stored image's key (what an ``ImageEntry`` holds)."""
    return isinstance(key, str) and bool(_KEY_OK.fullmatch(key))


@dataclass(frozen=True)
class SizeLimits:
    """How much original image data may be kept (previews and records always stay)."""

    limit_bytes: int = DEFAULT_LIMIT_BYTES
    owner_limit_bytes: int | None = None
    """One owner's quota of originals (None: the same as ``limit_bytes``)."""
    min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS
    """Jobs finished more recently than this are never evicted."""

    @property
    def owner_quota_bytes(self) -> int:
        return self.limit_bytes if self.owner_limit_bytes is None else self.owner_limit_bytes

    @classmethod
    def from_settings(cls, settings) -> "SizeLimits":
        return cls(
            limit_bytes=int(settings.cache_limit_gb * 2**30),
            owner_limit_bytes=int(settings.owner_cache_limit_gb * 2**30),
            min_age_seconds=settings.cache_min_age_hours * 3600.0,
        )


class ResultFiles:
    """The image blobs of the jobs in ``records`` (thread-safe: records and blobs are)."""

    def __init__(self, records: JobRecords, blobs: Blobs, limits: SizeLimits | None = None, *,
                 clock: Callable[[], float] = time.time):
        self.records = records
        self.blobs = blobs
        self.limits = limits or SizeLimits()
        self._eviction = FairEviction(records, blobs, clock=clock)

    def __repr__(self) -> str:
        return f"ResultFiles({self.blobs!r}, {self.limits!r})"

    # --- storing -------------------------------------------------------------------------------------

    def store_original(self, job_id: str, index: int, data: bytes, *, remote_url: str | None = None) -> ImageEntry:
        """Check ``data`` is a whole PNG/JPEG/WebP image, keep it as original ``index`` with a web preview,
        mark the record's entry STORED and apply the owner's quota and the size limit. Returns the entry.

        Raises ImageValidationError for bad bytes (nothing written), RecordNotFound if the job has no record.
        """
        job_id = validate_job_id(job_id)
        index = check_index(index)
        record = self.records.get(job_id)
        if record is None:
            raise RecordNotFound(f"no job record {job_id}")
        previous = next((e for e in record.images if e.index == index), None)
        prepared = images.prepare_original(data)
        original, preview = image_key(job_id, index, prepared.ext), preview_key(job_id, index)
        self.blobs.put(original, prepared.data)
        written = [original]
        if not self._can_reuse_preview(previous, prepared, preview):  # making a preview is the slow part
            self.blobs.put(preview, images.make_preview(prepared.image))
            written.append(preview)
        stale: list[str] = []

        def point_at_saved(rec: JobRecord) -> None:
            entry = rec.image(index)
            if entry.original and entry.original != original:
                stale.append(entry.original)  # the same index in another format
            entry.state = ImageState.STORED
            entry.original, entry.preview = original, preview
            entry.width, entry.height = prepared.width, prepared.height
            entry.nbytes = len(prepared.data)
            entry.error = None
            entry.attempts += 1
            if remote_url:
                entry.remote_url = remote_url

        try:
            record = self.records.update(job_id, point_at_saved)
        except RecordNotFound:  # deleted while we were writing: leave nothing behind
            for key in written:
                self.blobs.delete(key)
            raise
        for key in stale:
            self.blobs.delete(key)
        self.enforce_limit(keep=(job_id,), owner=record.owner)
        return _entry_at(record, index)

    def _can_reuse_preview(self, previous: ImageEntry | None, prepared: images.PreparedOriginal, preview: str) -> bool:
        """A re-download (after eviction) of the same image keeps its preview."""
        return (
            previous is not None
            and previous.preview is not None
            and (previous.width, previous.height) == (prepared.width, prepared.height)
            and previous.state in (ImageState.STORED, ImageState.EVICTED)
            and self.blobs.exists(preview)
        )

    def mark_image_failed(
        self, job_id: str, index: int, error: str, *, expired: bool = False, remote_url: str | None = None
    ) -> ImageEntry:
        """Record a failed download of result ``index`` (EXPIRED when Akool no longer serves it)."""
        index = check_index(index)

        def failed(rec: JobRecord) -> None:
            entry = rec.image(index)
            if entry.is_stored:
                return  # another process stored it meanwhile; the failure is moot
            entry.state = ImageState.EXPIRED if expired else ImageState.ERROR
            entry.error = str(error)[:_MAX_ERROR_CHARS]
            entry.attempts += 1
            if remote_url:
                entry.remote_url = remote_url

        return _entry_at(self.records.update(job_id, failed), index)

    def remove_job(self, job_id: str) -> int:
        """Delete every image of a job (its record is the caller's); the bytes freed."""
        return self.blobs.delete_prefix(job_prefix(job_id))

    # --- reading -------------------------------------------------------------------------------------

    def local_path(self, key: str) -> Path:
        """A file on this machine holding the stored image ``key`` (``ImageEntry.original``/``.preview``);
        ValueError for anything that is not such a key."""
        if not is_image_key(key):
            raise ValueError("not a key of a stored image")
        path = self.blobs.local_path(key)
        if path is None:
            path = getattr(self.blobs, "path", lambda k: None)(key)
        if path is None:
            raise ValueError("that image has no local file")
        return path

    def display_paths(self, record: JobRecord) -> list[Path]:
        """Existing local files to show for a record, in result order: previews, else originals."""
        paths = []
        for entry in record.images:
            if entry.display_path and is_image_key(entry.display_path):
                path = self.blobs.local_path(entry.display_path)
                if path is not None:
                    paths.append(path)
        return paths

    # --- size limits -----------------------------------------------------------------------------------

    def original_bytes(self) -> int:
        """Bytes of stored originals, as the records count them (what ``limit_bytes`` bounds)."""
        return self.records.original_bytes()

    def enforce_limit(self, *, keep=(), owner: str | None = None) -> int:
        """Free space fairly (see ``eviction``); returns bytes of original files deleted.

        With ``owner``, first trim that owner's own oldest originals to their quota. Then, over
        ``limit_bytes``, evict only from owners above their fair share (limit / owners with originals),
        heaviest first, each one's oldest first. Never evicted: jobs finished less than
        ``min_age_seconds`` ago, jobs still polling or downloading, ids in ``keep``. Records and previews
        stay (entries become EVICTED with their remote URL kept)."""
        lim = self.limits
        return self._eviction.enforce(limit=lim.limit_bytes, quota=lim.owner_quota_bytes, min_age=lim.min_age_seconds,
                                      keep=frozenset(keep), owner=owner)


def _entry_at(record: JobRecord, index: int) -> ImageEntry:
    """The record's entry for result ``index`` (it exists: the caller just wrote it)."""
    return next(e for e in record.images if e.index == index)
