"""Records (Job, StatusUpdate) and requests (ImageRequest, V3ImageRequest) of the Image Generate API.

``Job.from_api`` is the only place that reads Akool's wire format; request dataclasses validate in
``__post_init__`` so nothing invalid (or user-typed and unescaped) is ever sent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from typing import Any, Mapping

from .errors import InvalidRequest, ProtocolError
from .validation import (  # noqa: F401 - re-exported: models is where callers have always found them
    _JOB_ID, BUTTONS, MAX_PROMPT_LENGTH, MAX_SOURCE_IMAGES, MAX_URL_LENGTH, MODELS, RESOLUTIONS, SCALES,
    UPSCALE_BUTTONS, V3_SCALES, VARIATION_BUTTONS, _is_number, _validate_choice, _validate_prompt,
    validate_button, validate_job_id, validate_source_url,
)

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


@dataclass(frozen=True)
class ImageRequest:
    """A v4 ``createBySourcePrompt`` request: text-to-image, or image-to-image with a source URL."""

    prompt: str
    negative_prompt: str = ""
    scale: str = "1:1"
    resolution: str = "1080p"  # the page's, the API's and the CLI's default (fields.py)
    batch_quantity: int = 1
    source_images: tuple[str, ...] = ()  # Akool's list of source URLs (image-to-image); it uses the first
    similar: float = 0.5
    model_name: str | None = None
    webhook_url: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, here
        set_(self, "prompt", _validate_prompt(self.prompt))
        set_(self, "negative_prompt", _validate_prompt(self.negative_prompt, name="negative_prompt", required=False))
        raw_sources = self.source_images if self.source_images is not None else ()
        if isinstance(raw_sources, str):
            raw_sources = (raw_sources,)
        if not isinstance(raw_sources, (list, tuple)) or not all(isinstance(u, str) for u in raw_sources):
            raise InvalidRequest("source_images is not a list of URLs",
                                 user_message="The source images must be a list of web addresses.")
        given = [u for u in raw_sources if u.strip()]
        if len(given) > MAX_SOURCE_IMAGES:
            raise InvalidRequest(f"{len(given)} source images", user_message=(
                f"At most {MAX_SOURCE_IMAGES} source images, please (Akool uses the first)."))
        set_(self, "source_images", tuple(validate_source_url(u) for u in given))
        source = self.source_image_url
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
    def source_image_url(self) -> str | None:
        """The source Akool uses: the first of ``source_images``."""
        return self.source_images[0] if self.source_images else None

    @property
    def is_image_to_image(self) -> bool:
        return bool(self.source_images)

    @property
    def source_urls(self) -> tuple[str, ...]:
        """Every source URL the request sends (Akool fetches them: each must be public)."""
        return self.source_images

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
        if self.source_images:
            body["source_images"] = list(self.source_images)
            body["similar"] = self.similar
        if self.model_name:
            body["model_name"] = self.model_name
        if self.webhook_url:
            body["webhookurl"] = self.webhook_url  # all lower-case on v4 (v3 uses webhookUrl)
        return body

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "source_images": list(self.source_images)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageRequest":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "source_images" not in data and data.get("source_image_url"):  # saved before the list
            values["source_images"] = [data["source_image_url"]]
        return cls(**values)


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
