"""``AkoolClient``: one method per Image Generate endpoint, ``credit`` (the account's balance), and
``wait`` for a job to finish.

Every call goes through ``AkoolClient._request``, which sends (with the retry rules of ``transport``),
unwraps Akool's ``{"code", "msg", "data"}`` envelope and raises an ``AkoolError`` from the code, because
Akool reports failures inside HTTP 200. Endpoint methods validate their input before anything is sent
and return ``models`` dataclasses.

A client may be shared between threads: the session's connection pool is thread-safe, the token cache
is locked, and no method keeps per-call state on the client.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .auth import ApiKeyAuth, TokenAuth
from .errors import (
    AkoolError,
    AuthError,
    HttpStatusError,
    ProtocolError,
    WebhookError,
)
from .models import (
    ImageRequest,
    Job,
    V3ImageRequest,
    validate_button,
    validate_job_id,
    validate_source_url,
)
from .salvage import ids_in_partial, next_ids
from .transport import RetryPolicy, send_with_retries
from .account import AccountCredit
from .waiting import Waiting
from .webhook import DEFAULT_TOLERANCE_SECONDS, WebhookEvent, parse_webhook

try:  # the package can be lifted out of akool_ui and still work
    from akool_ui import __version__
except ImportError:  # pragma: no cover
    __version__ = "0"

__all__ = ["AkoolClient", "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "DEFAULT_SPEND_TIMEOUT", "USER_AGENT", "ENDPOINTS"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://openapi.akool.com"
# (connect, read). Connecting should be near-instant; a create answers in about a second, but a slow
# gateway can take much longer, and giving up too early on a create wastes credits (it may have run).
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
# A credit-spending call (create, press) is listened to much longer: a slow answer heard late is a job
# found, a socket closed early is a job paid for and lost. Callers that cannot wait that long hand the
# call to a thread (the service's intents do) and tell the person meanwhile.
DEFAULT_SPEND_TIMEOUT: tuple[float, float] = (5.0, 300.0)
USER_AGENT = f"akool-image-studio/{__version__}"
# Enough connections for one poller thread per in-flight job (4 per batch, a few batches at once).
POOL_SIZE = 16
SUCCESS = 1000

# kind -> (method, path, idempotent). The kinds match the simulator's request counters.
ENDPOINTS: dict[str, tuple[str, str, bool]] = {
    "token": ("POST", "/api/open/v3/getToken", True),  # same credentials, same token: safe to repeat
    "create_v3": ("POST", "/api/open/v3/content/image/createbyprompt", False),
    "create_v4": ("POST", "/api/open/v4/content/image/createBySourcePrompt", False),
    "button": ("POST", "/api/open/v3/content/image/createbybutton", False),
    "info": ("GET", "/api/open/v3/content/image/infobymodelid", True),
    # The account's credit: documented under face swap, yet it is the account's (docs/credits.md).
    "quota": ("GET", "/api/open/v3/faceswap/quota/info", True),
}


class AkoolClient(Waiting, AccountCredit):
    """A client for Akool's Image Generate API.

    Args:
        base_url: where Akool lives (the simulator's URL in tests and demo mode).
        api_key: the API key, sent as ``x-api-key`` (Akool's recommended method).
        client_id, client_secret: the legacy key pair; used for ``getToken`` → ``Authorization: Bearer``
            when no ``api_key`` is given, and always for webhook decryption.
        timeout: seconds, or a ``(connect, read)`` tuple.
        spend_timeout: the same for credit-spending calls (create, press): how long their answer is
            listened for (default ``DEFAULT_SPEND_TIMEOUT``).
        session: a ``requests.Session`` to use as is; by default one is built and owned.
        retry: the retry policy (see ``transport``); ``RetryPolicy(backoff=0)`` for fast tests.
        send_both: with api_key *and* client id/secret, send both headers (Akool then uses the token).
        sleep: how retries wait (injectable for tests).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        spend_timeout: float | tuple[float, float] = DEFAULT_SPEND_TIMEOUT,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        send_both: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ):
        parts = urlsplit(str(base_url or ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        if parts.username or parts.password:  # it would end up in reprs, logs and messages
            raise ValueError("base_url must not carry credentials; pass api_key or client_id/client_secret")
        self.base_url = str(base_url).rstrip("/")
        self.timeout = timeout
        self.spend_timeout = spend_timeout
        self.retry = retry or RetryPolicy()
        self._api_key = api_key or None
        self._client_id = client_id or None
        self._client_secret = client_secret or None
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session if session is not None else _build_session()
        self.auth = self._build_auth(send_both)

    # -- construction ---------------------------------------------------------------------------

    def _build_auth(self, send_both: bool) -> AuthBase | None:
        has_pair = bool(self._client_id and self._client_secret)
        if has_pair and (send_both or not self._api_key):
            return TokenAuth(self.get_token, api_key=self._api_key if send_both else None)
        if self._api_key:
            return ApiKeyAuth(self._api_key)
        return None  # every call will be refused with 1102 (AuthError)

    def __repr__(self) -> str:
        return f"AkoolClient(base_url={self.base_url!r}, auth={self.auth!r})"

    def close(self) -> None:
        """Close the session if this client built it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> "AkoolClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the choke point ------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, kind: str, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Any:
        """Send one request and return the envelope's ``data`` (``token`` for getToken).

        Raises:
            ApiError subclass: Akool answered a code other than 1000.
            TransportError subclass: no usable HTTP answer (after retries, where allowed).
            ProtocolError: the answer is not JSON or not an envelope.
        """
        idempotent = ENDPOINTS[kind][2]
        what = f"{method} {path}"
        started = time.monotonic()
        response = send_with_retries(
            self._session,
            method,
            self.base_url + path,
            what=what,
            idempotent=idempotent,
            policy=self.retry,
            sleep=self._sleep,
            json=json,
            params=params,
            auth=None if kind == "token" else self.auth,
            timeout=self.timeout if idempotent else self.spend_timeout,
        )
        status = response.status_code
        try:
            body = response.json()
        except ValueError as exc:  # requests' JSONDecodeError is a ValueError
            if status >= 400:
                raise HttpStatusError(f"{what}: HTTP {status}", status=status) from exc
            error = ProtocolError(f"{what}: answer is not JSON (HTTP {status})")
            error.partial_ids = ids_in_partial(response.text[:100_000])
            raise error from exc
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            if status >= 400:
                raise HttpStatusError(f"{what}: HTTP {status}", status=status)
            raise ProtocolError(f"{what}: answer is not an Akool envelope (HTTP {status})")
        code = body["code"]
        log.debug("%s -> HTTP %d, code %d (%.3fs)", what, status, code, time.monotonic() - started)
        if code != SUCCESS:
            raise AkoolError.from_envelope(body, status)
        if kind == "token":  # getToken puts the token beside the code, not in data
            token = body.get("token")
            if not isinstance(token, str) or not token:
                raise ProtocolError(f"{what}: answer has no token")
            return token
        if body.get("data") is None:
            raise ProtocolError(f"{what}: answer has no data")
        return body["data"]

    def _call(self, kind: str, *, json: Any = None, params: Mapping[str, str] | None = None) -> Any:
        method, path, _ = ENDPOINTS[kind]
        return self._request(method, path, kind=kind, json=json, params=params)

    # -- endpoints ------------------------------------------------------------------------------

    def get_token(self) -> str:
        """Fetch a fresh legacy token with the client id and secret (``POST /api/open/v3/getToken``).

        Idempotent, so it is retried like a GET. Usually you never call this: ``TokenAuth`` does.
        """
        if not (self._client_id and self._client_secret):
            raise AuthError(
                "getToken needs a client id and secret",
                user_message="An Akool client ID and client secret are needed for this.",
            )
        return self._call("token", json={"clientId": self._client_id, "clientSecret": self._client_secret})

    def create_images(self, request: ImageRequest) -> list[Job]:
        """Start ``request.batch_quantity`` v4 jobs (``createBySourcePrompt``); one Job per image.

        Spends credits, so it is retried only when the request surely never reached Akool
        (``ConnectError``); never after a read timeout, a dropped connection or an HTTP 5xx, which
        raise at once (the jobs may exist: check before trying again).

        Raises:
            ProtocolError: the answer's job count differs from the batch size; the jobs that were
                parsed are on the exception's ``jobs`` attribute, since they may cost credits.
        """
        try:
            data = self._call("create_v4", json=request.to_payload())
        except ProtocolError as exc:
            jobs = self._salvage_batch(exc.partial_ids, request)
            if len(jobs) == request.batch_quantity:
                log.warning("create answer arrived malformed; its %d job id(s) were read from what came", len(jobs))
                return jobs
            if jobs:
                exc.jobs = jobs  # type: ignore[attr-defined]
            raise
        items = data if isinstance(data, list) else [data]  # an object for batch 1, a list otherwise
        jobs = [Job.from_api(item) for item in items]
        if len(jobs) != request.batch_quantity:
            error = ProtocolError(f"asked for {request.batch_quantity} images, Akool started {len(jobs)} jobs")
            error.jobs = jobs  # type: ignore[attr-defined]
            raise error
        return jobs

    def create_images_v3(self, request: V3ImageRequest) -> Job:
        """Start one v3 job (``createbyprompt``, deprecated by Akool): four candidates and U/V buttons.

        Never retried except on ``ConnectError`` (see ``create_images``).
        """
        return Job.from_api(self._call("create_v3", json=request.to_payload()))

    def press_button(self, job_id: str, button: str, *, webhook_url: str | None = None) -> Job:
        """Press U1-U4 (4K upscale) or V1-V4 (variation) on a finished job; returns the new child job.

        Spends credits: never retried except on ``ConnectError`` (see ``create_images``). A button
        that was already used or is not offered raises ``CannotOperate`` (1010/1011).
        """
        job_id = validate_job_id(job_id)
        button = validate_button(button)
        body = {"_id": job_id, "button": button}
        if webhook_url:
            body["webhookUrl"] = validate_source_url(webhook_url)  # camelCase on v3
        try:
            job = Job.from_api(self._call("button", json=body))
        except ProtocolError as exc:
            found = self._look_up(exc.partial_ids[0]) if exc.partial_ids else None
            if found is None or found.parent_id not in (None, job_id):
                raise
            log.warning("press answer arrived malformed; its job id was read from what came")
            job = found
        return replace(job, parent_id=job.parent_id or job_id, button=job.button or button)

    def get_job(self, job_id: str) -> Job:
        """The job as Akool sees it now (``infobymodelid``). Idempotent: retried on transient errors."""
        job_id = validate_job_id(job_id)
        job = Job.from_api(self._call("info", params={"image_model_id": job_id}))
        if job.id != job_id:
            raise ProtocolError(f"asked for job {job_id}, Akool answered with job {job.id}")
        return job

    # -- reading what is left of a garbled answer (see salvage) -----------------------------------

    def _look_up(self, job_id: str) -> Job | None:
        """The job, or None when Akool cannot show it to us (not ours, unknown, unreachable)."""
        try:
            return self.get_job(job_id)
        except AkoolError:
            return None

    def _salvage_batch(self, ids: tuple[str, ...], request: ImageRequest) -> list[Job]:
        """The jobs of a create whose answer was cut off: those whose ids arrived, then their consecutive
        siblings with the same prompt, up to the batch size (each one confirmed by Akool)."""
        jobs = [job for job in (self._look_up(i) for i in ids[: request.batch_quantity]) if job is not None]
        while jobs and len(jobs) < request.batch_quantity:
            sibling = next((job for job in map(self._look_up, next_ids(jobs[-1].id))
                            if job is not None and (job.prompt or "").strip() == request.prompt.strip()), None)
            if sibling is None:
                break
            jobs.append(sibling)
        return jobs

    # -- webhooks -------------------------------------------------------------------------------

    def parse_webhook(
        self, body: Any, *, tolerance: float | None = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
    ) -> WebhookEvent:
        """Verify and decrypt a webhook body with this client's client id and secret.

        The secret defaults to the API key, which Akool says is the same value.

        Raises:
            WebhookError (InvalidSignature, DecryptError, StaleWebhook): do not trust the callback.
        """
        secret = self._client_secret or self._api_key
        if not (self._client_id and secret):
            raise WebhookError("verifying webhooks needs the client id and the client secret (or API key)")
        return parse_webhook(body, self._client_id, secret, tolerance=tolerance, now=now)


def _build_session() -> requests.Session:
    """The one place a session is configured: headers and a connection pool without retries
    (``transport.send_with_retries`` decides those, per request)."""
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
