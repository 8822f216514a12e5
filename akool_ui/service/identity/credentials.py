"""Whose request this is and which Akool client acts for it: the typed key checked, the owner made opaque.

A visitor's own key is hashed into their owner and used only by the in-memory client that polls their
jobs; it is never stored. Without one, the browser id is hashed per credential scope ("demo" or "server")
and the server's credentials pay.
"""

from __future__ import annotations

import weakref

from ...akool.client import AkoolClient
from ...akool.errors import AuthError, InvalidRequest
from ...jobs import JobRecord
from .clients import ClientPool
from .owners import OwnerHasher, is_browser_id

__all__ = ["Credentials", "clean_api_key", "MAX_API_KEY_LENGTH"]

# Akool keys are 24-32 characters; anything far longer is a paste accident, not a key.
MAX_API_KEY_LENGTH = 256
# Owners from a visitor's own key start with "k"; owners of a browser on shared credentials with "b".
_SHARED_OWNER_PREFIX = "b"


def clean_api_key(api_key: str | None) -> str | None:
    """The typed key stripped, None when blank; InvalidRequest when it cannot be a key."""
    key = (api_key or "").strip()
    if not key:
        return None
    if len(key) > MAX_API_KEY_LENGTH or not key.isascii() or not key.isprintable() or " " in key:
        raise InvalidRequest(
            "API key has an impossible shape",
            user_message="That does not look like an Akool API key; please paste it again.",
        )
    return key


class Credentials:
    """Owners and clients for visitors. Thread-safe as far as ``ClientPool`` is (it is)."""

    def __init__(self, clients: ClientPool, hasher: OwnerHasher, *, demo: bool = False):
        self.clients = clients
        self._hasher = hasher
        self._server_client = clients.server
        self._scope = "demo" if demo else "server"
        # client -> its credential's owner id: a name for it that every process computes alike, never the key
        self._names: "weakref.WeakKeyDictionary[AkoolClient, str]" = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Credentials(scope={self._scope!r}, server={self._server_client is not None})"

    def owner_for(self, api_key: str | None, browser_id: str | None) -> str:
        """The opaque owner of a visitor: their own key's hash, else their browser's (per credential)."""
        key = clean_api_key(api_key)
        if key:
            return self._hasher.for_credential(key)
        if not is_browser_id(browser_id):
            raise InvalidRequest(
                "missing browser id", user_message="Your browser did not send its session id; please reload the page."
            )
        return self._hasher.for_browser(str(browser_id), self._scope)

    def client_for(self, api_key: str | None) -> AkoolClient:
        """The client that acts for this visitor: their own key, else the server's credentials."""
        key = clean_api_key(api_key)
        if key:
            client = self.clients.for_key(key)
            self._names[client] = self._hasher.for_credential(key)
            return client
        if self._server_client is None:
            raise AuthError(
                "no credentials for this request",
                user_message="Please enter your Akool API key in the 'Your Akool API key' box to generate images.",
            )
        return self._server_client

    def shared_name(self, client: object) -> str | None:
        """What every process calls ``client``'s credential (``"server"``, or the owner id of a visitor's key),
        for state shared about it such as a poll slow-down; None for a client this never handed out."""
        if client is not None and client is self._server_client:
            return "server"
        try:
            return self._names.get(client)  # type: ignore[arg-type]
        except TypeError:  # not weakly referable: not one of ours
            return None

    def credential_name(self, api_key: str | None) -> str:
        """What state kept about the credential paying for this visitor is filed under (a balance):
        ``"server"``, or the owner id their own key hashes to, never the key."""
        key = clean_api_key(api_key)
        return self._hasher.for_credential(key) if key else "server"

    def credential_name_of(self, record: JobRecord) -> str:
        """``credential_name`` of the credential that made ``record``."""
        return "server" if record.owner.startswith(_SHARED_OWNER_PREFIX) else record.owner

    def client_for_record(self, record: JobRecord) -> AkoolClient | None:
        """After a restart: jobs made with shared credentials resume at once; a visitor's own key is
        not kept anywhere, so their jobs resume when they come back (``Studio.remember``)."""
        if record.owner.startswith(_SHARED_OWNER_PREFIX):
            return self._server_client
        return None
