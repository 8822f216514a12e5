"""How job records look on the page: status lines, gallery items, button states, details.

Pure functions of records (no service calls, no disk I/O), so the wording is tested without a browser.
The handlers (``ui/handlers/``) gather what these return into renders; ``panels.py`` makes them updates.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..akool import fields as request_fields
from ..akool.models import BUTTONS
from ..jobs import ImageEntry, ImageState, JobRecord, RecordState, wording
from ..service import credits_of
from .assets import placeholder_for

__all__ = [
    "GalleryItem",
    "ButtonView",
    "status_lines",
    "status_markdown",
    "gallery_items",
    "button_views",
    "job_details",
    "history_caption",
    "reused_sentence",
    "job_summary",
    "record_labels",
    "session_entry",
    "session_line",
]

# Evicted entries lost their original to the cache limit but keep the preview.
_SHOWABLE = (ImageState.STORED, ImageState.EVICTED)
_PROMPT_IN_LABEL = 48


@dataclass(frozen=True)
class GalleryItem:
    """One tile of the results gallery and what it stands for."""

    path: Path
    caption: str
    job_id: str
    index: int


@dataclass(frozen=True)
class ButtonView:
    """How one U/V button should look for the selected job."""

    name: str
    offered: bool
    used: bool
    highlighted: bool

    @property
    def interactive(self) -> bool:
        return self.offered and not self.used

    @property
    def label(self) -> str:
        return f"{self.name} ✓" if self.used else self.name


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def md_text(text: object) -> str:
    """User text made inert in Markdown: HTML escaped and Markdown punctuation backslashed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def short_text(text: str, limit: int = _PROMPT_IN_LABEL) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_short = short_text


def record_labels(records: Sequence[JobRecord]) -> dict[str, str]:
    """What each job is called on the page: ``"Image"`` / ``"Image 2"`` (in a batch), and for a button
    job its lineage relative to what is shown, ``"U2 of Image 1"``, or ``"U2 of “a lighthouse…”"``."""
    generated = [r for r in records if r.kind != "button"]
    labels: dict[str, str] = {}
    for record in generated:
        labels[record.id] = f"Image {record.batch_index + 1}" if len(generated) > 1 else "Image"
    for record in records:
        if record.kind == "button":
            origin = labels.get(record.parent_id or "")
            if origin is None:
                origin = f"“{_short(record.prompt, 32)}”" if record.prompt else "an earlier image"
            labels[record.id] = f"{record.button or '?'} of {origin}"
    return labels


def _elapsed_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


def status_lines(
    records: Sequence[JobRecord], *, now: float | None = None, suffix: Callable[[JobRecord], str] | None = None
) -> list[str]:
    """One plain line per job: what it is, where it is, how long it has taken (then ``suffix(record)``: the
    progress bar of a running job)."""
    labels = record_labels(records)
    lines = []
    for record in records:
        phrase = wording.state_phrase(record.state)
        line = f"{wording.state_icon(record.state)} {labels[record.id]}: {phrase} · {_elapsed_text(record.elapsed(now))}"
        if record.state is RecordState.SUCCEEDED:
            stored = sum(1 for e in record.images if e.is_stored)
            if stored > 1:
                line += f" · {stored} images"
            if record.gave_up_downloads and record.error_message:
                line += f" — {record.error_message}"
        elif record.state is RecordState.FAILED or record.is_intent:
            line += f" — {record.error_message or wording.failed_sentence(record.error_code)}"
        elif record.state is RecordState.TIMED_OUT:
            line += f" — {wording.TIMED_OUT_HINT}"
        elif record.state is RecordState.STOPPED:
            line += f" — {wording.STOPPED_HINT}"
        if suffix is not None:
            line += suffix(record)
        lines.append(line)
    return lines


def status_markdown(
    records: Sequence[JobRecord], *, now: float | None = None, note: str | None = None,
    suffix: Callable[[JobRecord], str] | None = None,
) -> str:
    lines = [md_text(line) for line in status_lines(records, now=now, suffix=suffix)]
    if note:
        lines.append(md_text(note))
    return "  \n".join(lines) if lines else "Ready. Write a prompt and press **Generate**."


def _size(entry: ImageEntry) -> str:
    return f"{entry.width}×{entry.height}" if entry.width and entry.height else ""


def gallery_items(
    records: Sequence[JobRecord], abspath: Callable[[str], Path], *, expected: Callable[[JobRecord], int] | None = None
) -> list[GalleryItem]:
    """The stored images of ``records`` in order, with captions that say which button acts on which; with
    ``expected``, a placeholder tile (index < 0) for each image a running job has still to bring."""
    labels = record_labels(records)
    items = []
    for record in records:
        label = labels[record.id]
        for entry in record.images:
            rel = entry.display_path
            if rel is None or entry.state not in _SHOWABLE:
                continue
            parts = [label]
            if len(record.images) > 1:
                parts.append(f"#{entry.index + 1}")
            if size := _size(entry):
                parts.append(size)
            items.append(GalleryItem(abspath(rel), " · ".join(parts), record.id, entry.index))
        if expected is not None and record.is_in_flight:
            items.extend(_placeholders(record, label, expected(record), shown=sum(1 for i in items if i.job_id == record.id)))
    return items


def _placeholders(record: JobRecord, label: str, count: int, *, shown: int) -> list[GalleryItem]:
    """Tiles standing for the images a running job will bring, captioned with where it is."""
    phrase = wording.state_phrase(record.state)
    return [
        GalleryItem(placeholder_for(record.state), f"{label} · #{n + 1} · {phrase}…" if count > 1 else f"{label} · {phrase}…",
                    record.id, -(n + 1))
        for n in range(shown, count)
    ]


def button_views(record: JobRecord | None, selected_index: int | None = None) -> list[ButtonView]:
    """U1..U4, V1..V4 for the selected job: offered by Akool, already used, or matching the selected image."""
    views = []
    for name in BUTTONS:
        offered = record is not None and name in record.buttons
        used = record is not None and name in record.used_buttons
        highlighted = (
            record is not None and selected_index is not None and len(record.images) > 1
            and int(name[1]) == selected_index + 1
        )
        views.append(ButtonView(name, offered, used, highlighted))
    return views


def _when(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def job_details(record: JobRecord | None, *, parent: JobRecord | None = None) -> str:
    """The selected job's parameters and lineage, as Markdown (user text escaped)."""
    if record is None:
        return ""
    req: dict[str, Any] = record.request or {}
    esc = md_text
    rows = []
    if record.kind == "button":
        origin = f"“{esc(_short(parent.prompt))}”" if parent is not None and parent.prompt else f"job `{record.parent_id}`"
        rows.append(f"**{esc(record.button or '')}** of {origin}")
    if record.prompt:
        rows.append(f"**Prompt:** {esc(record.prompt)}")
    if req.get("negative_prompt"):
        rows.append(f"**Negative:** {esc(req['negative_prompt'])}")
    options = [f"{name}: {esc(value)}" for name, value in request_fields.detail_options(req)]
    if options:
        rows.append(" · ".join(options))
    if request_fields.has_source(req):
        rows.append("Image-to-image from a source image")
    rows.append(f"Model: {esc(req['model_name'])}" if req.get("model_name") else "Model: Auto (Akool's choice)")
    stored = [e for e in record.images if e.is_stored]
    if stored and (size := _size(stored[0])):
        rows.append(f"Result size: {size}")
    meta = f"Job `{record.id}` · {_when(record.created_at)} · {wording.state_phrase(record.state)}"
    if record.credits is not None:
        meta += f" · {record.credits} credit{'s' if record.credits != 1 else ''}"
    rows.append(meta)
    if (record.state is RecordState.FAILED or record.is_intent or record.gave_up_downloads) and record.error_message:
        rows.append(f"{wording.state_icon(record.state)} {esc(record.error_message)}")
    if record.state is RecordState.TIMED_OUT:
        rows.append(f"{wording.state_icon(record.state)} {wording.TIMED_OUT_HINT}")
    if record.state is RecordState.STOPPED:
        rows.append(f"{wording.state_icon(record.state)} {wording.STOPPED_HINT}")
    return "  \n".join(rows)


def session_entry(record: JobRecord, *, own: bool) -> dict[str, Any]:
    """What one job this page made costs, for ``session_line``: Akool's ``deduction_credit`` when it said
    (a failed job is refunded: 0), else the estimate; ``own``: paid by the visitor's own key."""
    return {"credits": credits_of(record), "estimated": record.credits is None, "own": own}


def session_line(session: dict[str, Any] | None) -> str:
    """``"This session: 5 credits"`` for the jobs this page made ("" before the first one)."""
    entries = [e for e in (session or {}).values() if isinstance(e, dict)]
    if not entries:
        return ""
    total = sum(int(e.get("credits") or 0) for e in entries)
    about = "about " if any(e.get("estimated") for e in entries) else ""
    return f"This session: {about}{total} credit{'s' if total != 1 else ''}"  # the balance: under Generate


def reused_sentence(record: JobRecord) -> str:
    """The toast after Reuse settings: which job's settings are now in the form, and what to do next."""
    prompt = _short(record.prompt or "", 40)
    what = f"“{prompt}”" if prompt else "that job"
    return f"The settings of {what} are in the form: change what you like and press Generate."


def history_caption(record: JobRecord) -> str:
    """A history tile's caption: what it was, how it ended, when (the tile wraps it over a few lines)."""
    prompt = _short(record.prompt or "(no prompt)", 40)
    what = f"{record.button} of “{prompt}”" if record.kind == "button" else prompt
    return f"{what} · {wording.state_phrase(record.state)} · {_when(record.created_at)}"


def job_summary(record: JobRecord) -> dict[str, Any]:
    """A record as plain JSON for API callers (file paths are added by the handler)."""
    return {
        "id": record.id,
        "state": record.state.value,
        "kind": record.kind,
        "parent_id": record.parent_id,
        "button": record.button,
        "lineage": record.lineage_label,
        "prompt": record.prompt,
        "request": dict(record.request),
        "buttons": list(record.buttons),
        "used_buttons": list(record.used_buttons),
        "error_code": record.error_code,
        "error_message": record.error_message,
        "can_check_again": record.can_check_again,
        "credits": record.credits,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "elapsed": round(record.elapsed(), 1),
    }


def first_display_path(record: JobRecord) -> str | None:
    for entry in record.images:
        if entry.display_path and entry.state in _SHOWABLE:
            return entry.display_path
    return None


def unique(ids: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    return list(seen)
