"""The simulator's injectable clock: wall time plus an offset that tests move with ``advance``."""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["Clock"]


class Clock:
    """Simulated epoch seconds. ``advance`` only ever moves time forward; listeners hear every move."""

    def __init__(self, offset: float = 0.0, wall: Callable[[], float] = time.time):
        self._offset = float(offset)
        self._wall = wall
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def offset(self) -> float:
        """Seconds added to the wall clock so far."""
        return self._offset

    def now(self) -> float:
        return self._wall() + self._offset

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by ``seconds`` and return the new time."""
        seconds = float(seconds)
        if not seconds >= 0:  # also refuses NaN
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return self.now()

    def on_change(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)
