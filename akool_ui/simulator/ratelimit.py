"""Akool's "frequent operation" (1005) for status polls: one token bucket per account.

Akool documents 1005 without a number; the simulator makes it a knob (``poll_limit``: status requests
per second at speed 1, scaled by ``speed`` like every other simulated duration) so a client that polls
too eagerly is caught in tests and benches. A refused request takes no token.
"""

from __future__ import annotations

import threading

from .codes import SimError

__all__ = ["PollLimiter", "BURST_SECONDS"]

# A bucket holds this many seconds' worth of requests: a page opening a batch of four polls them
# together without being punished, a steady stream above the limit is not.
BURST_SECONDS = 2.0


class PollLimiter:
    """Token buckets by account uid, on the simulated clock (``now`` is passed in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}  # uid -> (tokens, when last filled)

    def check(self, uid: int, now: float, *, limit: float, speed: float) -> None:
        """Take a token for one status request; SimError(1005) when the account has none left."""
        if limit <= 0:
            return
        rate = limit * speed
        capacity = max(1.0, limit * BURST_SECONDS)
        with self._lock:
            tokens, filled = self._buckets.get(uid, (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - filled) * rate)
            if tokens < 1.0:
                self._buckets[uid] = (tokens, now)
                raise SimError(1005, f"more than {limit:g} status requests per second")
            self._buckets[uid] = (tokens - 1.0, now)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
