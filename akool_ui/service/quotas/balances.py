"""The Akool credit left on each credential, read on demand and kept briefly.

``AkoolClient.credit`` asks Akool (``quota/info``); the answer is kept ``BALANCE_TTL`` seconds per
credential name (``"server"``, or the owner id a visitor's own key hashes to: never the key), so a page
that re-renders does not ask again, and forgotten as soon as a job of that credential ends (``spent``),
so the next look after a job shows what it cost. Who may see which balance is the Studio's rule
(``studio/credit.py``), not this cache's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Callable

from ...akool.client import AkoolClient
from ...akool.errors import AkoolError

__all__ = ["CreditBalances", "BALANCE_TTL", "MAX_BALANCES"]

log = logging.getLogger(__name__)

# Long enough that a burst of renders asks once, short enough that a job made elsewhere on the same
# account (another tab, Akool's own site) shows within a minute.
BALANCE_TTL = 60.0
# One entry per credential seen recently; the least recently read goes first.
MAX_BALANCES = 1024


class CreditBalances:
    """Balances by credential name. Thread-safe; a failed read is None (and logged), never an error."""

    def __init__(self, *, ttl: float = BALANCE_TTL, clock: Callable[[], float] = time.monotonic,
                 limit: int = MAX_BALANCES):
        self._ttl = ttl
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, float]] = OrderedDict()  # name -> (read at, credit)

    def __repr__(self) -> str:
        return f"CreditBalances({len(self._kept)} kept)"

    def balance(self, name: str, client: AkoolClient) -> float | None:
        """The credit left on ``name``'s account: kept, or read from Akool with ``client`` (None when Akool
        did not say: it is asked again next time)."""
        with self._lock:
            kept = self._kept.get(name)
            if kept is not None and self._clock() - kept[0] < self._ttl:
                self._kept.move_to_end(name)
                return kept[1]
        try:
            credit = client.credit()
        except AkoolError as exc:
            log.info("could not read the Akool credit (%s)", type(exc).__name__)
            return None
        with self._lock:
            self._kept[name] = (self._clock(), credit)
            self._kept.move_to_end(name)
            while len(self._kept) > self._limit:
                self._kept.popitem(last=False)
        return credit

    def known(self, name: str) -> float | None:
        """The kept balance, without asking Akool (None when there is none, or it is stale)."""
        with self._lock:
            kept = self._kept.get(name)
            return kept[1] if kept is not None and self._clock() - kept[0] < self._ttl else None

    def spent(self, name: str) -> None:
        """A job of ``name`` ended: its balance has changed, so the next look asks Akool again."""
        with self._lock:
            self._kept.pop(name, None)
