"""Who owns a job: a keyed hash of the credential (or of a browser id), never the credential itself.

History and lookups are filtered by owner, so a shared demo link never shows one visitor another's
images. The hashing key lives in the cache directory (0600), so owners stay stable across restarts but
cannot be recomputed from a leaked cache alone... without that key file.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from ..fileio import write_atomic

OWNER_KEY_FILE = "owner.key"
# Browser ids are ours (secrets.token_urlsafe); anything else typed into storage is refused.
_BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def load_owner_key(cache_dir: Path) -> bytes:
    """The app's owner-hashing key, created once (mode 0600) next to the cache."""
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = cache_dir / OWNER_KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    write_atomic(path, key)  # a torn or empty key file would orphan every owner's history
    return key


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
