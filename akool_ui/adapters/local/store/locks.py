"""DownloadLock: one job's downloads happen in one thread of one process, however many share the cache
(a blocking lock in the store's database; the app's own work takes ``Leases``, ``adapters/local/leases``)."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

import diskcache

from .errors import UnsafeCacheValue

__all__ = ["DownloadLock", "DOWNLOAD_LOCK_EXPIRE"]

LOG = logging.getLogger(__name__)

# Downloading four 4K results takes seconds; a lock older than ten minutes means its holder died (or
# hung) and another process may take over. Long downloads call DownloadLock.refresh().
DOWNLOAD_LOCK_EXPIRE = 600.0
LOCK_PREFIX = "lock:download:"
# Poll quickly at first (the holder usually finishes soon), then back off to this.
_MAX_POLL_DELAY = 0.1

_HOST = socket.gethostname()


def _holder_is_dead(token: str) -> bool:
    """Whether a lock token names a process on this host that has exited."""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but is not ours to signal
        return False
    return False


class DownloadLock:
    """A cross-process, cross-thread lock on one job's downloads.

    It is a cache key holding a random token, added only if absent and expiring after ``expire`` seconds,
    so a killed holder blocks others for at most that long. ``release`` removes the key only while it
    still holds our token. Not re-entrant. Typical use: ``with store.download_lock(job_id):`` then re-read
    the record (another process may have finished the download meanwhile).
    """

    def __init__(self, cache: diskcache.Cache, job_id: str, *, expire: float = DOWNLOAD_LOCK_EXPIRE,
                 key: str | None = None):
        self._cache = cache
        self._key = key or LOCK_PREFIX + job_id
        self.name = self._key
        # host:pid:random, so a lock left by a killed process on this machine can be taken over at once
        self._token = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex}"
        self.expire = float(expire)
        self.job_id = job_id

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; with ``blocking=False`` (or after ``timeout`` seconds) return False if held."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            if self._cache.add(self._key, self._token, expire=self.expire, retry=True):
                return True
            if self._break_if_holder_dead():
                continue
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(delay)
            delay = min(delay * 2, _MAX_POLL_DELAY)

    def _break_if_holder_dead(self) -> bool:
        """Remove the lock if its holder was a process on this host that no longer exists (kill -9)."""
        with self._cache.transact(retry=True):
            try:
                holder = self._cache.get(self._key, retry=True)
            except UnsafeCacheValue:
                holder = None
            if not isinstance(holder, str) or not _holder_is_dead(holder):
                return False
            self._cache.delete(self._key, retry=True)
        LOG.info("download lock of job %s was held by a dead process; taken over", self.job_id)
        return True

    def _holds(self) -> bool:
        try:
            return self._cache.get(self._key, retry=True) == self._token
        except UnsafeCacheValue:
            return False

    def release(self) -> None:
        """Give the lock up (a no-op if it expired and someone else holds it now)."""
        with self._cache.transact(retry=True):
            if self._holds():
                self._cache.delete(self._key, retry=True)

    def renew(self) -> bool:
        """Restart the expiry clock; False if we no longer hold the lease."""
        return self.refresh()

    def refresh(self) -> bool:
        """Restart the expiry clock; False if we no longer hold the lock."""
        with self._cache.transact(retry=True):
            return self._holds() and self._cache.touch(self._key, expire=self.expire, retry=True)

    @property
    def held(self) -> bool:
        """Whether this lock object holds the lock right now."""
        return self._holds()

    @property
    def locked(self) -> bool:
        """Whether anyone holds the lock right now."""
        return self._key in self._cache

    def __enter__(self) -> "DownloadLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

