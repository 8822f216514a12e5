"""Records (Job, StatusUpdate) and requests (ImageRequest, V3ImageRequest) of the Image Generate API.

``Job.from_api`` is the only place that reads Akool's wire format; request dataclasses validate in
``__post_init__`` so nothing invalid (or user-typed and unescaped) is ever sent.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import InvalidRequest, ProtocolError

__all__ = [
    "JobStatus",
    "Job",
    "StatusUpdate",
    "ImageRequest",
    "V3ImageRequest",
    "BUTTONS",
    "UPSCALE_BUTTONS",
    "VARIATION_BUTTONS",
    "SCALES",
    "V3_SCALES",
    "RESOLUTIONS",
    "MODELS",
    "MAX_PROMPT_LENGTH",
    "MAX_URL_LENGTH",
    "validate_job_id",
    "validate_button",
    "validate_source_url",
]

UPSCALE_BUTTONS = ("U1", "U2", "U3", "U4")
VARIATION_BUTTONS = ("V1", "V2", "V3", "V4")
BUTTONS = UPSCALE_BUTTONS + VARIATION_BUTTONS

# v4 ratios in the order Akool's docs list them; "Original" (keep the source's ratio) is image-to-image only.
SCALES = ("1:1", "3:2", "4:3", "16:9", "2:3", "3:4", "9:16", "Original")
V3_SCALES = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3")
RESOLUTIONS = ("1080p", "4k")
# v4 ``model_name`` values (akool-api.md §3.2) and what each is for. Not sending one ("Auto") lets Akool
# choose from whether a source image is given; naming the wrong one for the job is a 1003.
MODELS = {
    "wavespeed-ai/flux-krea-dev-lora": "text-to-image",
    "wavespeed-ai/flux-kontext-dev": "image-to-image",
}

# Akool documents no limit; 2000 characters is far beyond any useful FLUX prompt (its text encoder
# reads ~512 tokens) and keeps a pasted novel from being sent and charged.
MAX_PROMPT_LENGTH = 2000
# Browsers and CDNs commonly cap URLs near 2 KB; longer "URLs" are almost surely pasted data.
MAX_URL_LENGTH = 2048

_JOB_ID = re.compile(r"[0-9a-f]{24}")


class JobStatus(IntEnum):
    """Akool's ``image_status`` (and webhook ``status``)."""

    QUEUED = 1  # accepted, waiting for a worker
    PROCESSING = 2  # a worker is rendering it
    SUCCEEDED = 3  # done; result URL(s) present (they expire after 7 days)
    FAILED = 4  # done, no image; credits are usually refunded by Akool

    @property
    def is_done(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def label(self) -> str:
        return {1: "queued", 2: "processing", 3: "done", 4: "failed"}[int(self)]


def validate_job_id(job_id: Any) -> str:
    """Return the id normalised to lower case, or raise InvalidRequest: 24 hex characters only.

    Job ids end up in URLs and file names, so nothing else may pass.
    """
    text = str(job_id or "").strip().lower()
    if not _JOB_ID.fullmatch(text):
        raise InvalidRequest(
            "job id is not 24 hexadecimal characters",
            user_message="That is not a valid job id (it should be 24 characters of 0-9 and a-f).",
        )
    return text


def validate_button(button: Any) -> str:
    """Return the button in canonical form (``"U1"``), or raise InvalidRequest."""
    text = str(button or "").strip().upper()
    if text not in BUTTONS:
        raise InvalidRequest(
            f"unknown button {text[:8]!r}",
            user_message="The button must be one of U1-U4 (upscale) or V1-V4 (variation).",
        )
    return text


def validate_source_url(url: Any) -> str:
    """Return a stripped http(s) URL with a host, or raise InvalidRequest."""
    text = str(url or "").strip()
    parts = urlsplit(text) if len(text) <= MAX_URL_LENGTH else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 for ch in text)
    ):
        raise InvalidRequest(
            "source image is not an http(s) URL",
            user_message="The source image must be a web address starting with http:// or https://.",
        )
    return text


def _validate_prompt(prompt: Any, *, name: str = "prompt", required: bool = True) -> str:
    text = str(prompt or "").strip()
    if required and not text:
        raise InvalidRequest(f"{name} is empty", user_message="Please write a prompt describing the image.")
    if len(text) > MAX_PROMPT_LENGTH:
        raise InvalidRequest(
            f"{name} is {len(text)} characters",
            user_message=f"The {name.replace('_', ' ')} is too long ({len(text)} characters); "
            f"please keep it under {MAX_PROMPT_LENGTH}.",
        )
    return text


def _validate_choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    text = str(value or "").strip()
    if text not in allowed:
        raise InvalidRequest(
            f"{name} {text[:20]!r} not in {allowed}",
            user_message=f"The {name} must be one of {', '.join(allowed)}.",
        )
    return text


def _is_number(value: object) -> bool:
    """A finite int or float (bool is an int to Python, but ``true`` is not a batch size)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ImageRequest:
    """A v4 ``createBySourcePrompt`` request: text-to-image, or image-to-image with a source URL."""

    prompt: str
    negative_prompt: str = ""
    scale: str = "1:1"
    resolution: str = "4k"
    batch_quantity: int = 1
    source_image_url: str | None = None
    similar: float = 0.5
    model_name: str | None = None
    webhook_url: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, here
        set_(self, "prompt", _validate_prompt(self.prompt))
        set_(self, "negative_prompt", _validate_prompt(self.negative_prompt, name="negative_prompt", required=False))
        source = validate_source_url(self.source_image_url) if self.source_image_url else None
        set_(self, "source_image_url", source)
        set_(self, "scale", _validate_choice(self.scale, SCALES, "aspect ratio"))
        if self.scale == "Original" and not source:
            raise InvalidRequest(
                "scale Original without a source image",
                user_message="The 'Original' aspect ratio needs a source image.",
            )
        set_(self, "resolution", _validate_choice(self.resolution, RESOLUTIONS, "resolution"))
        # Judged as given (an API caller may send anything JSON holds): a real number, never a bool or a
        # string; 2.0 is a whole number, 2.5 is not rounded down to 2.
        raw_batch = self.batch_quantity
        if not _is_number(raw_batch) or not float(raw_batch).is_integer() or not 1 <= raw_batch <= 4:
            raise InvalidRequest("batch_quantity out of range", user_message="The batch size must be 1, 2, 3 or 4.")
        set_(self, "batch_quantity", int(raw_batch))
        raw_similar = self.similar
        if not _is_number(raw_similar) or not 0.0 <= float(raw_similar) <= 1.0:
            raise InvalidRequest("similar out of range", user_message="'Similar' must be a number from 0 to 1.")
        set_(self, "similar", float(raw_similar))
        model = str(self.model_name or "").strip() or None
        if model is not None:
            set_(self, "model_name", _validate_choice(model, tuple(MODELS), "model"))
            wanted = "image-to-image" if source else "text-to-image"
            if MODELS[model] != wanted:
                raise InvalidRequest(
                    f"model {model} is for {MODELS[model]}",
                    user_message=f"The model {model} is for {MODELS[model]}; choose Auto or a {wanted} model.",
                )
        else:
            set_(self, "model_name", None)
        if self.webhook_url:
            set_(self, "webhook_url", validate_source_url(self.webhook_url))

    @property
    def is_image_to_image(self) -> bool:
        return bool(self.source_image_url)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body for ``POST /api/open/v4/content/image/createBySourcePrompt``."""
        body: dict[str, Any] = {
            "prompt": self.prompt,
            "scale": self.scale,
            "resolution": self.resolution,
            "batch_quantity": self.batch_quantity,
        }
        if self.negative_prompt:
            body["negative_prompt"] = self.negative_prompt
        if self.source_image_url:
            body["source_images"] = [self.source_image_url]
            body["similar"] = self.similar
        if self.model_name:
            body["model_name"] = self.model_name
        if self.webhook_url:
            body["webhookurl"] = self.webhook_url  # all lower-case on v4 (v3 uses webhookUrl)
        return body

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageRequest":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class V3ImageRequest:
    """A v3 ``createbyprompt`` request (deprecated by Akool, still served)."""

    prompt: str
    scale: str = "1:1"
    source_image_url: str | None = None
    webhook_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompt", _validate_prompt(self.prompt))
        object.__setattr__(self, "scale", _validate_choice(self.scale, V3_SCALES, "aspect ratio"))
        if self.source_image_url:
            object.__setattr__(self, "source_image_url", validate_source_url(self.source_image_url))
        if self.webhook_url:
            object.__setattr__(self, "webhook_url", validate_source_url(self.webhook_url))

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": self.prompt, "scale": self.scale, "webhookUrl": self.webhook_url or ""}
        if self.source_image_url:
            body["source_image"] = self.source_image_url
        return body


def _str_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ProtocolError(f"expected a list, got {type(value).__name__}")
    return tuple(str(v) for v in value if v)


@dataclass(frozen=True)
class Job:
    """One Akool image job as last seen: a generation, or the child of a U/V button press."""

    id: str
    """24-hex job id (Akool's ``_id``); what ``infobymodelid`` takes."""
    status: JobStatus
    image_url: str | None = None
    """``image``: the main result (a 2x2 grid for generations, the single image for U jobs)."""
    candidate_urls: tuple[str, ...] = ()
    """``upscaled_urls``: the separate candidates behind the grid, when Akool provides them."""
    buttons: tuple[str, ...] = ()
    """Buttons still available (``U1``..``V4``)."""
    used_buttons: tuple[str, ...] = ()
    parent_id: str | None = None
    """For a button job: the job whose button was pressed (``image_content_model_id``)."""
    button: str | None = None
    """For a button job: which button made it (``op_button``)."""
    created_at: int | None = None
    """Epoch milliseconds (``create_time``)."""
    prompt: str | None = None
    source_image: str | None = None
    credits: int | None = None
    model_name: str | None = None
    error_code: int | None = None
    error_message: str | None = None

    @property
    def is_done(self) -> bool:
        return self.status.is_done

    @property
    def succeeded(self) -> bool:
        return self.status is JobStatus.SUCCEEDED

    @property
    def result_urls(self) -> tuple[str, ...]:
        """The images a person wants: the candidates if listed, else the single ``image``."""
        if self.candidate_urls:
            return self.candidate_urls
        return (self.image_url,) if self.image_url else ()

    def can_press(self, button: str) -> bool:
        return button in self.buttons and button not in self.used_buttons

    @classmethod
    def from_api(cls, data: Any) -> "Job":
        """Parse one job object from any endpoint's ``data``; unknown fields are ignored."""
        if not isinstance(data, Mapping):
            raise ProtocolError(f"expected a job object, got {type(data).__name__}")
        raw_id = data.get("_id")
        if not isinstance(raw_id, str) or not _JOB_ID.fullmatch(raw_id.lower()):
            raise ProtocolError("job object without a valid _id")
        try:
            status = JobStatus(int(data.get("image_status", JobStatus.QUEUED)))
        except (TypeError, ValueError):
            raise ProtocolError(f"unknown image_status {data.get('image_status')!r}") from None
        parent = data.get("image_content_model_id")
        button = data.get("op_button")
        created = data.get("create_time")
        credits = data.get("deduction_credit")
        return cls(
            id=raw_id.lower(),
            status=status,
            image_url=(data.get("image") or data.get("external_img") or None),
            candidate_urls=_str_tuple(data.get("upscaled_urls")),
            buttons=_str_tuple(data.get("buttons")),
            used_buttons=_str_tuple(data.get("used_buttons")),
            parent_id=parent.lower() if isinstance(parent, str) and parent else None,
            button=button if isinstance(button, str) and button else None,
            created_at=int(created) if isinstance(created, (int, float)) else None,
            prompt=data.get("origin_prompt") or data.get("prompt") or None,
            source_image=data.get("source_image") or None,
            credits=int(credits) if isinstance(credits, (int, float)) else None,
            model_name=data.get("model_name") or None,
            error_code=data.get("error_code") if isinstance(data.get("error_code"), int) else None,
            error_message=str(data.get("error_msg"))[:500] if data.get("error_msg") else None,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = int(self.status)
        for key in ("candidate_urls", "buttons", "used_buttons"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Job":
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["status"] = JobStatus(int(kwargs.get("status", 1)))
        for key in ("candidate_urls", "buttons", "used_buttons"):
            kwargs[key] = tuple(kwargs.get(key) or ())
        return cls(**kwargs)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


@dataclass(frozen=True)
class StatusUpdate:
    """One step of ``AkoolClient.wait``: the job as last polled, and how long we have waited."""

    job: Job
    elapsed: float
    """Seconds since waiting began."""
    polls: int
    """Status requests made so far."""
    changed: bool = field(default=True)
    """Whether the status differs from the previous update."""

    @property
    def status(self) -> JobStatus:
        return self.job.status
