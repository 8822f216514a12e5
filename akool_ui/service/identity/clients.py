"""Akool clients, one per credential, owned here: made once, reused, and closed on eviction or shutdown.

A visitor's own key used to get a new client (and HTTP connection pool) per request, never closed. Now
each key gets one client, kept while it is in use (an LRU of ``MAX_VISITOR_CLIENTS``); the server's own
client lives as long as the app. Keys are held in memory only, as the client itself holds them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable

from ...akool.client import AkoolClient

__all__ = ["ClientPool", "MAX_VISITOR_CLIENTS"]

# Each client keeps a small connection pool; a few hundred distinct visitors' keys at once is already a
# busy shared link. The least recently used client is closed first (its jobs get it back on next use).
MAX_VISITOR_CLIENTS = 256


class ClientPool:
    """``server`` (the app's own credentials, or None) and ``for_key(key)`` (a visitor's own key)."""

    def __init__(
        self, base_url: str, server: AkoolClient | None, *,
        make: Callable[[str], AkoolClient] | None = None, limit: int = MAX_VISITOR_CLIENTS,
    ):
        self.base_url = base_url
        self.server = server
        self._make = make or (lambda key: AkoolClient(base_url, api_key=key))
        self._limit = limit
        self._lock = threading.Lock()
        self._by_key: OrderedDict[str, AkoolClient] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_key)

    def for_key(self, api_key: str) -> AkoolClient:
        """The one client for this key (created on first use)."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()  # the dict never holds the key itself
        with self._lock:
            client = self._by_key.get(digest)
            if client is not None:
                self._by_key.move_to_end(digest)
                return client
            client = self._by_key[digest] = self._make(api_key)
            evicted = self._by_key.popitem(last=False)[1] if len(self._by_key) > self._limit else None
        if evicted is not None:
            evicted.close()
        return client

    def close(self) -> None:
        with self._lock:
            clients = list(self._by_key.values())
            self._by_key.clear()
        for client in clients:
            client.close()
        if self.server is not None:
            self.server.close()
