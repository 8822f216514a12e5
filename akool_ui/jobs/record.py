"""The durable, local view of Akool jobs: ``JobRecord`` and its ``ImageEntry`` list.

A record is what the store keeps and what the UI shows: plain, mutable data. ``JobRecord.create`` makes
one per job, ``jobs.lifecycle`` changes it (the rules of a job's life live there, not here), the store
keeps it. JSON goes through ``jobs.codec`` (tagged with ``SCHEMA_VERSION`` under ``"v"``).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..akool.models import ImageRequest, validate_button, validate_job_id
from .states import ImageState, RecordState

__all__ = [
    "SCHEMA_VERSION",
    "MAX_DOWNLOAD_ATTEMPTS",
    "MAX_IMAGES_PER_JOB",
    "IMAGE_EXTENSIONS",
    "KINDS",
    "INTENT_ID_PREFIX",
    "RecordError",
    "ImageEntry",
    "JobRecord",
]

SCHEMA_VERSION = 1
"""Bumped on any change an older reader would misunderstand; older readers skip newer records."""

# Downloads are retried inside one attempt already; this many failed attempts (e.g. across restarts)
# and we stop retrying automatically, so a permanently broken URL cannot keep a job "in flight".
MAX_DOWNLOAD_ATTEMPTS = 5
# Akool gives at most four candidates per job; 16 leaves room for grids split locally.
MAX_IMAGES_PER_JOB = 16
IMAGE_EXTENSIONS = ("jpg", "png", "webp")

KINDS = ("generate", "button")

# A write-ahead intent (a request recorded before it is sent) is kept under a local id of this shape:
# a 24-hex ObjectId whose creation time is 1970-01-01, which Akool never issues, so it cannot collide
# with a job id and reads as a job id everywhere (history, delete, the page).
INTENT_ID_PREFIX = "00000000"


class RecordError(ValueError):
    """Stored data is not a record this version understands (malformed, foreign or a newer schema)."""


def _now() -> float:
    return time.time()


@dataclass
class ImageEntry:
    """One result image of a job: where it came from and where its local copies are."""

    index: int
    """Position among the job's results (0-based; button U{index+1} / V{index+1} acts on it)."""
    remote_url: str | None = None
    """Akool's URL (expires after 7 days); kept after eviction so the original could be fetched again."""
    original: str | None = None
    """Path of the full-size file, relative to the cache directory (``images/ab/<id>/0.png``)."""
    preview: str | None = None
    """Path of the web preview (WebP, long side at most 768 px), relative to the cache directory."""
    width: int | None = None
    height: int | None = None
    nbytes: int = 0
    """Size of the original file in bytes."""
    state: ImageState = ImageState.PENDING
    error: str | None = None
    """Why the last download failed (a plain sentence), when state is ERROR or EXPIRED."""
    attempts: int = 0
    """Download attempts so far."""

    @property
    def is_stored(self) -> bool:
        return self.state is ImageState.STORED

    @property
    def needs_download(self) -> bool:
        return self.state is ImageState.PENDING or (
            self.state is ImageState.ERROR and self.attempts < MAX_DOWNLOAD_ATTEMPTS
        )

    @property
    def display_path(self) -> str | None:
        """The best local file to show: the preview, else the original (relative to the cache dir)."""
        return self.preview or self.original

    def to_json(self) -> dict[str, Any]:
        return codec.entry_to_json(self)

    @classmethod
    def from_json(cls, data: Any, job_id: str) -> "ImageEntry":
        return codec.entry_from_json(data, job_id)

@dataclass
class JobRecord:
    """Everything this app knows about one Akool job, kept on local disk by ``JobStore``."""

    id: str
    """Akool's 24-hex job id."""
    owner: str = field(repr=False)
    """Opaque owner key (a keyed hash of the credential, or a demo id). Never shown, never logged."""
    kind: str = "generate"
    """``"generate"`` (a create call) or ``"button"`` (a U/V press on ``parent_id``)."""
    parent_id: str | None = None
    button: str | None = None
    """For a button job: ``"U1"``..``"V4"``."""
    request: dict[str, Any] = field(default_factory=dict)
    """The request parameters (see ``request_to_dict``); button jobs may copy the parent's prompt."""
    batch_id: str | None = None
    """Shared by the jobs one Generate created (batch 1-4 gives 1-4 jobs)."""
    batch_index: int = 0
    state: RecordState = RecordState.QUEUED
    status_history: list[tuple[str, float]] = field(default_factory=list)
    """(state, epoch seconds) for each change of ``state``, oldest first."""
    created_at: float = field(default_factory=_now)
    updated_at: float = field(default_factory=_now)
    """Set by the store on every write."""
    finished_at: float | None = None
    """When the job last reached a final state (epoch seconds); the cache limit evicts oldest first by it."""
    remote_image_url: str | None = None
    """Akool's ``image`` (a 2x2 grid for some generations, the single image otherwise)."""
    remote_urls: list[str] = field(default_factory=list)
    """The result URLs to download, in order."""
    images: list[ImageEntry] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)
    used_buttons: list[str] = field(default_factory=list)
    error_code: int | None = None
    error_message: str | None = None
    """One plain sentence for the page (what happened, what to do)."""
    credits: int | None = None
    answered_ids: list[str] = field(default_factory=list)
    """An intent's job ids as Akool's answer gave them: stored the moment the answer arrives, before the
    job records are made, so a crash in between still knows exactly which jobs to adopt."""
    intent_token: str | None = field(default=None, repr=False)
    """An intent's unguessable token, put in the webhook URL so Akool's callback for a job we never heard
    of (the answer was lost) is adopted into this owner's history. Never shown, never logged."""
    search: str | None = None  # an unknown outcome's search: searching/gave_up/resend_offered/resent

    # --- creation --------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        job_id: str,
        owner: str,
        *,
        kind: str = "generate",
        request: ImageRequest | Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        button: str | None = None,
        batch_id: str | None = None,
        batch_index: int = 0,
        state: RecordState = RecordState.QUEUED,
        now: float | None = None,
    ) -> "JobRecord":
        """A new record for a job Akool just accepted (validates ids, starts the status history)."""
        now = _now() if now is None else now
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if not isinstance(owner, str) or not owner:
            raise ValueError("owner must be a non-empty string")
        if kind == "button" and not (parent_id and button):
            raise ValueError("a button job needs parent_id and button")
        record = cls(
            id=validate_job_id(job_id),
            owner=owner,
            kind=kind,
            parent_id=validate_job_id(parent_id) if parent_id else None,
            button=validate_button(button) if button else None,
            request=codec.request_to_dict(request),
            batch_id=batch_id,
            batch_index=batch_index,
            state=state,
            status_history=[(state.value, now)],
            created_at=now,
            updated_at=now,
        )
        if state.is_final:
            record.finished_at = now
        return record

    @classmethod
    def intent(
        cls,
        owner: str,
        *,
        kind: str = "generate",
        request: ImageRequest | Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        button: str | None = None,
        batch_id: str | None = None,
        now: float | None = None,
    ) -> "JobRecord":
        """A write-ahead record of a create or press about to be sent (state SENDING, a local id)."""
        record = cls.create(
            INTENT_ID_PREFIX + secrets.token_hex(8), owner, kind=kind, request=request, parent_id=parent_id,
            button=button, batch_id=batch_id, state=RecordState.SENDING, now=now,
        )
        record.intent_token = secrets.token_hex(16)
        return record

    def adopt(self, job_id: str, *, batch_index: int = 0) -> "JobRecord":
        """The record of a job Akool made for this intent (a new record, created when the intent was:
        its elapsed time counts from the request); this one is left as it is."""
        return JobRecord.create(
            job_id, self.owner, kind=self.kind, request=self.request, parent_id=self.parent_id,
            button=self.button, batch_id=self.batch_id, batch_index=batch_index, now=self.created_at,
        )

    # --- changes -----------------------------------------------------------------------------------

    def set_state(self, state: RecordState, *, at: float | None = None) -> bool:
        """Move to ``state``; appends to the history only on a change. Returns whether it changed."""
        state = RecordState(state)
        if state is self.state and self.status_history:
            return False
        at = _now() if at is None else at
        self.state = state
        self.status_history.append((state.value, at))
        if state.is_final:
            self.finished_at = at
        else:
            self.finished_at = None
        return True

    def image(self, index: int) -> ImageEntry:
        """The entry for result ``index``, created (pending) if missing; entries stay sorted by index."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_IMAGES_PER_JOB:
            raise ValueError(f"image index must be an int in [0, {MAX_IMAGES_PER_JOB})")
        for entry in self.images:
            if entry.index == index:
                return entry
        entry = ImageEntry(index=index, remote_url=self.remote_urls[index] if index < len(self.remote_urls) else None)
        self.images.append(entry)
        self.images.sort(key=lambda e: e.index)
        return entry

    # --- derived -----------------------------------------------------------------------------------

    @property
    def prompt(self) -> str:
        return str(self.request.get("prompt") or "")

    @property
    def is_in_flight(self) -> bool:
        return self.state.is_in_flight

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def is_resumable(self) -> bool:
        return self.state.is_resumable

    @property
    def is_intent(self) -> bool:
        """A request recorded before it was sent: no Akool job id yet (``RecordState.is_intent``)."""
        return self.state.is_intent

    @property
    def expected_jobs(self) -> int:
        """Jobs an intent stands for (a batch of N makes N jobs; a press makes one)."""
        if self.kind == "button":
            return 1
        value = self.request.get("batch_quantity", 1)
        return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4 else 1

    @property
    def gave_up_downloads(self) -> bool:
        """Some results Akool still serves were never stored because the downloads gave up."""
        return self.state in (RecordState.SUCCEEDED, RecordState.FAILED) and any(
            e.state is ImageState.ERROR and not e.needs_download for e in self.images
        )

    @property
    def can_check_again(self) -> bool:
        """"Check again" has something to do: a timed-out or stopped job, or downloads that gave up."""
        return self.is_resumable or self.gave_up_downloads

    @property
    def is_unsettled(self) -> bool:
        """The app still owes this record something: polling or downloading, an intent's outcome, or a
        look after a time-out or after downloads that gave up (what ``JobStore.unsettled`` returns)."""
        return self.needs_work or self.is_intent or self.state is RecordState.TIMED_OUT or self.gave_up_downloads

    @property
    def all_images_stored(self) -> bool:
        """Every known result is on disk (there is at least one)."""
        expected = max(len(self.remote_urls), len(self.images))
        return expected > 0 and len(self.images) >= expected and all(e.is_stored for e in self.images)

    @property
    def needs_download(self) -> bool:
        """Akool has results we have not stored yet (and may still fetch)."""
        if self.state not in (RecordState.DOWNLOADING, RecordState.SUCCEEDED):
            return False
        if any(e.needs_download for e in self.images):
            return True
        return len(self.remote_urls) > len({e.index for e in self.images})

    @property
    def needs_work(self) -> bool:
        """Polling or downloading is still due: what ``JobStore.in_flight`` returns."""
        return self.is_in_flight or self.needs_download

    @property
    def stored_bytes(self) -> int:
        """Bytes of original files currently on disk (what the cache limit counts)."""
        return sum(e.nbytes for e in self.images if e.is_stored)

    @property
    def lineage_label(self) -> str:
        """``"U2 of …a7b8c9d0"`` for a button job, ``""`` otherwise.

        The tail of the id: an ObjectId starts with its creation second, so jobs made together share
        their first characters and differ at the end."""
        if self.kind != "button" or not self.parent_id:
            return ""
        return f"{self.button or '?'} of …{self.parent_id[-8:]}"

    @property
    def done_at(self) -> float:
        """When it stopped needing work (its creation until it finishes): the age eviction goes by."""
        return self.finished_at if self.finished_at is not None else self.created_at

    def elapsed(self, now: float | None = None) -> float:
        """Seconds from creation to the final state (or to ``now`` while in flight)."""
        end = self.finished_at if self.finished_at is not None and self.is_final else (_now() if now is None else now)
        return max(0.0, end - self.created_at)

    def can_press(self, button: str) -> bool:
        return button in self.buttons and button not in self.used_buttons

    def to_json(self) -> dict[str, Any]:
        return codec.record_to_json(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, data: Any) -> "JobRecord":
        """Parse a record written by ``to_json`` (a dict or its JSON text); raise RecordError otherwise."""
        return codec.record_from_json(data)


from . import codec  # noqa: E402 - codec reads and writes the classes above
