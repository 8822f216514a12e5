"""The values a request may hold and the checks that keep anything else from being sent: buttons, ratios,
resolutions, models, job ids, URLs, prompts. ``models`` builds its requests on these (and re-exports them).
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidRequest

__all__ = [
    "BUTTONS", "UPSCALE_BUTTONS", "VARIATION_BUTTONS", "SCALES", "V3_SCALES", "RESOLUTIONS", "MODELS",
    "MAX_PROMPT_LENGTH", "MAX_URL_LENGTH", "MAX_SOURCE_IMAGES", "validate_job_id", "validate_button",
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
# Akool reads only the first source image; a few more are passed on as sent, a long list is a mistake.
MAX_SOURCE_IMAGES = 4

_JOB_ID = re.compile(r"[0-9a-f]{24}")


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
