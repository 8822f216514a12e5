"""``MemorySlots``: the ``Slots`` port in this process (a credential's poll turns, counted here only).

The local adapter is one process on one machine: its polls are all the polls its credentials send, so
the turns need not be written anywhere. ``take`` is GCRA (the generic cell rate algorithm): each name
keeps the time its next turn is due (its theoretical arrival time); a turn is now while that time is
less than ``burst`` ahead, else when it comes.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from ...service.ports import gcra

__all__ = ["MemorySlots"]

# Names whose turns are all in the past are forgotten once there are this many (visitors' own keys).
_KEEP = 1000


class MemorySlots:
    """Turns by name in a dict (thread-safe); ``clock``: seconds, monotonic."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._due: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"MemorySlots(names={len(self._due)})"

    def take(self, name: str, *, gap: float, burst: float) -> float:
        now = self._clock()
        with self._lock:
            wait, self._due[name] = gcra(self._due.get(name), now, gap, burst)
            if len(self._due) > _KEEP:
                self._due = {k: v for k, v in self._due.items() if v > now}
        return wait
