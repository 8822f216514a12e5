"""Everything that can go wrong when talking to Akool, as one exception tree.

Akool answers most failures with HTTP 200 and a business ``code`` in the JSON envelope, so the tree is
keyed by that code; transport and protocol failures sit beside it. Every error carries ``code`` (Akool's
number, or None), ``message`` (technical text, fine for logs) and ``user_message`` (one plain sentence
for the page). No secret is ever formatted into any of them.

    AkoolError
    ├── ApiError                    a business code other than 1000
    │   ├── InvalidRequest          1003 (also raised locally, before sending, by request validation)
    │   ├── AuthError               1101, 1102, 1109
    │   │   └── AccountBanned       1200
    │   ├── RateLimited             1005
    │   ├── QuotaExceeded           1006, 1103, 1104, 1213, 1221
    │   ├── JobNotFound             1008, 1014
    │   ├── PermissionDenied        1009
    │   ├── CannotOperate           1010, 1011
    │   ├── GenerationFailed        1108
    │   └── UnknownApiError         any other code (2001 "server error" included)
    ├── TransportError              the request did not get a usable HTTP answer
    │   ├── ConnectError            never reached the server (safe to retry anything)
    │   ├── RequestTimeout          reached it, no answer in time (a create may have happened!)
    │   ├── ConnectionDropped       reached it, connection broke before the answer (ditto)
    │   └── HttpStatusError         HTTP 4xx/5xx without an Akool envelope: an answer (nothing was done),
    │                               except 504, a gateway that gave up waiting for Akool (ditto)
    ├── ProtocolError               an answer we cannot parse (not JSON, wrong shape); ``partial_ids``
    │                               keeps the job ids still readable in a garbled answer
    ├── OutcomeUnknown              a credit-spending call may or may not have been accepted (``cause``
    │                               says what happened: ``lost_answer_phrase``)
    ├── JobFailed                   the job ended with image_status 4
    ├── JobTimedOut                 we stopped waiting at our deadline (also a TimeoutError)
    └── WebhookError                a callback we must not trust
        ├── InvalidSignature
        ├── DecryptError
        ├── StaleWebhook
        └── ReplayedWebhook         verified, but already accepted once (a duplicate delivery)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from .models import Job

__all__ = [
    "AkoolError",
    "ApiError",
    "InvalidRequest",
    "AuthError",
    "AccountBanned",
    "RateLimited",
    "QuotaExceeded",
    "JobNotFound",
    "PermissionDenied",
    "CannotOperate",
    "GenerationFailed",
    "UnknownApiError",
    "TransportError",
    "ConnectError",
    "RequestTimeout",
    "ConnectionDropped",
    "HttpStatusError",
    "ProtocolError",
    "OutcomeUnknown",
    "maybe_accepted",
    "lost_answer_phrase",
    "JobFailed",
    "JobTimedOut",
    "WebhookError",
    "InvalidSignature",
    "DecryptError",
    "StaleWebhook",
    "ReplayedWebhook",
    "error_for_code",
]


class AkoolError(Exception):
    """Root of every error this package raises; catch this to catch them all."""

    default_user_message: ClassVar[str] = "Something went wrong while talking to Akool. Please try again."

    def __init__(self, message: str = "", *, code: int | None = None, user_message: str | None = None):
        self.code = code
        self.message = message or self.default_user_message
        self.user_message = user_message or self.default_user_message
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code is not None else self.message

    @classmethod
    def from_envelope(cls, body: Mapping[str, Any], http_status: int | None = None) -> "ApiError":
        """Build the right ApiError subclass from an Akool ``{"code", "msg"}`` envelope."""
        code = body.get("code")
        try:
            code = int(code)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            code = None
        msg = str(body.get("msg") or body.get("message") or "")[:500]
        kind = error_for_code(code)
        detail = f"Akool answered code {code}" + (f": {msg}" if msg else "")
        if http_status is not None and http_status != 200:
            detail += f" (HTTP {http_status})"
        return kind(detail, code=code)


class ApiError(AkoolError):
    """Akool answered with a business code other than 1000."""


class InvalidRequest(ApiError):
    """The request was refused as invalid (1003), or failed our own validation before sending."""

    default_user_message = "Akool rejected the request as invalid. Please check the prompt and options."


class AuthError(ApiError):
    """The API key or token is missing, wrong or expired (1101, 1102, 1109)."""

    default_user_message = "Akool did not accept the API key. Please check it and try again."


class AccountBanned(AuthError):
    """The Akool account is blocked (1200)."""

    default_user_message = "This Akool account is blocked. Please contact Akool support."


class RateLimited(ApiError):
    """Too many requests in a short time (1005)."""

    default_user_message = "Akool says we are sending requests too quickly. Please wait a moment and try again."


class QuotaExceeded(ApiError):
    """Not enough credits, quota or subscription for this request (1006, 1103, 1104, 1213, 1221)."""

    default_user_message = "The Akool account has run out of credits or quota. Please top it up and try again."


class JobNotFound(ApiError):
    """Akool has no job with that id (1008, 1014)."""

    default_user_message = "Akool has no job with that id. It may have expired or never existed."


class PermissionDenied(ApiError):
    """The job belongs to another account (1009)."""

    default_user_message = "That job belongs to another Akool account."


class CannotOperate(ApiError):
    """The job cannot take this action, e.g. a button already used or not offered (1010, 1011)."""

    default_user_message = "Akool cannot do that with this image (the button may already have been used)."


class GenerationFailed(ApiError):
    """Akool failed to generate the image (1108)."""

    default_user_message = "Akool could not generate the image. Please try again later."


class UnknownApiError(ApiError):
    """A code this package does not know; the number is kept in ``code``."""

    default_user_message = "Akool reported an unexpected error. Please try again later."


class TransportError(AkoolError):
    """No usable HTTP answer came back."""

    default_user_message = "Could not reach Akool. Please check the network and try again."


class ConnectError(TransportError):
    """The connection could not be made, so the server surely never saw the request."""


class RequestTimeout(TransportError):
    """The server took too long to answer; it may still have acted on the request."""

    default_user_message = "Akool took too long to answer. Please try again in a moment."


class ConnectionDropped(TransportError):
    """The connection broke after the request was sent; the server may have acted on it."""


class HttpStatusError(TransportError):
    """An HTTP error status (e.g. 502) without an Akool envelope: a gateway's answer in Akool's stead."""

    default_user_message = "Akool is having trouble right now. Please try again in a moment."

    def __init__(self, message: str = "", *, status: int, **kwargs: Any):
        self.status = status
        kwargs.setdefault("user_message", _status_sentence(status))
        super().__init__(message or f"HTTP {status}", **kwargs)


# What a bare gateway status says, as a person reads it.
_STATUS_NAMES = {429: "too many requests", 500: "internal error", 502: "bad gateway", 503: "unavailable",
                 504: "gateway timeout"}


def _status_sentence(status: int) -> str:
    name = _STATUS_NAMES.get(status, "error")
    if status == 504:
        return f"Akool's gateway answered HTTP 504 ({name}): it gave up waiting for Akool."
    if status == 429:
        return "Akool answered HTTP 429 (too many requests) and did nothing. Please wait a moment and try again."
    if status >= 500:
        return f"Akool answered HTTP {status} ({name}) and did nothing. Please try again in a moment."
    return f"Akool answered HTTP {status} ({name}) and did nothing."


class ProtocolError(AkoolError):
    """Akool's answer could not be understood (not JSON, or not the documented shape).

    ``partial_ids``: the job ids still readable in a garbled (e.g. cut-off) answer, in order."""

    default_user_message = "Akool sent an answer we could not understand. Please try again later."
    partial_ids: tuple[str, ...] = ()


class OutcomeUnknown(AkoolError):
    """A create or a button press was sent but no readable answer came back: Akool may have accepted it
    (and charged for it). Trying again could pay twice, so the sentence says to wait, not to retry.

    ``cause``: the error that left it unknown (None: still waiting for the answer); ``intent_id``: the
    write-ahead record that stands for it, when the service keeps one."""

    default_user_message = (
        "Akool's answer to this request was lost, but it may have accepted it; we are looking for the "
        "images, so please don't send it again yet."
    )

    def __init__(self, message: str = "", *, cause: BaseException | None = None, intent_id: str | None = None,
                 **kwargs: Any):
        self.cause = cause
        self.intent_id = intent_id
        super().__init__(message, **kwargs)


def maybe_accepted(exc: BaseException) -> bool:
    """Whether a credit-spending request that raised ``exc`` may still have been carried out by Akool.

    No: the connection was never made (``ConnectError``), Akool answered with a business code (it
    refused), or a gateway answered a bare error status in its stead (a 502 is an answer: the request
    was not carried out). Yes: no answer came (a read timeout, the connection broke after sending, a
    gateway's 504 "gave up waiting for Akool"), or the answer could not be read."""
    if isinstance(exc, ConnectError) or isinstance(exc, ApiError):
        return False
    if isinstance(exc, HttpStatusError):
        return exc.status == 504
    return isinstance(exc, (TransportError, ProtocolError))


def lost_answer_phrase(exc: BaseException | None) -> str:
    """What happened to the answer of a request whose outcome is unknown, as a clause of a sentence."""
    if exc is None:
        return "Akool has not answered yet (we keep listening for its answer)"
    if isinstance(exc, RequestTimeout):
        return "Akool did not answer before we stopped listening"
    if isinstance(exc, ConnectionDropped):
        return "the connection dropped after the request reached Akool, before its answer arrived"
    if isinstance(exc, HttpStatusError):
        return f"Akool's gateway answered HTTP {exc.status} (it gave up waiting for Akool)"
    if isinstance(exc, ProtocolError):
        return "Akool's answer arrived malformed (cut off or not JSON)"
    return "the request was interrupted after it was sent (the app stopped, or the call broke off)"


class JobFailed(AkoolError):
    """The job finished with status 4 (failed); the job is attached."""

    default_user_message = "Akool could not generate this image. Please try again."

    def __init__(self, job: "Job", message: str = ""):
        self.job = job
        super().__init__(message or f"job {job.id} failed", code=job.error_code)


class JobTimedOut(AkoolError, TimeoutError):
    """We stopped waiting for a job at our deadline; it may still finish on Akool's side."""

    default_user_message = "The image is taking longer than expected. You can check again later."

    def __init__(self, job_id: str, timeout: float, message: str = ""):
        self.job_id = job_id
        self.timeout = timeout
        super().__init__(message or f"job {job_id} not done after {timeout:.0f}s")


class WebhookError(AkoolError):
    """A webhook call that must not be trusted."""

    default_user_message = "A callback from Akool could not be verified and was ignored."


class InvalidSignature(WebhookError):
    """The SHA-1 signature does not match."""


class DecryptError(WebhookError):
    """``dataEncrypt`` could not be decrypted into JSON."""


class StaleWebhook(WebhookError):
    """The timestamp is too far from now (possible replay)."""


class ReplayedWebhook(WebhookError):
    """A verified callback that was already accepted once: a duplicate delivery or a captured replay."""

    default_user_message = "A callback from Akool arrived a second time and the copy was ignored."


_ERRORS_BY_CODE: dict[int, type[ApiError]] = {
    1003: InvalidRequest,
    1005: RateLimited,
    1006: QuotaExceeded,
    1008: JobNotFound,
    1009: PermissionDenied,
    1010: CannotOperate,
    1011: CannotOperate,
    1014: JobNotFound,
    1101: AuthError,
    1102: AuthError,
    1103: QuotaExceeded,
    1104: QuotaExceeded,
    1108: GenerationFailed,
    1109: AuthError,
    1200: AccountBanned,
    1213: QuotaExceeded,
    1221: QuotaExceeded,
}


def error_for_code(code: int | None) -> type[ApiError]:
    """The exception class for an Akool business code (UnknownApiError when unlisted)."""
    return _ERRORS_BY_CODE.get(code, UnknownApiError) if code is not None else UnknownApiError
