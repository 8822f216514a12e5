"""What a share link shows: one job's stored image(s) and a few words about it, nothing more.

``shared_view`` builds it from the record alone. It never carries the job's id, its owner, its source image
(a source may be a private upload), its parent's id or images, or any other job: the lineage is said in
words ("a 4K upscale (U2) of an earlier image"), so a link cannot be walked to anything else the owner
made. The prompt and negative prompt are there only when the owner chose to include them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...akool import fields as request_fields
from ...errors import StudioError
from ...jobs import JobRecord
from ...jobs.states import ImageState
from .shares import Share

__all__ = ["SharedImage", "SharedResult", "ShareNotFound", "ShareGone", "shared_view", "lineage_of"]

# The image states whose preview is on disk (an evicted original keeps its preview).
_SHOWN = (ImageState.STORED, ImageState.EVICTED)


class ShareNotFound(StudioError):
    """No share behind this id: never made, revoked, or mistyped (indistinguishable on purpose)."""

    user_message = "There is no shared image at this link: it was revoked by its owner, or the link is mistyped."


class ShareGone(StudioError):
    """The link exists but what it showed was deleted by its owner (or its images are no longer stored)."""

    user_message = "The image shared at this link has been deleted by its owner."


@dataclass(frozen=True)
class SharedImage:
    number: int
    """Its position on the share page, from 1 (what its URL names)."""
    preview: Path
    """The web preview (WebP) on this machine."""
    original: Path | None
    """The full-size file, if still stored."""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class SharedResult:
    """A share link's read-only view."""

    share_id: str
    images: tuple[SharedImage, ...]
    lineage: str
    """One line on where it came from, in words (no ids)."""
    options: tuple[tuple[str, str], ...]
    """(label, value): aspect ratio, resolution, model."""
    prompt: str | None = None
    """Only when the owner included it."""
    negative_prompt: str | None = None
    created_at: float = 0.0

    def image(self, number: int) -> SharedImage | None:
        return next((i for i in self.images if i.number == number), None)


_BUTTON_WORDS = {"U": "A 4K upscale", "V": "A variation"}
_OPTION_LABELS = {"scale": "Aspect ratio", "resolution": "Resolution", "similar": "Similarity to the source"}


def lineage_of(record: JobRecord) -> str:
    """Where the result came from, without naming any other job."""
    if record.kind == "button":
        button = record.button or ""
        words = _BUTTON_WORDS.get(button[:1], "Made")
        return f"{words} ({button}) of an earlier image" if button else f"{words} from an earlier image"
    if request_fields.has_source(record.request or {}):
        return "Generated from a prompt and a source image (the source is not shared)"
    return "Generated from a text prompt"


def shared_view(share: Share, record: JobRecord, path_of: Callable[[str], Path]) -> SharedResult:
    """The view of ``share`` (of ``record``); ``path_of`` turns a stored image's key into its file.

    Raises:
        ShareGone: none of the shared images is on disk any more.
    """
    images = []
    for entry in record.images:
        if (share.index is not None and entry.index != share.index) or entry.state not in _SHOWN:
            continue
        preview = _existing(path_of, entry.display_path)
        if preview is None:
            continue
        original = _existing(path_of, entry.original) if entry.state is ImageState.STORED else None
        images.append(SharedImage(len(images) + 1, preview, original, entry.width, entry.height))
    if not images:
        raise ShareGone()
    request = record.request or {}
    options = [(_OPTION_LABELS.get(name, name), str(value)) for name, value in request_fields.detail_options(request)
               if name in _OPTION_LABELS]
    options.append(("Model", str(request.get("model_name") or "Auto (Akool's choice)")))
    negative = str(request.get("negative_prompt") or "") or None
    return SharedResult(
        share_id=share.id, images=tuple(images), lineage=lineage_of(record), options=tuple(options),
        prompt=(record.prompt or None) if share.include_prompt else None,
        negative_prompt=negative if share.include_prompt else None, created_at=share.created,
    )


def _existing(path_of: Callable[[str], Path], key: str | None) -> Path | None:
    if not key:
        return None
    try:
        path = path_of(key)
    except ValueError:  # not a stored image's key
        return None
    return path if path.is_file() else None
