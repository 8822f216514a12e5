"""The compare tray's state and words: which images (job id + image index) a page picked to compare, and
what each is called. Pure functions: no Gradio, no service calls, so they are tested without a page.

The tray is per page (a ``gr.State``: a list of ``{"job": id, "index": n}``, at most ``MAX_COMPARE``). It
holds ids only; every use resolves them again through the owner's own jobs (``Studio.stored_images``), so
another owner's id never shows anything and a deleted job drops out (``keep_resolved``).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..jobs import JobRecord
from .views import short_text

__all__ = [
    "MAX_COMPARE", "new_tray", "tray_pairs", "add_to_tray", "remove_from_tray", "keep_resolved", "image_label",
    "pixel_size", "scale_note", "TrayFull", "AlreadyInTray",
]

MAX_COMPARE = 4  # a 2×2 grid still shows each image large enough to judge, on a phone too
_PROMPT_IN_LABEL = 32


class TrayFull(ValueError):
    """The tray already holds ``MAX_COMPARE`` images."""


class AlreadyInTray(ValueError):
    """That image is in the tray already."""


def new_tray() -> list[dict[str, Any]]:
    return []


def tray_pairs(tray: Any) -> list[tuple[str, int]]:
    """The (job id, index) pairs of a tray as the page sent it back; anything malformed is left out."""
    pairs: list[tuple[str, int]] = []
    for item in tray if isinstance(tray, list) else []:
        job_id = item.get("job") if isinstance(item, dict) else None
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(job_id, str) and job_id and isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            if (job_id, index) not in pairs:
                pairs.append((job_id, index))
    return pairs[:MAX_COMPARE]


def _tray(pairs: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"job": job_id, "index": index} for job_id, index in pairs]


def add_to_tray(tray: Any, job_id: str, index: int) -> list[dict[str, Any]]:
    """The tray with (job id, index) added at the end.

    Raises:
        AlreadyInTray: it is there already (the tray is unchanged).
        TrayFull: the tray holds ``MAX_COMPARE`` images already.
    """
    pairs = tray_pairs(tray)
    if (job_id, index) in pairs:
        raise AlreadyInTray("That image is already in the compare tray.")
    if len(pairs) >= MAX_COMPARE:
        raise TrayFull(f"The compare tray holds up to {MAX_COMPARE} images: remove one first.")
    return _tray([*pairs, (job_id, index)])


def remove_from_tray(tray: Any, position: int) -> list[dict[str, Any]]:
    """The tray without its image at ``position`` (0-based; a position past the end changes nothing)."""
    pairs = tray_pairs(tray)
    return _tray([p for i, p in enumerate(pairs) if i != position])


def keep_resolved(tray: Any, resolved: Sequence[Any]) -> tuple[list[dict[str, Any]], str]:
    """The tray without the images that no longer resolve (``resolved[i]`` None: the job was deleted, is
    not this owner's, or its file is gone), and the one sentence that says so ("" when none dropped)."""
    pairs = tray_pairs(tray)
    kept = [p for p, image in zip(pairs, resolved) if image is not None]
    dropped = len(pairs) - len(kept)
    if not dropped:
        return _tray(kept), ""
    what = "1 image left" if dropped == 1 else f"{dropped} images left"
    return _tray(kept), f"{what} the compare tray: its job was deleted or its file is gone."


def pixel_size(record: JobRecord, index: int) -> tuple[int, int] | None:
    """The original's pixel size as the record knows it (None when it was never measured)."""
    entry = next((e for e in record.images if e.index == index), None)
    if entry is None or not entry.width or not entry.height:
        return None
    return entry.width, entry.height


def image_label(record: JobRecord, index: int, *, parent: JobRecord | None = None) -> str:
    """What one compared image is: the job's short description, which candidate, its U/V lineage, the
    resolution asked for (a U result is a 4K upscale) and its pixel size, e.g.
    ``"U1 of “A lighthouse…” · 4K upscale · 3840×2160"`` or ``"“A fox…” · #2 · 1080p · 1920×1080"``."""
    prompt = record.prompt or (parent.prompt if parent is not None else "")
    what = f"“{short_text(prompt, _PROMPT_IN_LABEL)}”" if prompt else "an image"
    parts = [f"{record.button or '?'} of {what}" if record.kind == "button" else what]
    if len(record.images) > 1:
        parts.append(f"#{index + 1}")
    if record.kind == "button" and (record.button or "").startswith("U"):
        parts.append("4K upscale")
    else:
        resolution = record.request.get("resolution") or (parent.request.get("resolution") if parent else None)
        if isinstance(resolution, str) and resolution:
            parts.append(resolution.replace("k", "K"))
    size = pixel_size(record, index)
    if size is not None:
        parts.append(f"{size[0]}×{size[1]}")
    return " · ".join(parts)


def scale_note(sizes: Sequence[tuple[int, int] | None]) -> str:
    """Which images are scaled to line up: every one is shown as wide as the widest, so at 100 % the
    widest is 1:1 and the others are enlarged by the factor this names."""
    known = [s for s in sizes if s is not None]
    if not known:
        return "Every image is shown at the same size."
    widest = max(known, key=lambda s: s[0])
    scaled = sorted({s for s in known if s[0] < widest[0]}, key=lambda s: s[0])
    if not scaled:
        return f"All are {widest[0]}×{widest[1]}: at 100 % each pixel is shown 1:1."
    enlarged = ", ".join(f"{w}×{h} is scaled ×{widest[0] / w:.3g}" for w, h in scaled)
    return (f"Shown at the same size so they line up: {enlarged} to match {widest[0]}×{widest[1]}, "
            f"which is 1:1 at 100 %.")
