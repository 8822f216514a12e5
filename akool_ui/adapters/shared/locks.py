"""Short exclusive locks in Redis (``SET NX PX`` with a token, released only by their holder), for the
records' read-modify-writes: ``JobRecords.update`` runs its function exactly once, with no other writer of
that record in between, on any replica.

A lock expires by itself after ``LOCK_SECONDS`` (a replica killed while holding one blocks that record
for at most that long); it is held only around a read, a function without I/O and one ``MULTI``.
"""

from __future__ import annotations

import time
import uuid

import redis

from ...service.ports import StorageUnavailable
from .connection import unavailable

__all__ = ["RedisLock", "LOCK_SECONDS", "WAIT_SECONDS"]

LOCK_SECONDS = 30.0
# How long a writer waits for a record someone else is writing before it gives up (StorageUnavailable):
# longer than any honest holder takes, short enough that a stuck request ends with a sentence.
WAIT_SECONDS = 30.0
_FIRST_PAUSE, _LONGEST_PAUSE = 0.001, 0.02

# Delete the key only if it still holds our token (a lock that expired and was taken is not ours to free).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisLock:
    """One lock by key; ``acquire`` waits for it, ``release`` frees it if still ours."""

    def __init__(self, client: redis.Redis, key: str):
        self._client, self.key = client, key
        self._token = uuid.uuid4().hex

    def acquire(self, *, wait: float = WAIT_SECONDS) -> "RedisLock":
        deadline = time.monotonic() + wait
        pause = _FIRST_PAUSE
        while True:
            with unavailable("a record lock could not be taken"):
                if self._client.set(self.key, self._token, nx=True, px=int(LOCK_SECONDS * 1000)):
                    return self
            if time.monotonic() >= deadline:
                raise StorageUnavailable("a job record stayed locked by another writer; try again")
            time.sleep(pause)
            pause = min(_LONGEST_PAUSE, pause * 2)

    def release(self) -> None:
        with unavailable("a record lock could not be released"):
            self._client.eval(_RELEASE, 1, self.key, self._token)
