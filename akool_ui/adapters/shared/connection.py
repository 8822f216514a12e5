"""Talking to Redis: one client per process, key names under one prefix, and Redis's errors turned into
the ports' own (``StorageUnavailable``), so the service catches the same exceptions whatever is behind it.

A Redis URL may carry a password (``redis://:secret@host``): it never reaches a log line or an exception
message from here, which name the server only by host and port.
"""

from __future__ import annotations

import contextlib
from typing import Iterator
from urllib.parse import urlsplit

import redis

from ...service.ports import StorageUnavailable

__all__ = ["open_redis", "Keys", "unavailable", "describe_url"]

# A call that has not answered in this long is a network problem, not a busy server (every command here
# is O(log n) or touches one owner's jobs); the caller gets StorageUnavailable instead of hanging a worker.
SOCKET_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
# Pool size: the poll and download workers, Gradio's worker threads and the lease heartbeat together.
MAX_CONNECTIONS = 64


def open_redis(url: str) -> redis.Redis:
    """A client for ``url`` (connections are made on first use)."""
    return redis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=30, max_connections=MAX_CONNECTIONS, retry_on_timeout=True,
    )


def describe_url(url: str) -> str:
    """``host:port`` of a Redis or S3 URL, for logs (never its user name or password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or ''}".rstrip(":")


class Keys:
    """Every Redis key the shared adapter uses, under ``prefix`` (several apps may share one Redis)."""

    def __init__(self, prefix: str):
        self.prefix = prefix if prefix.endswith(":") else prefix + ":"

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)


@contextlib.contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Redis's failures (down, timed out, out of memory) as ``StorageUnavailable`` saying ``what`` failed."""
    try:
        yield
    except redis.exceptions.WatchError:
        raise
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"{what}: the shared store (Redis) did not answer ({type(exc).__name__})") from None
