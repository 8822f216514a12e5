"""The ports in this process's memory: ``MemoryDocuments`` and ``MemoryLeases``, for tests and for state
that may die with the process. They keep the port's rules (JSON only, names checked, compare-and-set,
one holder per lease) so code tested against them behaves the same on the local adapter."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from typing import Any, Callable

from ...service.ports import Conflict, Versioned
from .documents import check_name, encode

__all__ = ["MemoryDocuments", "MemoryLeases"]


class MemoryDocuments:
    """Documents in a dict, stored encoded (so every read is a fresh value, as from a file). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, tuple[bytes, str]] = {}
        self._versions = itertools.count(1)

    def __repr__(self) -> str:
        return f"MemoryDocuments(documents={len(self._docs)})"

    def read(self, name: str) -> Versioned:
        with self._lock:
            held = self._docs.get(check_name(name))
        return Versioned(None, None) if held is None else Versioned(json.loads(held[0]), held[1])

    def version(self, name: str) -> str | None:
        with self._lock:
            held = self._docs.get(check_name(name))
        return None if held is None else held[1]

    def write(self, name: str, value: Any, *, expected: str | None) -> str:
        data = encode(value)
        with self._lock:
            held = self._docs.get(check_name(name))
            if (None if held is None else held[1]) != expected:
                raise Conflict(f"document {name!r} changed since it was read")
            version = f"m{next(self._versions)}"
            self._docs[name] = (data, version)
            return version

    def delete(self, name: str) -> None:
        with self._lock:
            self._docs.pop(check_name(name), None)


class _MemoryLease:
    def __init__(self, leases: "MemoryLeases", name: str, token: str, ttl: float):
        self.name, self._leases, self._token, self._ttl = name, leases, token, ttl

    def __repr__(self) -> str:
        return f"Lease({self.name!r})"

    def renew(self) -> bool:
        return self._leases._renew(self.name, self._token, self._ttl)

    def release(self) -> None:
        self._leases._release(self.name, self._token)

    def keep(self) -> None:
        """Nothing dies apart from the process here: the lease simply stays until its ttl ends."""


class MemoryLeases:
    """Leases in a dict, on ``clock`` (monotonic by default; tests move it). Thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, float]] = {}  # name -> (token, expires)

    def __repr__(self) -> str:
        return f"MemoryLeases(held={len(self._held)})"

    def acquire(self, name: str, *, ttl: float) -> _MemoryLease | None:
        token = uuid.uuid4().hex
        with self._lock:
            now = self._clock()
            held = self._held.get(name)
            if held is not None and held[1] > now:
                return None
            self._held[name] = (token, now + float(ttl))
            if len(self._held) > 1000 and len(self._held) % 100 == 0:  # forget expired ones now and then
                self._held = {n: h for n, h in self._held.items() if h[1] > now}
        return _MemoryLease(self, name, token, float(ttl))

    def held(self, name: str) -> bool:
        with self._lock:
            held = self._held.get(name)
            return held is not None and held[1] > self._clock()

    def _renew(self, name: str, token: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            held = self._held.get(name)
            if held is None or held[0] != token or held[1] <= now:
                return False
            self._held[name] = (token, now + ttl)
            return True

    def _release(self, name: str, token: str) -> None:
        with self._lock:
            held = self._held.get(name)
            if held is not None and held[0] == token:
                del self._held[name]
