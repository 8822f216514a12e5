"""Records to and from JSON: the only reader of stored records, strict, with the schema's migrations.

``record_from_json`` refuses anything it does not fully understand with ``RecordError`` (the store logs
and skips such records), except a job *state* it does not know: that reads as ``STOPPED`` (resumable)
with a warning, so a state added by a newer version never makes a job vanish from an older one's history.
Local paths must have the store's shape, so a tampered record can never point the UI at another file.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import fields
from enum import Enum
from typing import Any, Mapping

from ..akool.errors import InvalidRequest
from ..akool.models import ImageRequest, validate_job_id
from .record import KINDS, MAX_IMAGES_PER_JOB, SCHEMA_VERSION, ImageEntry, JobRecord, RecordError
from .states import ImageState, RecordState

__all__ = ["record_to_json", "record_from_json", "entry_to_json", "entry_from_json", "request_to_dict",
           "REQUEST_FIELDS"]

log = logging.getLogger(__name__)

# Local paths are relative to the cache directory and always have this shape.
_ORIGINAL_PATH = re.compile(r"images/([0-9a-f]{2})/([0-9a-f]{24})/(\d{1,2})\.(jpg|png|webp)")
_PREVIEW_PATH = re.compile(r"images/([0-9a-f]{2})/([0-9a-f]{24})/(\d{1,2})\.preview\.webp")
_MAX_TEXT = 4000
# The request parameters a record keeps: every field of ImageRequest (declared once, there), except the
# webhook URL, which is ours, not the person's.
REQUEST_FIELDS = tuple(f.name for f in fields(ImageRequest) if f.name != "webhook_url")


def request_to_dict(request: ImageRequest | Mapping[str, Any] | None) -> dict[str, Any]:
    """The request parameters a record keeps (unset ones left out)."""
    if request is None:
        return {}
    data = request.to_json() if isinstance(request, ImageRequest) else dict(request)
    return {k: data[k] for k in REQUEST_FIELDS if k in data and data[k] is not None}


def _history_state(value: Any) -> str:
    """A state name in the history: ours, or a well-formed name from a newer version (kept as written)."""
    if isinstance(value, str) and (value in RecordState._value2member_map_ or re.fullmatch(r"[a-z_]{1,32}", value)):
        return value
    raise RecordError(f"record field 'status_history' has unknown value {str(value)[:20]!r}")


def _state(value: Any, job_id: str) -> RecordState:
    try:
        return RecordState(value)
    except ValueError:
        if isinstance(value, str) and re.fullmatch(r"[a-z_]{1,32}", value):
            log.warning("job %s is in state %r, unknown to this version: shown as stopped", job_id, value)
            return RecordState.STOPPED
        raise RecordError(f"record field 'state' has unknown value {str(value)[:20]!r}") from None


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


def entry_to_json(self: ImageEntry) -> dict[str, Any]:
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

def entry_from_json(data: Any, job_id: str) -> ImageEntry:
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
    return ImageEntry(
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


def record_to_json(self: JobRecord) -> dict[str, Any]:
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
        "images": [entry_to_json(e) for e in self.images],
        "buttons": list(self.buttons),
        "used_buttons": list(self.used_buttons),
        "error_code": self.error_code,
        "error_message": self.error_message,
        "credits": self.credits,
        **({"intent_token": self.intent_token} if self.intent_token else {}),
        **({"answered_ids": list(self.answered_ids)} if self.answered_ids else {}),
        **({"search": self.search} if self.search else {}),
    }

def record_from_json(data: Any) -> JobRecord:
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
    if kind not in KINDS:
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
        state_name = _history_state(item[0])
        history.append((state_name, _num({"t": item[1]}, "t", required=True)))  # type: ignore[arg-type]
    images_raw = data.get("images") or []
    if not isinstance(images_raw, list) or len(images_raw) > MAX_IMAGES_PER_JOB:
        raise RecordError("record field 'images' is not a list of at most 16 entries")
    images = [entry_from_json(item, job_id) for item in images_raw]
    if len({e.index for e in images}) != len(images):
        raise RecordError("record has two image entries with the same index")
    created = _num(data, "created_at", required=True)
    assert created is not None
    error_code = data.get("error_code")
    if error_code is not None and (isinstance(error_code, bool) or not isinstance(error_code, int)):
        raise RecordError("record field 'error_code' is not an integer")
    return JobRecord(
        id=job_id,
        owner=owner,
        kind=kind,
        parent_id=_job_id(parent, "parent_id") if parent is not None else None,
        button=_str(data, "button", limit=8),
        request=dict(request),
        batch_id=_str(data, "batch_id", limit=64),
        batch_index=_int(data, "batch_index", default=0, hi=1000) or 0,
        state=_state(data.get("state"), job_id),
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
        intent_token=_token(data.get("intent_token")),
        answered_ids=[_job_id(v, "answered_ids") for v in _str_list(data, "answered_ids")][:MAX_IMAGES_PER_JOB],
        search=_str(data, "search", limit=20),
    )


def _token(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        raise RecordError("record field 'intent_token' is not 32 hex characters")
    return value
