"""The durable, local view of Akool jobs: ``JobRecord`` and its ``ImageEntry`` list, plus ``Page``.

A record is what the store keeps and what the UI shows. It is plain, mutable data: the tracker creates
one per job (``JobRecord.create``), changes it (``set_state``, ``apply_job``, ``image``) and hands it back
to the store (``JobStore.put`` / ``JobStore.update``). Records serialise to JSON only, tagged with
``SCHEMA_VERSION`` under ``"v"``; ``JobRecord.from_json`` is the only reader and refuses anything it does
not fully understand with ``RecordError`` (the store logs and skips such records).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from ..akool.errors import InvalidRequest, JobFailed
from ..akool.models import ImageRequest, Job, JobStatus, validate_button, validate_job_id

__all__ = [
    "SCHEMA_VERSION",
    "MAX_DOWNLOAD_ATTEMPTS",
    "MAX_IMAGES_PER_JOB",
    "IMAGE_EXTENSIONS",
    "RecordError",
    "RecordState",
    "ImageState",
    "ImageEntry",
    "JobRecord",
    "Page",
    "paginate",
    "request_to_dict",
]

SCHEMA_VERSION = 1
"""Bumped on any change an older reader would misunderstand; older readers skip newer records."""

# Downloads are retried inside one attempt already; this many failed attempts (e.g. across restarts)
# and we stop retrying automatically, so a permanently broken URL cannot keep a job "in flight".
MAX_DOWNLOAD_ATTEMPTS = 5
# Akool gives at most four candidates per job; 16 leaves room for grids split locally.
MAX_IMAGES_PER_JOB = 16
IMAGE_EXTENSIONS = ("jpg", "png", "webp")

_REQUEST_KEYS = (
    "prompt",
    "negative_prompt",
    "scale",
    "resolution",
    "batch_quantity",
    "source_image_url",
    "similar",
    "model_name",
)
_KINDS = ("generate", "button")
# Local paths are relative to the cache directory and always have this shape; anything else in a record
# is refused, so a tampered record can never point the UI at an arbitrary file.
_ORIGINAL_PATH = re.compile(r"images/([0-9a-f]{2})/([0-9a-f]{24})/(\d{1,2})\.(jpg|png|webp)")
_PREVIEW_PATH = re.compile(r"images/([0-9a-f]{2})/([0-9a-f]{24})/(\d{1,2})\.preview\.webp")
_MAX_TEXT = 4000


class RecordError(ValueError):
    """Stored data is not a record this version understands (malformed, foreign or a newer schema)."""


class RecordState(str, Enum):
    """Where a job is, from this app's point of view (Akool's four states plus our own)."""

    QUEUED = "queued"  # Akool accepted it; waiting for a worker
    PROCESSING = "processing"  # Akool is rendering it
    DOWNLOADING = "downloading"  # Akool is done; we are copying the results to local disk
    SUCCEEDED = "succeeded"  # done, and every result we could fetch is on local disk
    FAILED = "failed"  # Akool (or our download) failed for good; see error_code / error_message
    TIMED_OUT = "timed_out"  # we stopped waiting at our deadline; Akool may still finish it (resumable)

    @property
    def is_in_flight(self) -> bool:
        """Someone must still poll Akool or download results."""
        return self in (RecordState.QUEUED, RecordState.PROCESSING, RecordState.DOWNLOADING)

    @property
    def is_final(self) -> bool:
        """Nothing happens to the job unless someone asks (TIMED_OUT can be resumed by hand)."""
        return not self.is_in_flight

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class ImageState(str, Enum):
    """One result image's local copy."""

    PENDING = "pending"  # known (or expected), not downloaded yet
    STORED = "stored"  # original and preview on local disk
    EXPIRED = "expired"  # Akool's URL no longer serves it and we never stored it
    ERROR = "error"  # download or validation failed; retried up to MAX_DOWNLOAD_ATTEMPTS
    EVICTED = "evicted"  # original removed by the cache size limit; preview and remote URL kept


_AKOOL_TO_STATE = {
    JobStatus.QUEUED: RecordState.QUEUED,
    JobStatus.PROCESSING: RecordState.PROCESSING,
    JobStatus.FAILED: RecordState.FAILED,
}


def _now() -> float:
    return time.time()


def request_to_dict(request: ImageRequest | Mapping[str, Any] | None) -> dict[str, Any]:
    """The request parameters a record keeps (no webhook URL: it is ours, not the user's)."""
    if request is None:
        return {}
    data = request.to_json() if isinstance(request, ImageRequest) else dict(request)
    return {k: data[k] for k in _REQUEST_KEYS if k in data and data[k] is not None}


# --- strict readers used by from_json: each raises RecordError with the field name ------------------


def _str(data: Mapping[str, Any], key: str, *, required: bool = False, limit: int = _MAX_TEXT) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"record field {key!r} is missing")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise RecordError(f"record field {key!r} is not a string of at most {limit} characters")
    return value


def _num(data: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"record field {key!r} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"record field {key!r} is not a finite number")
    return float(value)


def _int(data: Mapping[str, Any], key: str, *, default: int | None = None, lo: int = 0, hi: int = 2**53) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RecordError(f"record field {key!r} is not an integer in [{lo}, {hi}]")
    return value


def _str_list(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= _MAX_TEXT for v in value):
        raise RecordError(f"record field {key!r} is not a list of strings")
    return list(value)


def _enum(enum: type[Enum], value: Any, key: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise RecordError(f"record field {key!r} has unknown value {str(value)[:20]!r}") from None


def _job_id(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"record field {key!r} is not a job id")
    try:
        return validate_job_id(value)
    except InvalidRequest:
        raise RecordError(f"record field {key!r} is not a job id") from None


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
        return {
            "index": self.index,
            "remote_url": self.remote_url,
            "original": self.original,
            "preview": self.preview,
            "width": self.width,
            "height": self.height,
            "nbytes": self.nbytes,
            "state": self.state.value,
            "error": self.error,
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, data: Any, job_id: str) -> "ImageEntry":
        if not isinstance(data, Mapping):
            raise RecordError("image entry is not an object")
        index = _int(data, "index", lo=0, hi=MAX_IMAGES_PER_JOB - 1)
        assert index is not None
        original = _str(data, "original", limit=200)
        preview = _str(data, "preview", limit=200)
        for path, pattern in ((original, _ORIGINAL_PATH), (preview, _PREVIEW_PATH)):
            match = pattern.fullmatch(path) if path is not None else None
            if path is not None and (
                match is None or match[2] != job_id or match[1] != job_id[:2] or int(match[3]) != index
            ):
                raise RecordError("image entry path is not inside the job's image folder")
        return cls(
            index=index,
            remote_url=_str(data, "remote_url"),
            original=original,
            preview=preview,
            width=_int(data, "width", lo=1, hi=10**6),
            height=_int(data, "height", lo=1, hi=10**6),
            nbytes=_int(data, "nbytes", default=0) or 0,
            state=_enum(ImageState, data.get("state", "pending"), "state"),
            error=_str(data, "error"),
            attempts=_int(data, "attempts", default=0, hi=10**6) or 0,
        )


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
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}")
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
            request=request_to_dict(request),
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

    def set_remote_urls(self, urls: list[str] | tuple[str, ...]) -> None:
        """Record the result URLs and make one pending entry per URL (stored entries keep their files)."""
        self.remote_urls = [str(u) for u in urls if u]
        for index, url in enumerate(self.remote_urls[:MAX_IMAGES_PER_JOB]):
            entry = self.image(index)
            if entry.remote_url != url:
                entry.remote_url = url
                if entry.state in (ImageState.EXPIRED, ImageState.ERROR):
                    entry.state, entry.error, entry.attempts = ImageState.PENDING, None, 0

    def apply_job(self, job: Job, *, at: float | None = None) -> bool:
        """Copy what Akool said about the job into the record. Returns whether the state changed.

        A succeeded job moves to DOWNLOADING until every result is stored (``finish_download``)."""
        self.buttons = list(job.buttons)
        self.used_buttons = list(job.used_buttons)
        if job.credits is not None:
            self.credits = job.credits
        if job.image_url:
            self.remote_image_url = job.image_url
        if job.result_urls and list(job.result_urls) != self.remote_urls:
            self.set_remote_urls(job.result_urls)
        if job.parent_id and not self.parent_id:
            self.parent_id = job.parent_id
        if job.button and not self.button:
            self.button = job.button
        if not self.request.get("prompt") and job.prompt:
            self.request["prompt"] = job.prompt
        if job.status is JobStatus.SUCCEEDED:
            target = RecordState.SUCCEEDED if self.all_images_stored else RecordState.DOWNLOADING
        else:
            target = _AKOOL_TO_STATE[job.status]
        if job.status is JobStatus.FAILED:
            self.error_code = job.error_code
            if not self.error_message:
                self.error_message = JobFailed.default_user_message
        return self.set_state(target, at=at)

    def finish_download(self, *, at: float | None = None) -> bool:
        """DOWNLOADING -> SUCCEEDED once no image needs downloading. Returns whether the state changed."""
        if self.state is RecordState.DOWNLOADING and not self.needs_download:
            return self.set_state(RecordState.SUCCEEDED, at=at)
        return False

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
        return self.state is RecordState.TIMED_OUT

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

    def elapsed(self, now: float | None = None) -> float:
        """Seconds from creation to the final state (or to ``now`` while in flight)."""
        end = self.finished_at if self.finished_at is not None and self.is_final else (_now() if now is None else now)
        return max(0.0, end - self.created_at)

    def can_press(self, button: str) -> bool:
        return button in self.buttons and button not in self.used_buttons

    # --- JSON --------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "id": self.id,
            "owner": self.owner,
            "kind": self.kind,
            "parent_id": self.parent_id,
            "button": self.button,
            "request": dict(self.request),
            "batch_id": self.batch_id,
            "batch_index": self.batch_index,
            "state": self.state.value,
            "status_history": [[s, t] for s, t in self.status_history],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "remote_image_url": self.remote_image_url,
            "remote_urls": list(self.remote_urls),
            "images": [e.to_json() for e in self.images],
            "buttons": list(self.buttons),
            "used_buttons": list(self.used_buttons),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "credits": self.credits,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, data: Any) -> "JobRecord":
        """Parse a record written by ``to_json`` (a dict or its JSON text); raise RecordError otherwise."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                raise RecordError("record is not valid JSON") from None
        if not isinstance(data, Mapping):
            raise RecordError(f"record is a {type(data).__name__}, not an object")
        version = data.get("v")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise RecordError(f"record schema version {str(version)[:10]!r} is not {SCHEMA_VERSION}")
        job_id = _job_id(data.get("id"), "id")
        owner = _str(data, "owner", required=True, limit=256)
        if not owner:
            raise RecordError("record field 'owner' is empty")
        kind = data.get("kind", "generate")
        if kind not in _KINDS:
            raise RecordError(f"record field 'kind' has unknown value {str(kind)[:20]!r}")
        parent = data.get("parent_id")
        request = data.get("request") or {}
        if not isinstance(request, Mapping):
            raise RecordError("record field 'request' is not an object")
        history_raw = data.get("status_history") or []
        if not isinstance(history_raw, list):
            raise RecordError("record field 'status_history' is not a list")
        history: list[tuple[str, float]] = []
        for item in history_raw:
            if not (isinstance(item, (list, tuple)) and len(item) == 2):
                raise RecordError("status history entry is not a [state, time] pair")
            state_name = _enum(RecordState, item[0], "status_history").value
            history.append((state_name, _num({"t": item[1]}, "t", required=True)))  # type: ignore[arg-type]
        images_raw = data.get("images") or []
        if not isinstance(images_raw, list) or len(images_raw) > MAX_IMAGES_PER_JOB:
            raise RecordError("record field 'images' is not a list of at most 16 entries")
        images = [ImageEntry.from_json(item, job_id) for item in images_raw]
        if len({e.index for e in images}) != len(images):
            raise RecordError("record has two image entries with the same index")
        created = _num(data, "created_at", required=True)
        assert created is not None
        error_code = data.get("error_code")
        if error_code is not None and (isinstance(error_code, bool) or not isinstance(error_code, int)):
            raise RecordError("record field 'error_code' is not an integer")
        return cls(
            id=job_id,
            owner=owner,
            kind=kind,
            parent_id=_job_id(parent, "parent_id") if parent is not None else None,
            button=_str(data, "button", limit=8),
            request=dict(request),
            batch_id=_str(data, "batch_id", limit=64),
            batch_index=_int(data, "batch_index", default=0, hi=1000) or 0,
            state=_enum(RecordState, data.get("state"), "state"),
            status_history=history,
            created_at=created,
            updated_at=_num(data, "updated_at") or created,
            finished_at=_num(data, "finished_at"),
            remote_image_url=_str(data, "remote_image_url"),
            remote_urls=_str_list(data, "remote_urls"),
            images=sorted(images, key=lambda e: e.index),
            buttons=_str_list(data, "buttons"),
            used_buttons=_str_list(data, "used_buttons"),
            error_code=error_code,
            error_message=_str(data, "error_message"),
            credits=_int(data, "credits", hi=10**9),
        )


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, newest first; pass ``next_cursor`` back to get the next page."""

    items: list[T]
    next_cursor: str | None = None
    """Opaque; None on the last page."""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def paginate(list_method: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
    """Every item of every page: ``for record in paginate(store.list_jobs, owner): ...``."""
    cursor = None
    while True:
        page = list_method(*args, cursor=cursor, **kwargs)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
