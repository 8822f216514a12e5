"""``RedisSlots``: the ``Slots`` port on Redis, one credential's poll turns counted across every replica.

Akool counts a credential's polls whichever machine sends them, so two replicas that each kept ten polls
a second to themselves would send twenty. Each name is one key holding when its next turn is due
(GCRA's theoretical arrival time, on Redis's own clock so the replicas' clocks never disagree); a Lua
script takes a turn and moves the time on in one step, and the key expires once its turns are past.
"""

from __future__ import annotations

import redis

from .connection import Keys, unavailable

__all__ = ["RedisSlots"]

# A turn due further ahead than this is nonsense (a day of one credential's polls queued), not a queue:
# the name starts again from now.
MAX_AHEAD_SECONDS = 86400.0
# Lua numbers reach Python as integers: the script answers with strings.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local gap, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = tonumber(redis.call('GET', KEYS[1]) or '') or now
if due < now or due > now + tonumber(ARGV[3]) then due = now end
local wait = due - burst + gap - now
if wait < 0 then wait = 0 end
local after = due + gap
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', math.ceil((after - now) * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisSlots:
    """Turns by name in Redis under ``keys`` (thread-safe; shared by every replica)."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._keys = keys
        self._take = client.register_script(_TAKE)

    def __repr__(self) -> str:
        return f"RedisSlots(prefix={self._keys.prefix!r})"

    def take(self, name: str, *, gap: float, burst: float) -> float:
        with unavailable(f"slot {name!r} could not be taken"):
            wait = float(self._take(keys=[self._keys("slots", name)],
                                    args=[f"{gap:.6f}", f"{burst:.6f}", f"{MAX_AHEAD_SECONDS:.0f}"]))
        return wait if wait > 1e-6 else 0.0
