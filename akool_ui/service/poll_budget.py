"""One request budget per credential for all status polls, so many jobs never become a burst.

Every job polled with the same ``AkoolClient`` (one per credential: ``ClientPool``) draws on one budget
of ``rate`` polls per second with room for a short burst. A poll that finds no room is not refused: it
gets the next free slot (each job its own, in the order they asked), so under load polls queue up
evenly. Akool's 1005 ("too frequent") halves the credential's rate (down to ``MIN_RATE_SHARE`` of it);
the rate then creeps back to the configured one over ``RECOVERY_SECONDS`` without another 1005. Jobs
are never failed for it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Callable

__all__ = ["PollBudgets", "DEFAULT_POLL_BUDGET", "BURST_SECONDS", "MIN_RATE_SHARE", "RECOVERY_SECONDS"]

log = logging.getLogger(__name__)

# Akool publishes no number. Ten polls a second per account serves ~30 jobs at once on the learned
# schedule (dense polls of jobs ending together included) before any poll waits, and is what 30 tabs of
# Akool's own 3 s demo would send; 1005 answers lower it by themselves.
DEFAULT_POLL_BUDGET = 10.0
# The budget holds this many seconds' worth of polls: a batch of four polled together goes at once.
BURST_SECONDS = 2.0
# A 1005 halves the rate; never below this share of the configured rate.
MIN_RATE_SHARE = 1 / 16
# After the last 1005, the rate climbs back linearly to the configured one over this long.
RECOVERY_SECONDS = 60.0


class _Budget:
    """A GCRA-style scheduler of slots for one credential (the caller holds the lock)."""

    def __init__(self, rate: float, now: float):
        self.rate = rate
        self.share = 1.0  # of the configured rate, after 1005s
        self.share_at = now
        self.next_free = now  # theoretical time of the next slot

    def current_rate(self, now: float) -> float:
        if self.share < 1.0:
            recovered = (now - self.share_at) / RECOVERY_SECONDS
            self.share = min(1.0, self.share + recovered * (1.0 - MIN_RATE_SHARE))
            self.share_at = now
        return self.rate * self.share

    def reserve(self, now: float) -> float:
        gap = 1.0 / self.current_rate(now)
        slot = max(now, self.next_free - BURST_SECONDS * self.rate * gap + gap)
        self.next_free = max(self.next_free, now) + gap
        wait = slot - now
        return wait if wait > 1e-6 else 0.0  # float dust is not a wait


class PollBudgets:
    """The budgets of every credential in use, keyed by its client (forgotten with the client)."""

    def __init__(self, rate: float = DEFAULT_POLL_BUDGET, *, clock: Callable[[], float]):
        """``rate``: polls per second per credential (0 or less: no budget)."""
        self.rate = float(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: "weakref.WeakKeyDictionary[object, _Budget]" = weakref.WeakKeyDictionary()

    def reserve(self, client: object) -> float:
        """Take the next poll slot of ``client``'s credential: seconds to wait for it (0: poll now)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            return self._budget_of(client, now).reserve(now)

    def slow_down(self, client: object) -> float:
        """Akool said 1005 for this credential: halve its rate. Returns the new polls per second."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            budget = self._budget_of(client, now)
            budget.current_rate(now)
            budget.share = max(MIN_RATE_SHARE, budget.share / 2)
            budget.share_at = now
            rate = budget.rate * budget.share
        log.warning("Akool says polls are too frequent (1005): this credential's polls slowed to %.2f/s", rate)
        return rate

    def _budget_of(self, client: object, now: float) -> "_Budget":
        """The credential's budget, made on first use (the caller holds ``_lock``)."""
        budget = self._budgets.get(client)
        if budget is None:
            budget = self._budgets[client] = _Budget(self.rate, now)
        return budget

    def rate_of(self, client: object) -> float:
        """The credential's polls per second now (the configured rate if it has not been slowed)."""
        with self._lock:
            budget = self._budgets.get(client)
            return self.rate if budget is None else budget.current_rate(self._clock())
