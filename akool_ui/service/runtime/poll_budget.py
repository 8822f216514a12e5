"""One request budget per credential for all status polls, so many jobs never become a burst.

Every job polled with the same ``AkoolClient`` (one per credential: ``ClientPool``) draws on one budget
of ``rate`` polls per second with room for a short burst. A poll that finds no room is not refused: it
gets the next free slot (each job its own, in the order they asked), so under load polls queue up
evenly. Akool's 1005 ("too frequent") halves the credential's rate (down to ``MIN_RATE_SHARE`` of it);
the rate then creeps back to the configured one over ``RECOVERY_SECONDS`` without another 1005. Jobs
are never failed for it.

Akool counts a credential's polls whichever process sends them, so with a ``shared_name`` for the
credential both the slots and a slow-down are shared: the slots are the ``Slots`` port's turns (on the
shared adapter, one rate for every replica: two replicas poll no more than one), and the share of the
rate left after 1005s lives in the ``poll-slowdown`` document (looked at about once a second), so every
process on it slows down together. When the shared slots cannot be reached, this process keeps to its
own slots meanwhile (said once in the log).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Callable

from ..documents import CachedDocument
from ..ports import Documents, Slots, StorageError, gcra

__all__ = ["PollBudgets", "DEFAULT_POLL_BUDGET", "BURST_SECONDS", "MIN_RATE_SHARE", "RECOVERY_SECONDS",
           "SLOWDOWN_DOCUMENT"]

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
SLOWDOWN_DOCUMENT = "poll-slowdown"
# How long a look at the shared slow-down is good for: polls are many, 1005s rare.
SHARED_LOOK_SECONDS = 1.0

Slowdowns = dict[str, list[float]]
"""Credential name -> [share of the rate left, when (wall clock) it was that]."""


def _recovered(share: float, at: float, now: float) -> float:
    """The share of the rate ``now``, having been ``share`` at ``at`` and creeping back since."""
    if share >= 1.0:
        return 1.0
    return min(1.0, share + max(0.0, now - at) / RECOVERY_SECONDS * (1.0 - MIN_RATE_SHARE))


class _Budget:
    """One credential's rate and slots in this process (the caller holds the lock)."""

    def __init__(self, rate: float, now: float):
        self.rate = rate
        self.share = 1.0  # of the configured rate, after 1005s (this process's, for an unshared credential)
        self.share_at = now
        self.next_free: float | None = None  # when this process's next slot is due (GCRA)

    def local_share(self, now: float) -> float:
        self.share, self.share_at = _recovered(self.share, self.share_at, now), now
        return self.share

    def spacing(self, share: float) -> tuple[float, float]:
        """(seconds between slots, seconds of slots that may go at once) at ``share`` of the rate."""
        gap = 1.0 / (self.rate * share)
        return gap, BURST_SECONDS * self.rate * gap

    def reserve(self, now: float, share: float) -> float:
        wait, self.next_free = gcra(self.next_free, now, *self.spacing(share))
        return wait


class PollBudgets:
    """The budgets of every credential in use, keyed by its client (forgotten with the client)."""

    def __init__(self, rate: float = DEFAULT_POLL_BUDGET, *, clock: Callable[[], float],
                 documents: Documents | None = None, slots: Slots | None = None,
                 shared_name: Callable[[Any], str | None] | None = None, wall: Callable[[], float] | None = None):
        """``rate``: polls per second per credential (0 or less: no budget). ``shared_name(client)`` names a
        credential the same in every process (never its key), or None to keep its slots and slow-down
        here; ``slots``: where named credentials' slots are taken (``Storage.slots``); ``wall``: the clock
        shared slow-downs are dated by (epoch seconds; ``clock`` when not given)."""
        self.rate = float(rate)
        self._clock = clock
        self._wall = wall or clock
        self._shared_name = shared_name if documents is not None or slots is not None else None
        self._slots = slots
        self._slots_failing = False
        self._lock = threading.Lock()
        self._budgets: "weakref.WeakKeyDictionary[object, _Budget]" = weakref.WeakKeyDictionary()
        self._shared: CachedDocument[Slowdowns] = CachedDocument(
            documents, SLOWDOWN_DOCUMENT, parse=_parse, dump=dict, max_age=SHARED_LOOK_SECONDS, clock=clock)

    def reserve(self, client: object) -> float:
        """Take the next poll slot of ``client``'s credential: seconds to wait for it (0: poll now)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        name = self._shared_name(client) if self._slots is not None and self._shared_name else None
        with self._lock:
            budget = self._budget_of(client, now)
            share = self._share(client, budget, now)
            if name is None:
                return budget.reserve(now, share)
            gap, burst = budget.spacing(share)
        try:
            wait = self._slots.take(f"polls/{name}", gap=gap, burst=burst)  # type: ignore[union-attr]
        except StorageError as exc:
            if not self._slots_failing:
                log.warning("the shared poll slots could not be reached (%s): this process keeps to its own "
                            "until they answer again", exc)
            self._slots_failing = True
            with self._lock:
                return budget.reserve(now, share)
        if self._slots_failing:
            self._slots_failing = False
            log.info("the shared poll slots answer again")
        return wait

    def slow_down(self, client: object) -> float:
        """Akool said 1005 for this credential: halve its rate. Returns the new polls per second."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        name = self._shared_name(client) if self._shared_name else None
        with self._lock:
            budget = self._budget_of(client, now)
            if name is None:
                budget.share = max(MIN_RATE_SHARE, budget.local_share(now) / 2)
                share = budget.share
            else:
                share = self._slow_shared(name)
            rate = budget.rate * share
        log.warning("Akool says polls are too frequent (1005): this credential's polls slowed to %.2f/s", rate)
        return rate

    def rate_of(self, client: object) -> float:
        """The credential's polls per second now (the configured rate if it has not been slowed)."""
        now = self._clock()
        with self._lock:
            budget = self._budgets.get(client)
            if budget is None and (self._shared_name is None or self._shared_name(client) is None):
                return self.rate
            budget = budget or _Budget(self.rate, now)
            return budget.rate * self._share(client, budget, now)

    def _budget_of(self, client: object, now: float) -> "_Budget":
        """The credential's budget, made on first use (the caller holds ``_lock``)."""
        budget = self._budgets.get(client)
        if budget is None:
            budget = self._budgets[client] = _Budget(self.rate, now)
        return budget

    def _share(self, client: object, budget: _Budget, now: float) -> float:
        """The share of the rate left to ``client``'s credential now (the caller holds ``_lock``)."""
        name = self._shared_name(client) if self._shared_name else None
        if name is None:
            return budget.local_share(now)
        try:
            entry = self._shared.get().get(name)
        except StorageError:  # cannot look: go on with what was last seen
            entry = self._shared.value.get(name)
        return 1.0 if entry is None else max(MIN_RATE_SHARE, _recovered(entry[0], entry[1], self._wall()))

    def _slow_shared(self, name: str) -> float:
        """Halve the shared share of ``name`` (the caller holds ``_lock``); the share now."""
        wall = self._wall()

        def halve(slowdowns: Slowdowns) -> float:
            for other, (share, at) in list(slowdowns.items()):  # fully recovered ones are forgotten
                if _recovered(share, at, wall) >= 1.0:
                    del slowdowns[other]
            entry = slowdowns.get(name)
            share = max(MIN_RATE_SHARE, (1.0 if entry is None else _recovered(entry[0], entry[1], wall)) / 2)
            slowdowns[name] = [share, wall]
            return share

        try:
            return self._shared.update(halve, keep_on_failure=True)
        except StorageError as exc:  # still slowed here, shared with the next 1005's write
            log.warning("could not share the slow-down with other processes: %s", exc)
            return self._shared.value[name][0]


def _parse(data: Any) -> Slowdowns:
    if not isinstance(data, dict):
        return {}
    out: Slowdowns = {}
    for name, entry in data.items():
        if (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, (int, float)) for x in entry)
                and 0 < entry[0] <= 1):
            out[str(name)] = [float(entry[0]), float(entry[1])]
    return out
