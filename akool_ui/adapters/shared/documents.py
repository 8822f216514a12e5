"""``RedisDocuments``: the ``Documents`` port on Redis, compare-and-set by one Lua script.

A document is the hash ``doc:<name>`` with its JSON (``data``) and its version (``ver``, random: two
writes of the same value are still two versions, so a reader that saw the first never overwrites the
second). ``write`` runs a script that compares ``ver`` with the expected one and swaps both in, atomically
on the Redis server, for every replica at once. Names and values follow the local adapter's rules
(``check_name``, JSON only).

A document whose ``data`` does not decode reads as absent, with one warning; writing it again (expected
None) replaces it.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import redis

from ...service.ports import Conflict, Versioned
from ..local.documents import check_name, encode
from .connection import Keys, unavailable

__all__ = ["RedisDocuments"]

log = logging.getLogger(__name__)

# ARGV: expected version ('' = absent), new data, new version. 1 when written, 0 when the version moved.
_WRITE = """
local current = redis.call('HGET', KEYS[1], 'ver') or ''
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'ver', ARGV[3])
return 1
"""


class RedisDocuments:
    """Documents in Redis under ``keys`` (thread-safe; shared by every replica)."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._client, self._keys = client, keys
        self._write = client.register_script(_WRITE)
        self._damaged_seen: set[str] = set()

    def __repr__(self) -> str:
        return f"RedisDocuments(prefix={self._keys.prefix!r})"

    def _key(self, name: str) -> str:
        return self._keys("doc", check_name(name))

    def _fetch(self, name: str) -> tuple[bytes | None, str | None]:
        with unavailable(f"document {name!r} could not be read"):
            data, version = self._client.hmget(self._key(name), ["data", "ver"])
        return data, (version.decode() if version is not None else None)

    def _decode(self, name: str, data: bytes, version: str) -> tuple[bool, Any]:
        try:
            return True, json.loads(data)
        except ValueError:
            if version not in self._damaged_seen:
                self._damaged_seen.add(version)
                log.warning("document %r is damaged (not JSON): it reads as absent until written again", name)
            return False, None

    def read(self, name: str) -> Versioned:
        data, version = self._fetch(name)
        if data is None or version is None:
            return Versioned(None, None)
        good, value = self._decode(name, data, version)
        return Versioned(value, version) if good else Versioned(None, None)

    def version(self, name: str) -> str | None:
        data, version = self._fetch(name)
        if data is None or version is None:
            return None
        return version if version not in self._damaged_seen or self._decode(name, data, version)[0] else None

    def write(self, name: str, value: Any, *, expected: str | None) -> str:
        data = encode(value)
        compare = expected or ""
        if expected is None:  # a damaged document reads as absent: writing "over nothing" replaces it
            stored, version = self._fetch(name)
            if stored is not None and version is not None and not self._decode(name, stored, version)[0]:
                compare = version
        version = uuid.uuid4().hex
        with unavailable(f"document {name!r} could not be written"):
            written = self._write(keys=[self._key(name)], args=[compare, data, version])
        if not written:
            raise Conflict(f"document {name!r} changed since it was read")
        return version

    def delete(self, name: str) -> None:
        with unavailable(f"document {name!r} could not be deleted"):
            self._client.delete(self._key(name))
