"""Akool webhook crypto (akool-api.md §5): SHA-1 signature and AES-CBC payload encryption.

Pure functions, shared by the app (verify + decrypt) and the simulator (encrypt + sign), so the rules
are written once:

* signature = lowercase hex SHA-1 of the concatenation of the four strings clientId, timestamp, nonce,
  dataEncrypt, sorted lexicographically;
* dataEncrypt = base64(AES-CBC(PKCS#7/16(json))) with key = client secret (AES-128/192/256 by its
  length) and IV = the first 16 bytes of the client id.

``ReplayGuard`` is the one stateful piece, for a single process using this SDK: it refuses a payload
already accepted. (The app itself keeps the same rule in a lease per payload, shared by its processes:
``service/runtime/replays.py``.)
Akool's signature is a plain SHA-1 of public values (client id, timestamp, nonce, dataEncrypt) with no
secret in it, so anyone who knows the client id can re-sign a captured callback with a fresh timestamp and
nonce: neither the signature nor the time window tells a replay apart. What only Akool can make is the
encrypted payload itself, so a delivery is named by a digest of ``dataEncrypt`` (``WebhookEvent.payload_key``)
and remembered for as long as Akool keeps a job's results.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import DecryptError, InvalidSignature, ReplayedWebhook, StaleWebhook, WebhookError

__all__ = [
    "WebhookEvent",
    "sign",
    "verify_signature",
    "encrypt_payload",
    "decrypt_payload",
    "make_webhook_body",
    "parse_webhook",
    "ReplayGuard",
    "payload_key",
    "DEFAULT_TOLERANCE_SECONDS",
    "REPLAY_WINDOW_SECONDS",
    "REPLAY_GUARD_MAX_ENTRIES",
]

# Akool documents no replay window; 10 minutes covers its retries and clock drift while refusing
# callbacks captured long ago (as sent: a re-signed copy carries a fresh timestamp, see ReplayGuard).
DEFAULT_TOLERANCE_SECONDS = 600.0
# A captured payload can be re-signed with a new timestamp at any time, so its key is kept for as long as
# Akool keeps the job's results (7 days); after that the job it names is long settled here.
REPLAY_WINDOW_SECONDS = 7 * 24 * 3600.0
# Akool sends two or three callbacks per job; 50 000 covers some 20 000 jobs a week in about 10 MB. Only
# payloads that decrypt under the app's secret enter it, so only Akool (or the account holder) can fill it.
REPLAY_GUARD_MAX_ENTRIES = 50_000
_AES_KEY_SIZES = (16, 24, 32)
_IV_SIZE = 16


@dataclass(frozen=True)
class WebhookEvent:
    """A decrypted, verified callback: job ``_id``, ``status`` (2/3/4), ``type`` and result ``url``."""

    job_id: str
    status: int
    type: str
    url: str | None
    signature: str = field(default="", compare=False)
    """The verified signature, lowercase."""
    payload_key: str = field(default="", compare=False)
    """A digest of the encrypted payload: the same for every copy of one callback however it is re-signed
    (only Akool can encrypt a new one), so it is what a replay is recognised by."""


def sign(client_id: str, timestamp: Any, nonce: Any, data_encrypt: str) -> str:
    """The signature Akool puts in ``signature``: hex SHA-1 over the four sorted strings."""
    parts = sorted(str(p) for p in (client_id, timestamp, nonce, data_encrypt))
    return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()


def verify_signature(client_id: str, timestamp: Any, nonce: Any, data_encrypt: str, signature: str) -> bool:
    """True when ``signature`` matches, compared in constant time."""
    expected = sign(client_id, timestamp, nonce, data_encrypt)
    return hmac.compare_digest(expected, str(signature or "").strip().lower())


def _cipher(client_id: str, client_secret: str) -> Cipher:
    key = client_secret.encode("utf-8")
    if len(key) not in _AES_KEY_SIZES:
        # The length is not a secret; the key is, and it never goes into the message.
        raise DecryptError(f"client secret must be 16, 24 or 32 bytes for AES, not {len(key)}")
    iv = client_id.encode("utf-8")[:_IV_SIZE].ljust(_IV_SIZE, b"\0")
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt_payload(payload: Mapping[str, Any] | str, client_id: str, client_secret: str) -> str:
    """``dataEncrypt`` for a payload (the simulator's side of the exchange)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode("utf-8")) + padder.finalize()
    enc = _cipher(client_id, client_secret).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode("ascii")


def decrypt_payload(data_encrypt: str, client_id: str, client_secret: str) -> dict[str, Any]:
    """Decrypt ``dataEncrypt`` into its JSON object, or raise DecryptError."""
    try:
        raw = base64.b64decode(str(data_encrypt), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("dataEncrypt is not base64") from None
    if not raw or len(raw) % 16:
        raise DecryptError("dataEncrypt is not a whole number of AES blocks")
    dec = _cipher(client_id, client_secret).decryptor()
    try:
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(dec.update(raw) + dec.finalize()) + unpadder.finalize()
        obj = json.loads(plain.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise DecryptError("dataEncrypt did not decrypt to JSON (wrong credentials?)") from None
    if not isinstance(obj, dict):
        raise DecryptError("decrypted payload is not a JSON object")
    return obj


def make_webhook_body(
    payload: Mapping[str, Any], client_id: str, client_secret: str, *, timestamp_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """A complete callback body as Akool sends it: signature, dataEncrypt, timestamp (ms), nonce."""
    data_encrypt = encrypt_payload(payload, client_id, client_secret)
    ts = int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)
    nonce = nonce if nonce is not None else str(secrets.randbelow(9000) + 1000)
    return {
        "signature": sign(client_id, ts, nonce, data_encrypt),
        "dataEncrypt": data_encrypt,
        "timestamp": ts,
        "nonce": nonce,
    }


def parse_webhook(
    body: Any, client_id: str, client_secret: str, *, tolerance: float | None = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """Verify and decrypt a callback body into a WebhookEvent; raise a WebhookError if untrusted.

    ``tolerance`` (seconds) bounds how old or how far in the future ``timestamp`` may be; None skips it.
    """
    if not isinstance(body, Mapping):
        raise WebhookError("webhook body is not a JSON object")
    try:
        data_encrypt = str(body["dataEncrypt"])
        timestamp = body["timestamp"]
        nonce = body["nonce"]
        signature = str(body["signature"])
    except KeyError as exc:
        raise WebhookError(f"webhook body lacks {exc.args[0]!r}") from None
    if not verify_signature(client_id, timestamp, nonce, data_encrypt, signature):
        raise InvalidSignature("webhook signature does not match")
    if tolerance is not None:
        try:
            sent = float(timestamp) / 1000.0
        except (TypeError, ValueError):
            raise StaleWebhook("webhook timestamp is not a number") from None
        if not math.isfinite(sent):  # abs(now - nan) > tolerance is False: NaN would pass the window
            raise StaleWebhook("webhook timestamp is not a finite number")
        if abs((time.time() if now is None else now) - sent) > tolerance:
            raise StaleWebhook("webhook timestamp is outside the accepted window")
    payload = decrypt_payload(data_encrypt, client_id, client_secret)
    job_id = payload.get("_id")
    try:
        status = int(payload.get("status"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DecryptError("webhook payload has no numeric status") from None
    if not isinstance(job_id, str) or not job_id:
        raise DecryptError("webhook payload has no _id")
    url = payload.get("url")
    return WebhookEvent(job_id=job_id.lower(), status=status, type=str(payload.get("type") or ""),
                        url=str(url) if url else None, signature=signature.strip().lower(),
                        payload_key=payload_key(data_encrypt))


def payload_key(data_encrypt: str) -> str:
    """What names one callback's payload for the replay guard: SHA-256 of its ciphertext (128 bits of it)."""
    return hashlib.sha256(str(data_encrypt).strip().encode("utf-8")).hexdigest()[:32]


class ReplayGuard:
    """Refuses a second delivery of a callback already accepted, for ``window`` seconds.

    Keyed by ``WebhookEvent.payload_key`` (a digest of the encrypted payload): a copy re-signed with a new
    nonce and timestamp, or re-spelt in a way the signature cannot see, is still the same delivery. Claim
    only after the payload verified and decrypted, or forged bodies could push real entries out.
    Thread-safe; ``clock`` is injectable so tests can move time.
    """

    def __init__(
        self, window: float = REPLAY_WINDOW_SECONDS, *, max_entries: int = REPLAY_GUARD_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ):
        if window <= 0 or max_entries < 1:
            raise ValueError("a replay guard needs a positive window and room for at least one entry")
        self.window = float(window)
        self.max_entries = int(max_entries)
        self._clock = clock
        self._lock = threading.Lock()
        # signature -> when it may be forgotten; one window for all, so insertion order is expiry order
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            self._forget_expired(self._clock())
            return len(self._seen)

    def __repr__(self) -> str:
        return f"ReplayGuard(window={self.window:g}, max_entries={self.max_entries})"

    def claim(self, signature: str) -> None:
        """Remember this delivery; raise ReplayedWebhook if it was already claimed within the window."""
        key = _replay_key(signature)
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            if key in self._seen:
                raise ReplayedWebhook("webhook was already delivered and accepted")
            self._seen[key] = now + self.window
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)

    def release(self, signature: str) -> None:
        """Forget a claim whose callback could not be applied, so Akool's retry of it is not refused."""
        with self._lock:
            self._seen.pop(_replay_key(signature), None)

    def _forget_expired(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[key]


def _replay_key(signature: str) -> str:
    return str(signature).strip().lower()
