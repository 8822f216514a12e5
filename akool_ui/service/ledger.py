"""The usage ledger behind the limits: images made under each visitor key, uploads stored, and the app's
credits today, kept in ``limits.json`` in the cache folder so a restart does not reset them.

Usage is not derived from the job records: they do not (and must not) carry the client address, and a
visitor may delete their jobs, which would give them their hour back. One app process owns the ledger; a
second process on the same cache folder would keep its own count.

The ledger only keeps, forgets and persists; what is too much is decided by ``limits.SpendingLimiter`` and
``upload_budget.UploadBudget``, which share it and hold its ``lock`` around every read and write.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..fileio import write_atomic
from .limit_text import utc_day

__all__ = ["UsageLedger", "Spend", "LEDGER_FILE", "room_at"]

log = logging.getLogger(__name__)

LEDGER_FILE = "limits.json"
_LEDGER_VERSION = 1


@dataclass
class Spend:
    """Images made at one moment under one key, and the jobs that made them (for jobs in flight)."""

    at: float
    images: int
    job_ids: tuple[str, ...] = ()


class UsageLedger:
    """What visitors used, per key, within the windows the limits look back over.

    Not locked by itself: callers hold ``lock`` (one lock, so a check and the reservation or write that
    follows it cannot interleave with another request's). ``save`` writes the whole file atomically.
    """

    def __init__(
        self, path: Path | None, *, clock: Callable[[], float], keep_spends: float, keep_uploads: float
    ):
        """``keep_spends`` and ``keep_uploads`` are how long (seconds) an entry is remembered: the longest
        window any check looks back over. Without ``path`` nothing is read or written."""
        self.path = path
        self.lock = threading.Lock()
        self._clock = clock
        self._keep_spends = keep_spends
        self._keep_uploads = keep_uploads
        self.spends: dict[str, list[Spend]] = {}
        self.uploads: dict[str, list[tuple[float, int]]] = {}
        """Per key: (when, bytes) of each stored upload."""
        self.day = utc_day(clock())
        self.day_credits = 0
        if path is not None:
            self._load(path)

    def __repr__(self) -> str:
        return f"UsageLedger(keys={len(self.spends)}, day={self.day!r}, day_credits={self.day_credits})"

    def now(self) -> float:
        """The clock's time, once what no window needs any more is forgotten (call with ``lock`` held)."""
        now = self._clock()
        self.roll(now)
        return now

    def roll(self, now: float) -> None:
        """Forget what no window needs any more; a new UTC day starts the budget again."""
        day = utc_day(now)
        if day != self.day:
            self.day, self.day_credits = day, 0
        _drop_old(self.spends, lambda s: s.at > now - self._keep_spends)
        _drop_old(self.uploads, lambda u: u[0] > now - self._keep_uploads)

    def add_spend(self, keys: Iterable[str], spend: Spend, credits: int) -> None:
        """Count ``spend`` under every key and ``credits`` against today, and persist."""
        for key in keys:
            self.spends.setdefault(key, []).append(spend)
        self.day_credits += credits
        self.save()

    def add_upload(self, keys: Iterable[str], at: float, nbytes: int) -> None:
        """Count an upload of ``nbytes`` under every key, and persist."""
        for key in keys:
            self.uploads.setdefault(key, []).append((at, int(nbytes)))
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "v": _LEDGER_VERSION,
            "day": self.day,
            "day_credits": self.day_credits,
            "spends": {k: [[s.at, s.images, list(s.job_ids)] for s in v] for k, v in self.spends.items()},
            "uploads": {k: [list(u) for u in v] for k, v in self.uploads.items()},
        }
        try:
            # No fsync: rewritten on every spend; a power cut can lose the last entry, not the file.
            write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode(), fsync=False)
        except OSError:
            log.exception("could not write the usage ledger %s", self.path.name)

    def _load(self, path: Path) -> None:
        """Read a ledger this version wrote; anything else is logged and counting starts from zero."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            log.warning("the usage ledger %s could not be read; counting from zero", path.name)
            return
        try:
            if not isinstance(data, dict) or data.get("v") != _LEDGER_VERSION:
                raise ValueError("not a ledger this version writes")
            spends = {
                str(k): [Spend(_finite(a), int(n), tuple(str(j) for j in ids)) for a, n, ids in v]
                for k, v in _mapping(data.get("spends")).items()
            }
            uploads = {str(k): [(_finite(a), int(n)) for a, n in v] for k, v in _mapping(data.get("uploads")).items()}
            day, credits = str(data.get("day") or ""), int(data.get("day_credits") or 0)
        except (TypeError, ValueError):
            log.warning("the usage ledger %s is malformed; counting from zero", path.name)
            return
        self.spends, self.uploads = spends, uploads
        if day == self.day:
            self.day_credits = credits


def room_at(entries: Iterable[tuple[float, float]], used: float, wanted: float, limit: float, window: float,
            now: float) -> float:
    """When a rolling ``window`` frees enough for ``wanted`` more: ``entries`` are (time, amount) spent
    inside it, oldest first, and age out one by one (``now + window`` if even that is not enough)."""
    left = used
    for at, amount in entries:
        left -= amount
        if left + wanted <= limit:
            return at + window
    return now + window


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite time")
    return number


def _mapping(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    return value


def _drop_old(table: dict[str, list], keep: Callable[[Any], bool]) -> None:
    for key in list(table):
        kept = [item for item in table[key] if keep(item)]
        if kept:
            table[key] = kept
        else:
            del table[key]
