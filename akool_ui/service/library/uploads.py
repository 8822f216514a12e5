"""Image-to-image sources: validated uploads kept as blobs and served at unguessable URLs.

Akool only takes a source image as a URL it can fetch. So an uploaded file is validated and
normalised (``images.validate_upload``), kept as the blob ``uploads/<token>.<ext>`` with a random
256-bit token (``Blobs``; the local adapter keeps it in the data folder), and the app serves it at ``<base>/uploads/<token>.<ext>``, where ``<base>`` is the
public URL (``AKOOL_PUBLIC_URL`` or ``https://$SPACE_HOST``) in Akool mode, or the app's own local
URL in demo mode (the in-process simulator fetches from 127.0.0.1). Nothing here knows about Gradio.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

from ...errors import StudioError
from ..ports import Blobs

log = logging.getLogger(__name__)

__all__ = [
    "Upload",
    "UploadStore",
    "NoPublicUrl",
    "UPLOAD_ROUTE",
    "MAX_UPLOAD_AGE",
]

UPLOAD_ROUTE = "/uploads"
# Akool fetches the source when the job starts, but "reuse settings" from history wants it back later;
# a month keeps recent history reusable without letting uploads pile up forever.
MAX_UPLOAD_AGE = 30 * 24 * 3600.0
_TOKEN_BYTES = 32  # 256 bits: not enumerable, so an upload URL is as private as whoever holds it
_PREFIX = "uploads/"
_NAME = re.compile(r"(?P<token>[A-Za-z0-9_-]{43})\.(?P<ext>png|jpg|webp)")
_MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_FORMAT_EXT = {"PNG": "png", "JPEG": "jpg", "JPG": "jpg", "WEBP": "webp"}


class NoPublicUrl(StudioError):
    """An upload cannot be used as a source: Akool could not reach this app to fetch it."""

    # For visitors: the fix (AKOOL_PUBLIC_URL) is the operator's, and is in the log at start.
    user_message = (
        "Uploaded source images cannot be used on this app yet (Akool could not fetch them from here): "
        "paste a public image URL as the source instead."
    )

    def __init__(self) -> None:
        super().__init__(self.user_message)


@dataclass(frozen=True)
class Upload:
    """One stored source image."""

    token: str
    key: str
    """Its blob's key, ``uploads/<token>.<ext>``."""
    media_type: str
    path: Path | None = None
    """A file on this machine holding it, when the blobs are local (the app serves it from there)."""
    size: int = 0

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{UPLOAD_ROUTE}/{self.name}"


def _default_validator(data: bytes) -> tuple[bytes, str]:
    from ..results import images  # local import: Pillow loads only when someone uploads

    return _coerce_validated(images.validate_upload(data))


def _coerce_validated(result: object) -> tuple[bytes, str]:
    """Accept what ``images.validate_upload`` returns: (bytes, format) or an object with data/format."""
    if isinstance(result, tuple) and len(result) == 2:
        data, fmt = result
    else:
        data = getattr(result, "data", None)
        fmt = getattr(result, "format", None)
    if not isinstance(data, (bytes, bytearray)) or not isinstance(fmt, str):
        raise TypeError(f"validate_upload returned {type(result).__name__}, expected bytes and a format")
    ext = _FORMAT_EXT.get(fmt.upper().lstrip("."))
    if ext is None:
        raise TypeError(f"validate_upload returned unsupported format {fmt!r}")
    return bytes(data), ext


class UploadStore:
    """Source images as blobs, each under a random token; resolvable only by that token."""

    def __init__(
        self,
        blobs: Blobs,
        *,
        public_url: str | None = None,
        local_url: str | None = None,
        demo: bool = False,
        validator: Callable[[bytes], object] | None = None,
        max_bytes: int = 20 * 2**20,  # images.MAX_UPLOAD_BYTES; checked here before reading the file
    ) -> None:
        self.blobs = blobs
        self.public_url = public_url.rstrip("/") if public_url else None
        self.local_url = local_url.rstrip("/") if local_url else None
        self.demo = demo
        self._validator = validator
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"UploadStore({self.blobs!r}, demo={self.demo})"

    # -- adding -------------------------------------------------------------------------------------
    def add_bytes(self, data: bytes) -> Upload:
        """Validate, normalise and store an uploaded image.

        Raises:
            images.ImageValidationError: not an acceptable image (with a user_message).
        """
        if self._validator is None:
            normalised, ext = _default_validator(data)
        else:
            normalised, ext = _coerce_validated(self._validator(data))
        return self._write(normalised, ext)

    def add_file(self, path: str | os.PathLike[str]) -> Upload:
        """Validate and store the image at ``path`` (e.g. the file Gradio received from the browser)."""
        path = Path(path)
        size = path.stat().st_size
        if size > self.max_bytes:  # refuse before reading it all into memory
            from ..results.images import ImageValidationError

            raise ImageValidationError(
                f"The image is too large ({size / 2**20:.1f} MB); the limit is {self.max_bytes // 2**20} MB."
            )
        return self.add_bytes(path.read_bytes())

    def _write(self, data: bytes, ext: str) -> Upload:
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        key = f"{_PREFIX}{token}.{ext}"
        self.blobs.put(key, data)
        log.info("stored upload %s… (%d bytes)", token[:6], len(data))
        return Upload(token, key, _MEDIA_TYPES[ext], self.blobs.local_path(key), len(data))

    # -- resolving ----------------------------------------------------------------------------------
    def resolve(self, name: str) -> Upload | None:
        """The upload called ``<token>.<ext>``, or None. Anything not shaped like ours never touches disk."""
        match = _NAME.fullmatch(name or "")
        if not match:
            return None
        key = _PREFIX + name
        if not self.blobs.exists(key):
            return None
        return Upload(match["token"], key, _MEDIA_TYPES[match["ext"]], self.blobs.local_path(key),
                      self.blobs.size(key) or 0)

    def resolve_url(self, url: str | None) -> Upload | None:
        """If ``url`` points at one of our uploads (any host: the local port changes between runs), find it."""
        if not url:
            return None
        try:
            path = urlsplit(url).path
        except ValueError:
            return None
        prefix = UPLOAD_ROUTE + "/"
        idx = path.rfind(prefix)
        if idx < 0:
            return None
        return self.resolve(path[idx + len(prefix):])

    # -- URLs ---------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str | None:
        """Where Akool (or the demo simulator) can fetch uploads from, if anywhere."""
        if self.demo:
            return self.local_url or self.public_url
        return self.public_url

    @property
    def can_serve(self) -> bool:
        return self.base_url is not None

    def is_own_url(self, url: str) -> bool:
        """Exactly one of our upload links at today's base URL (what the demo simulator may fetch locally)."""
        base = self.base_url
        if not base or not isinstance(url, str) or not url.startswith(base + UPLOAD_ROUTE + "/"):
            return False
        return self.resolve(url[len(base) + len(UPLOAD_ROUTE) + 1:]) is not None

    def url_for(self, upload: Upload) -> str:
        """The URL to send to Akool for this upload.

        Raises:
            NoPublicUrl: Akool mode without a public URL for this app.
        """
        base = self.base_url
        if base is None:
            raise NoPublicUrl()
        return upload.url(base)

    # -- housekeeping -------------------------------------------------------------------------------
    def prune(self, max_age: float = MAX_UPLOAD_AGE, *, now: float | None = None) -> int:
        """Delete uploads older than ``max_age`` seconds; return how many."""
        cutoff = (time.time() if now is None else now) - max_age
        old = [blob for blob in self.blobs.list(_PREFIX) if blob.modified < cutoff]
        for blob in old:
            self.blobs.delete(blob.key)
        if old:
            log.info("pruned %d old uploads", len(old))
        return len(old)

    def total_bytes(self) -> int:
        """Bytes of every stored upload (what the total upload budget counts)."""
        return sum(blob.size for blob in self.blobs.list(_PREFIX))

    def prune_over(self, max_bytes: int, *, keep: Iterable[Upload] = ()) -> int:
        """Delete the oldest uploads until all of them fit in ``max_bytes`` (never those in ``keep``, e.g.
        the one just stored); return how many were deleted. A visitor cannot fill the disk with uploads:
        the folder stays under its budget, and what goes first is what is least likely still needed."""
        blobs = self.blobs.list(_PREFIX)
        total = sum(blob.size for blob in blobs)
        kept = {upload.key for upload in keep}
        removed = 0
        for blob in blobs:
            if total <= max_bytes:
                break
            if blob.key in kept:
                continue
            self.blobs.delete(blob.key)
            total -= blob.size
            removed += 1
        if removed:
            log.info("pruned %d uploads to stay within the uploads budget", removed)
        return removed
