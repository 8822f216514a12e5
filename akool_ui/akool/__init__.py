"""A small client for Akool's Image Generate API. No Gradio, no disk: publishable on its own."""

from .auth import ApiKeyAuth, TokenAuth
from .client import DEFAULT_BASE_URL, AkoolClient
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _error_names
from .models import (
    BUTTONS,
    RESOLUTIONS,
    SCALES,
    ImageRequest,
    Job,
    JobStatus,
    StatusUpdate,
    V3ImageRequest,
    validate_button,
    validate_job_id,
)
from .polling import DEFAULT_POLL_POLICY, PollPolicy
from .transport import RetryPolicy
from .webhook import WebhookEvent, parse_webhook

__all__ = [
    "AkoolClient",
    "ApiKeyAuth",
    "DEFAULT_BASE_URL",
    "RetryPolicy",
    "PollPolicy",
    "DEFAULT_POLL_POLICY",
    "TokenAuth",
    "BUTTONS",
    "RESOLUTIONS",
    "SCALES",
    "ImageRequest",
    "Job",
    "JobStatus",
    "StatusUpdate",
    "V3ImageRequest",
    "WebhookEvent",
    "parse_webhook",
    "validate_button",
    "validate_job_id",
    *_error_names,
]
