"""One background thread that runs short callbacks at simulated times.

Used only for webhooks (status changes and delivery retries). Job status itself is never driven by a
timer; it is computed from the clock when asked. ``Clock.advance`` wakes the thread, so callbacks due
in the skipped span run at once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Callable

from .clock import Clock

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

# Re-check the clock at least this often even without a wake-up (wall clock jumps, missed notifies).
MAX_SLEEP_SECONDS = 0.5


class Scheduler:
    """Run ``fn()`` at simulated time ``when``; callbacks must be quick (hand real work to a pool)."""

    def __init__(self, clock: Clock, name: str = "simulator-scheduler"):
        self._clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        clock.on_change(self.wake)

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (when, next(self._seq), fn))
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._heap:
                        delay = self._heap[0][0] - self._clock.now()
                        if delay <= 0:
                            break
                        self._cond.wait(min(delay, MAX_SLEEP_SECONDS))
                    else:
                        self._cond.wait(MAX_SLEEP_SECONDS)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:  # a failing callback must not stop the others
                log.exception("simulator scheduler callback failed")
