"""Sending one HTTP request with bounded retries, and turning requests' exceptions into ours.

This is the only place that retries. The rule is about money: a create call spends credits, so it is
repeated only when the request surely never reached Akool.

=======================  =========================================  ===========================
what went wrong          idempotent (GET infobymodelid, getToken)   credit-spending POST
=======================  =========================================  ===========================
connect refused / DNS /  retry                                      retry
connect timeout          (``ConnectError``)                         (``ConnectError``)
read timeout             retry (``RequestTimeout``)                 raise at once
connection dropped       retry (``ConnectionDropped``)              raise at once
HTTP 429/500/502/503/504 retry, honouring ``Retry-After``           return the response as is
=======================  =========================================  ===========================

Sleeps between attempts grow exponentially with jitter and are capped (``RetryPolicy``); pass
``RetryPolicy(backoff=0)`` or an instant ``sleep`` to make tests fast.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import ProxyError as _Urllib3ProxyError

from .errors import (
    ConnectError,
    ConnectionDropped,
    ProtocolError,
    RequestTimeout,
    TransportError,
)

__all__ = ["RetryPolicy", "NO_RETRIES", "send_with_retries", "transport_error"]

log = logging.getLogger(__name__)

# Gateways answer these while Akool restarts or is overloaded; they are worth another try for a GET.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Four attempts with 0.5 s, 1 s, 2 s pauses ride out a short gateway hiccup (a few seconds) without
# keeping a person staring at a spinner for long.
DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_BACKOFF = 8.0
# A server asking for more than this is effectively down; we wait at most this long per attempt.
DEFAULT_MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to repeat a request that may succeed on another try."""

    attempts: int = DEFAULT_ATTEMPTS
    """Total tries including the first; 1 disables retries."""
    backoff: float = DEFAULT_BACKOFF
    """Pause before the first retry, in seconds; doubles on each further retry."""
    max_backoff: float = DEFAULT_MAX_BACKOFF
    """Cap on any single pause (jitter included)."""
    jitter: float = 0.25
    """Up to this fraction is added at random to a pause, so many clients do not retry in lockstep."""
    statuses: frozenset[int] = RETRY_STATUSES
    """HTTP statuses retried for idempotent requests."""
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    """Cap on a server's ``Retry-After``."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0 or self.jitter < 0 or self.max_retry_after < 0:
            raise ValueError("backoff, max_backoff, jitter and max_retry_after must not be negative")

    def pause(self, retry: int, retry_after: float | None = None, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        base = min(self.backoff * 2 ** (retry - 1), self.max_backoff)
        return min(base * (1 + self.jitter * rand()), self.max_backoff)


NO_RETRIES = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), or None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT; be lenient with servers that omit it
        return None
    return max(when.timestamp() - now(), 0.0)


def _connect_failed(exc: requests.RequestException) -> bool:
    """True when requests' exception proves the request never left this machine.

    requests raises ``ConnectionError`` both for "could not connect" and for "connection dropped
    mid-answer"; only the first wraps urllib3's MaxRetryError with a connect-type reason.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, MaxRetryError):
            return isinstance(inner.reason, (ConnectTimeoutError, _Urllib3ProxyError))
    return False


def transport_error(exc: requests.RequestException, what: str) -> tuple[TransportError | ProtocolError, bool]:
    """Our exception for one of requests' (message free of URLs' hosts and of any header), and
    whether the request surely never reached the server.

    ``what`` names the request for the message, e.g. ``"GET /api/open/v3/content/image/infobymodelid"``.
    """
    if _connect_failed(exc):
        return ConnectError(f"{what}: could not connect to Akool ({_reason(exc)})"), True
    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectError(f"{what}: TLS handshake with Akool failed"), False  # retrying will not help
    if isinstance(exc, requests.Timeout):  # ReadTimeout; ConnectTimeout was handled above
        return RequestTimeout(f"{what}: Akool did not answer in time"), False
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return ConnectionDropped(f"{what}: connection dropped before Akool's answer arrived ({_reason(exc)})"), False
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return ProtocolError(f"{what}: Akool's answer could not be decoded"), False
    return TransportError(f"{what}: request failed ({type(exc).__name__})"), False


def _reason(exc: BaseException) -> str:
    """A short, secret-free name for the root cause, e.g. ``ConnectionRefusedError``, ``RemoteDisconnected``."""
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    if len(cause.args) > 1 and isinstance(cause.args[-1], BaseException):  # ProtocolError("aborted", err)
        cause = cause.args[-1]
    return type(cause.__cause__ or cause).__name__


def send_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    idempotent: bool,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> requests.Response:
    """``session.request(method, url, **kwargs)`` with the retry rules in the module docstring.

    Returns the last response (which may carry a retryable status once attempts run out); raises a
    TransportError subclass (``from`` requests' exception) when no response came back.
    """
    attempt = 0
    while True:
        attempt += 1
        retry_after: float | None = None
        try:
            response = session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            error, unsent = transport_error(exc, what)
            retryable = unsent or (idempotent and isinstance(error, (RequestTimeout, ConnectionDropped)))
            if not retryable or attempt >= policy.attempts:
                raise error from exc
            outcome = type(error).__name__
        else:
            if not (idempotent and response.status_code in policy.statuses) or attempt >= policy.attempts:
                return response
            outcome = f"HTTP {response.status_code}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            response.close()
        pause = policy.pause(attempt, retry_after)
        log.warning("%s: %s; retry %d of %d in %.2fs", what, outcome, attempt, policy.attempts - 1, pause)
        if pause > 0:
            sleep(pause)
