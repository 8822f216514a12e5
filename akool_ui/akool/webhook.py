"""Akool webhook crypto (akool-api.md §5): SHA-1 signature and AES-CBC payload encryption.

Pure functions, shared by the app (verify + decrypt) and the simulator (encrypt + sign), so the rules
are written once:

* signature = lowercase hex SHA-1 of the concatenation of the four strings clientId, timestamp, nonce,
  dataEncrypt, sorted lexicographically;
* dataEncrypt = base64(AES-CBC(PKCS#7/16(json))) with key = client secret (AES-128/192/256 by its
  length) and IV = the first 16 bytes of the client id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import DecryptError, InvalidSignature, StaleWebhook, WebhookError

__all__ = [
    "WebhookEvent",
    "sign",
    "verify_signature",
    "encrypt_payload",
    "decrypt_payload",
    "make_webhook_body",
    "parse_webhook",
    "DEFAULT_TOLERANCE_SECONDS",
]

# Akool documents no replay window; 10 minutes covers its retries and clock drift while refusing
# callbacks captured long ago.
DEFAULT_TOLERANCE_SECONDS = 600.0
_AES_KEY_SIZES = (16, 24, 32)
_IV_SIZE = 16


@dataclass(frozen=True)
class WebhookEvent:
    """A decrypted, verified callback: job ``_id``, ``status`` (2/3/4), ``type`` and result ``url``."""

    job_id: str
    status: int
    type: str
    url: str | None


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
                        url=str(url) if url else None)
