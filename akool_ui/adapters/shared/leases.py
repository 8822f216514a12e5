"""``RedisLeases``: the ``Leases`` port on Redis, one holder per name across every replica.

A lease is the key ``lease:<name>`` holding its holder's token, with Redis's own expiry. A replica keeps
the leases it holds alive with a heartbeat (every ``HEARTBEAT_SECONDS``, each to at most
``LIVENESS_SECONDS`` ahead, never past the ttl it was taken for), so a replica that dies (SIGKILL, a
lost machine) loses its leases within ``LIVENESS_SECONDS`` whatever ttl they were taken for, and another
replica takes its jobs over then: the shared adapter's version of the local adapter's "a dead local
holder's lease is taken over at once". A kept lease (``keep``: a webhook payload accepted) leaves the
heartbeat and lasts its whole ttl, whoever dies.

Renew, release and keep are Lua scripts that act only while the key still holds our token.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

from ...service.ports import StorageError
from .connection import Keys, unavailable

__all__ = ["RedisLeases", "LIVENESS_SECONDS", "HEARTBEAT_SECONDS"]

log = logging.getLogger(__name__)

# A dead replica's leases lapse this long after its last heartbeat; three heartbeats fit in it, so one
# slow round trip (or a busy second on a loaded machine) never loses a live replica's lease.
LIVENESS_SECONDS = 6.0
HEARTBEAT_SECONDS = 2.0

_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_KEEP = ("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) "
         "return 1 end return 0")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class _RedisLease:
    def __init__(self, leases: "RedisLeases", name: str, token: str, ttl: float):
        self.name, self._leases, self._token, self._ttl = name, leases, token, ttl
        self.ends = time.monotonic() + ttl  # the ttl it was taken (or last renewed) for

    def __repr__(self) -> str:
        return f"Lease({self.name!r})"

    def renew(self) -> bool:
        self.ends = time.monotonic() + self._ttl
        alive = self._leases._extend(self, min(self._ttl, self._leases.liveness))
        if not alive:
            self._leases._forget(self)
        elif self._ttl > self._leases.liveness:
            self._leases._watch(self)
        return alive

    def release(self) -> None:
        self._leases._forget(self)
        with unavailable(f"lease {self.name!r} could not be released"):
            self._leases._release(keys=[self._leases._key(self.name)], args=[self._token])

    def keep(self) -> None:
        self._leases._forget(self)
        kept = f"kept:{uuid.uuid4().hex}"
        remaining = max(0.001, self.ends - time.monotonic())
        with unavailable(f"lease {self.name!r} could not be kept"):
            self._leases._keep(keys=[self._leases._key(self.name)], args=[self._token, kept, _ms(remaining)])
        self._token = kept


class RedisLeases:
    """Named leases in Redis under ``keys``; ``close`` stops the heartbeat (the leases then lapse)."""

    def __init__(self, client: redis.Redis, keys: Keys, *, liveness: float = LIVENESS_SECONDS,
                 heartbeat: float = HEARTBEAT_SECONDS):
        self._client, self._keys = client, keys
        self.liveness, self.heartbeat = float(liveness), float(heartbeat)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._keep = client.register_script(_KEEP)
        self._lock = threading.Lock()
        self._live: dict[int, _RedisLease] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"RedisLeases(prefix={self._keys.prefix!r}, held={len(self._live)})"

    def _key(self, name: str) -> str:
        return self._keys("lease", name)

    def acquire(self, name: str, *, ttl: float) -> _RedisLease | None:
        token = f"{uuid.uuid4().hex}"
        first = min(float(ttl), self.liveness)
        with unavailable(f"lease {name!r} could not be taken"):
            if not self._client.set(self._key(name), token, nx=True, px=_ms(first)):
                return None
        lease = _RedisLease(self, name, token, float(ttl))
        if ttl > self.liveness:
            self._watch(lease)
        return lease

    def held(self, name: str) -> bool:
        with unavailable(f"lease {name!r} could not be read"):
            return bool(self._client.exists(self._key(name)))

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    # --- the heartbeat ------------------------------------------------------------------------------

    def _extend(self, lease: _RedisLease, seconds: float) -> bool:
        with unavailable(f"lease {lease.name!r} could not be renewed"):
            return bool(self._renew(keys=[self._key(lease.name)], args=[lease._token, _ms(seconds)]))

    def _watch(self, lease: _RedisLease) -> None:
        with self._lock:
            self._live[id(lease)] = lease
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
                self._thread.start()

    def _forget(self, lease: _RedisLease) -> None:
        with self._lock:
            self._live.pop(id(lease), None)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            with self._lock:
                leases = list(self._live.values())
            now = time.monotonic()
            for lease in leases:
                left = lease.ends - now
                try:
                    if left <= 0 or not self._extend(lease, min(left, self.liveness)):
                        self._forget(lease)  # its ttl is over, or someone else holds it now
                except StorageError:
                    log.warning("the shared store did not answer the lease heartbeat; trying again")
                    break
