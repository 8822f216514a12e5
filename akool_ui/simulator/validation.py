"""The simulator's own checks of raw request JSON (it answers 1003 even when a client skips its own).

Rules beyond the documented types and enums are simulator choices, listed in README.md: a prompt of at
most ``MAX_PROMPT_LENGTH`` characters, http(s) URLs only, strict enum spelling, numbers as JSON numbers.
``null`` counts as "not sent"; unknown keys are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..akool.errors import InvalidRequest
from ..akool.models import BUTTONS, MAX_PROMPT_LENGTH, RESOLUTIONS, SCALES, V3_SCALES, validate_source_url
from .codes import SimError
from .jobs import MODEL_I2I, MODEL_T2I

__all__ = ["CreateSpec", "parse_body", "parse_v3", "parse_v4", "parse_button", "parse_job_id", "V4_MODELS"]

V4_MODELS = (MODEL_T2I, MODEL_I2I)
MAX_BODY_BYTES = 1_000_000  # a create body is a few hundred bytes; refuse megabytes of "prompt"


@dataclass(frozen=True)
class CreateSpec:
    """A validated create request (v3 or v4)."""

    api: str
    prompt: str
    scale: str = "1:1"
    resolution: str = "1080p"
    source_url: str = ""
    similar: float = 0.5
    negative_prompt: str = ""
    model_name: str = ""
    batch: int = 1
    webhook_url: str = ""


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or SimError 1003."""
    if len(raw) > MAX_BODY_BYTES:
        raise SimError(1003, "request body is too large")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        raise SimError(1003, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SimError(1003, "request body must be a JSON object")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(body: Mapping[str, Any], key: str, *, required: bool = False, limit: int = MAX_PROMPT_LENGTH) -> str:
    value = body.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise SimError(1003, f"{key} must be a string")
    value = value.strip()
    if required and not value:
        raise SimError(1003, f"{key} cannot be empty")
    if len(value) > limit:
        raise SimError(1003, f"{key} is longer than {limit} characters")
    return value


def _url(value: Any, key: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise SimError(1003, f"{key} must be a string")
    try:
        return validate_source_url(value)
    except InvalidRequest:
        raise SimError(1003, f"{key} must be an http(s) URL") from None


def _choice(body: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise SimError(1003, f"{key} must be one of {', '.join(allowed)}")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def parse_v3(body: Mapping[str, Any]) -> CreateSpec:
    """``createbyprompt``: prompt, scale (7 ratios), source_image URL, webhookUrl."""
    return CreateSpec(
        api="v3",
        prompt=_text(body, "prompt", required=True),
        scale=_choice(body, "scale", V3_SCALES, "1:1"),
        source_url=_url(body.get("source_image"), "source_image"),
        webhook_url=_url(body.get("webhookUrl"), "webhookUrl"),
    )


def parse_v4(body: Mapping[str, Any]) -> CreateSpec:
    """``createBySourcePrompt``: see akool-api.md §3.2 for the fields and their defaults."""
    prompt = _text(body, "prompt", required=True)
    negative = _text(body, "negative_prompt")
    sources = body.get("source_images")
    if sources is None:
        sources = []
    if not isinstance(sources, list):
        raise SimError(1003, "source_images must be an array of URLs")
    urls = [_url(u, "source_images") for u in sources]
    if any(not u for u in urls):
        raise SimError(1003, "source_images cannot contain empty entries")
    source = urls[0] if urls else ""  # only the first one is used
    model = body.get("model_name")
    if model is None or model == "":
        model = MODEL_I2I if source else MODEL_T2I
    if model not in V4_MODELS:
        raise SimError(1003, f"model_name must be one of {', '.join(V4_MODELS)}")
    if (model == MODEL_I2I) != bool(source):
        raise SimError(1003, f"{model} needs {'a' if model == MODEL_I2I else 'no'} source image")
    scale = _choice(body, "scale", SCALES, "1:1")
    if scale == "Original" and not source:
        raise SimError(1003, "scale Original is only for image-to-image")
    resolution = _choice(body, "resolution", RESOLUTIONS, "4k")
    batch_raw = body.get("batch_quantity")
    batch = 1 if batch_raw is None else _number(batch_raw)
    if batch is None or not float(batch).is_integer() or not 1 <= batch <= 4:
        raise SimError(1003, "batch_quantity must be an integer from 1 to 4")
    similar_raw = body.get("similar")
    similar = 0.5 if similar_raw is None else _number(similar_raw)
    if similar is None or not 0.0 <= similar <= 1.0:
        raise SimError(1003, "similar must be a number from 0 to 1")
    return CreateSpec(
        api="v4", prompt=prompt, scale=scale, resolution=resolution, source_url=source,
        similar=float(similar), negative_prompt=negative, model_name=model, batch=int(batch),
        webhook_url=_url(body.get("webhookurl"), "webhookurl"),
    )


def parse_job_id(value: Any, key: str = "image_model_id") -> str:
    """A 24-hex id (either case; answered lower-case), or SimError 1003."""
    if not isinstance(value, str) or not value.strip():
        raise SimError(1003, f"{key} cannot be empty")
    text = value.strip().lower()
    if len(text) != 24 or any(c not in "0123456789abcdef" for c in text):
        raise SimError(1003, f"{key} is not a valid id")
    return text


def parse_button(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """``createbybutton``: (_id, button, webhookUrl). The button must be spelled exactly (``U1``)."""
    job_id = parse_job_id(body.get("_id"), "_id")
    button = body.get("button")
    if not isinstance(button, str) or button not in BUTTONS:
        raise SimError(1003, f"button must be one of {', '.join(BUTTONS)}")
    return job_id, button, _url(body.get("webhookUrl"), "webhookUrl")
