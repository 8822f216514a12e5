"""Who owns a job: a keyed hash of the credential (or of a browser id), never the credential itself.

History and lookups are filtered by owner, so a shared demo link never shows one visitor another's
images. The hashing key is the ``owner-key`` document (32 random bytes as base64, private to the data
folder), so owners stay stable across restarts but cannot be recomputed from a leaked history alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from typing import Any

from ..ports import Conflict, Documents

__all__ = ["OwnerHasher", "OWNER_KEY_DOCUMENT", "load_owner_key", "owner_key_document", "derived_key",
           "new_browser_id", "is_browser_id"]

log = logging.getLogger(__name__)

OWNER_KEY_DOCUMENT = "owner-key"
_KEY_BYTES = 32
# Browser ids are ours (secrets.token_urlsafe); anything else typed into storage is refused.
_BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def owner_key_document(raw: bytes) -> dict[str, str] | None:
    """The ``owner-key`` document's value for a key's raw bytes (how the key was kept before documents),
    or None when they cannot be a key (too short)."""
    return {"key": base64.b64encode(raw).decode("ascii")} if len(raw) >= _KEY_BYTES else None


def _key_of(value: Any) -> bytes | None:
    if not isinstance(value, dict) or not isinstance(value.get("key"), str):
        return None
    try:
        key = base64.b64decode(value["key"], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) >= _KEY_BYTES else None


def load_owner_key(documents: Documents) -> bytes:
    """The app's owner-hashing key, made once. Two processes starting together agree on one key (the
    second one's write loses the compare-and-set and it takes the first one's)."""
    while True:
        current = documents.read(OWNER_KEY_DOCUMENT)
        key = _key_of(current.value)
        if key is not None:
            return key
        if current.value is not None:
            log.warning("the owner key document is malformed; making a new owner key (earlier history is orphaned)")
        key = secrets.token_bytes(_KEY_BYTES)
        try:
            documents.write(OWNER_KEY_DOCUMENT, owner_key_document(key), expected=current.version)
        except Conflict:
            continue
        return key


def derived_key(owner_key: bytes, purpose: str) -> bytes:
    """A key for one ``purpose`` (``"media-links"``, ``"browser-state"``), derived from the owner key so
    that the owner key itself never leaves the service."""
    return hmac.new(owner_key, purpose.encode("utf-8"), hashlib.sha256).digest()


def new_browser_id() -> str:
    return secrets.token_urlsafe(24)


def is_browser_id(value: object) -> bool:
    return isinstance(value, str) and bool(_BROWSER_ID.fullmatch(value))


class OwnerHasher:
    """Turns credentials and browser ids into opaque owner ids (hex)."""

    def __init__(self, key: bytes):
        self._key = key

    def __repr__(self) -> str:
        return "OwnerHasher(<key hidden>)"

    def _hash(self, *parts: str) -> str:
        msg = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def for_credential(self, secret: str) -> str:
        """A person's own API key: the same key sees the same history from any browser."""
        return "k" + self._hash("credential", secret)

    def for_browser(self, browser_id: str, scope: str) -> str:
        """Shared (server or demo) credentials: each browser has its own history."""
        return "b" + self._hash("browser", scope, browser_id)
