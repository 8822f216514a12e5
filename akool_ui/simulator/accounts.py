"""Simulated Akool accounts and the legacy Bearer tokens issued to them.

Secrets never leave memory: tokens are remembered (and persisted) only as SHA-256 digests, accounts are
not persisted at all (the command line or the test re-creates them), and jobs name their owner by
``uid``, which is derived from the API key so it is the same after a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from .codes import SimError

__all__ = ["Account", "AccountBook", "TOKEN_TTL_SECONDS"]

# Akool: "valid for more than 1 year". Simulated seconds, so advance() can expire a token too.
TOKEN_TTL_SECONDS = 400 * 86400
_WEBHOOK_KEY_SIZES = (16, 24, 32)  # AES-128/192/256: the client secret is the AES key


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Account:
    """One account: the API key (= client secret in Akool's docs), an optional client id, its uid."""

    api_key: str = field(repr=False)
    client_id: str | None
    client_secret: str | None = field(repr=False)
    uid: int
    team_id: str

    @property
    def can_sign_webhooks(self) -> bool:
        """Webhooks need the client id (IV) and a 16/24/32-byte client secret (AES key)."""
        return bool(self.client_id) and len((self.client_secret or "").encode("utf-8")) in _WEBHOOK_KEY_SIZES


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class AccountBook:
    """Accounts by API key, and the tokens issued by ``getToken``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Account] = {}
        self._tokens: dict[str, dict[str, Any]] = {}  # sha256(token) -> {"uid", "exp"}
        self._signing_key = secrets.token_bytes(32)

    def add(self, api_key: str | None = None, client_id: str | None = None,
            client_secret: str | None = None) -> Account:
        """Add (or replace) an account. Without an API key the client secret serves as one, and
        without a client secret the API key does (Akool: the API key *is* the client secret)."""
        api_key = (api_key or client_secret or "").strip()
        if not api_key:
            raise ValueError("an account needs an api_key (or a client_secret)")
        client_secret = (client_secret or api_key).strip()
        uid = 100000 + int(_digest("uid:" + api_key)[:12], 16) % 900000
        account = Account(api_key=api_key, client_id=(client_id or "").strip() or None,
                          client_secret=client_secret, uid=uid, team_id=f"team_{uid}")
        with self._lock:
            self._by_key[api_key] = account
        return account

    def by_api_key(self, api_key: str) -> Account | None:
        with self._lock:
            return self._by_key.get(api_key)

    def by_uid(self, uid: int) -> Account | None:
        with self._lock:
            return next((a for a in self._by_key.values() if a.uid == uid), None)

    # --- tokens ----------------------------------------------------------------------------------

    def issue_token(self, client_id: Any, client_secret: Any, now: float) -> str:
        """``getToken``: a JWT-shaped HS256 token for the account with this id and secret."""
        if not isinstance(client_id, str) or not isinstance(client_secret, str) \
                or not client_id.strip() or not client_secret.strip():
            raise SimError(1102, "clientId and clientSecret are required")
        with self._lock:
            account = next((a for a in self._by_key.values()
                            if a.client_id and hmac.compare_digest(a.client_id, client_id.strip())
                            and hmac.compare_digest((a.client_secret or "").encode(), client_secret.strip().encode())),
                           None)
        if account is None:
            raise SimError(1101, "clientId or clientSecret is wrong")
        iat = int(now)
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(json.dumps({
            "id": account.team_id, "uid": account.uid, "type": 1, "from": "openapi",
            "iat": iat, "exp": iat + TOKEN_TTL_SECONDS, "jti": secrets.token_hex(8),
        }, separators=(",", ":")).encode())
        signature = _b64url(hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        with self._lock:
            self._tokens[_digest(token)] = {"uid": account.uid, "exp": iat + TOKEN_TTL_SECONDS}
        return token

    def by_token(self, token: str, now: float) -> Account | None:
        with self._lock:
            entry = self._tokens.get(_digest(token))
        if entry is None or now >= entry["exp"]:
            return None
        return self.by_uid(int(entry["uid"]))

    def expire_tokens(self) -> int:
        """Invalidate every token issued so far; return how many there were."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    def tokens_json(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._tokens.items()}

    def load_tokens(self, data: dict[str, Any]) -> None:
        with self._lock:
            for digest, entry in data.items():
                if isinstance(entry, dict) and {"uid", "exp"} <= entry.keys():
                    self._tokens[str(digest)] = {"uid": int(entry["uid"]), "exp": float(entry["exp"])}

    # --- authentication --------------------------------------------------------------------------

    def authenticate(self, authorization: str | None, api_key: str | None, now: float) -> Account:
        """The account a request acts for. A non-empty Authorization header wins over x-api-key
        (akool-api.md §2.1), so a bad Bearer token fails even next to a good key."""
        auth = (authorization or "").strip()
        key = (api_key or "").strip()
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer":
                raise SimError(1101, "Authorization must be 'Bearer <token>'")
            token = token.strip()
            if not token:
                raise SimError(1102)
            account = self.by_token(token, now)
            if account is None:
                raise SimError(1101)
            return account
        if key:
            account = self.by_api_key(key)
            if account is None:
                raise SimError(1101)
            return account
        raise SimError(1102)
