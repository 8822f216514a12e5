"""The usage ledger behind the limits: images made under each visitor key, uploads stored, and the app's
credits today, kept in the ``limits`` document so a restart does not reset them.

Usage is not derived from the job records: they do not (and must not) carry the client address, and a
visitor may delete their jobs, which would give them their hour back.

The ledger is shared by every process on one ``Documents``: each change is a compare-and-set of the
whole document (written again on top of whatever another process wrote meanwhile), and each look first
asks the document's version and parses it again only when it changed, so two processes on one data
folder count together instead of each keeping its own count. A check's reservation (``limits.Hold``,
kept here as a ``Held``) is in the document too, taken by the same compare-and-set that re-runs the
check on what every process has written: two processes (or replicas) checking at the same instant
cannot both slip a request under a limit. A reservation whose process died lapses after ``HOLD_SECONDS``.

The ledger only keeps, forgets and persists; what is too much is decided by ``limits.SpendingLimiter`` and
``upload_budget.UploadBudget``, which share it and hold its ``lock`` around every read and write.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..documents import CachedDocument
from ..ports import Documents, StorageError
from .limit_text import utc_day

__all__ = ["UsageLedger", "Spend", "Held", "LEDGER_DOCUMENT", "HOLD_SECONDS", "room_at"]

log = logging.getLogger(__name__)

LEDGER_DOCUMENT = "limits"
_LEDGER_VERSION = 1
# A reservation lives for one request to Akool (at most a few minutes with every retry); one left by a
# process that died stops counting after this long.
HOLD_SECONDS = 600.0


@dataclass
class Spend:
    """Images made at one moment under one key, and the jobs that made them (for jobs in flight)."""

    at: float
    images: int
    job_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Held:
    """A check's reservation: images and credits counted under ``keys`` until recorded, released or
    ``until`` (epoch seconds) passes."""

    until: float
    keys: tuple[str, ...]
    images: int
    credits: int


@dataclass
class _Usage:
    """The ledger's content, as the document holds it."""

    spends: dict[str, list[Spend]] = field(default_factory=dict)
    uploads: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    """Per key: (when, bytes) of each stored upload."""
    day: str = ""
    day_credits: int = 0
    holds: dict[str, Held] = field(default_factory=dict)
    """Reservations not yet recorded or released, by hold id (every process's)."""


class UsageLedger:
    """What visitors used, per key, within the windows the limits look back over.

    Not locked by itself: callers hold ``lock`` (one lock, so a check and the reservation or write that
    follows it cannot interleave with another request's in this process). Call ``now`` first: it brings
    the ledger up to date with the document and forgets what no window needs.
    """

    def __init__(
        self, documents: Documents | None, *, clock: Callable[[], float], keep_spends: float, keep_uploads: float
    ):
        """``keep_spends`` and ``keep_uploads`` are how long (seconds) an entry is remembered: the longest
        window any check looks back over. Without ``documents`` the ledger lives in this process only."""
        self.lock = threading.Lock()
        self._clock = clock
        self._keep_spends = keep_spends
        self._keep_uploads = keep_uploads
        self._doc: CachedDocument[_Usage] = CachedDocument(documents, LEDGER_DOCUMENT, parse=_parse, dump=_dump)
        self._doc.get()  # read now: a damaged ledger is reported at start, not at the first request

    def __repr__(self) -> str:
        usage = self._doc.value
        return f"UsageLedger(keys={len(usage.spends)}, day={usage.day!r}, day_credits={usage.day_credits})"

    # What ``now`` brought up to date (the checks read these many times, so they do not look again).

    @property
    def spends(self) -> dict[str, list[Spend]]:
        return self._doc.value.spends

    @property
    def uploads(self) -> dict[str, list[tuple[float, int]]]:
        """Per key: (when, bytes) of each stored upload."""
        return self._doc.value.uploads

    @property
    def day_credits(self) -> int:
        return self._doc.value.day_credits

    @property
    def holds(self) -> dict[str, Held]:
        return self._doc.value.holds

    def now(self) -> float:
        """The clock's time, once the ledger is up to date and what no window needs is forgotten (call with
        ``lock`` held)."""
        now = self._clock()
        self._roll(self._doc.get(), now)
        return now

    def _roll(self, usage: _Usage, now: float) -> None:
        """Forget what no window needs any more; a new UTC day starts the budget again."""
        day = utc_day(now)
        if day != usage.day:
            usage.day, usage.day_credits = day, 0
        _drop_old(usage.spends, lambda s: s.at > now - self._keep_spends)
        _drop_old(usage.uploads, lambda u: u[0] > now - self._keep_uploads)
        for hold_id in [k for k, held in usage.holds.items() if held.until <= now]:
            del usage.holds[hold_id]

    def hold(self, hold_id: str, keys: Iterable[str], images: int, credits: int,
             check: Callable[[float], None]) -> None:
        """Reserve ``images`` and ``credits`` under ``keys`` if ``check(now)`` passes on the ledger as every
        process left it (it reads ``spends``, ``holds``, ``day_credits``; it raises to refuse, and then
        nothing is reserved), and persist; run again if another process wrote in between."""
        keys = tuple(keys)

        def change(usage: _Usage) -> None:
            now = self._clock()
            self._roll(usage, now)
            check(now)
            usage.holds[hold_id] = Held(now + HOLD_SECONDS, keys, int(images), int(credits))

        self._change(change)

    def add_spend(self, keys: Iterable[str], spend: Spend, credits: int, *, hold_id: str | None = None) -> None:
        """Count ``spend`` under every key and ``credits`` against today (its reservation ``hold_id``, if
        any, ends), and persist."""
        keys = tuple(keys)

        def change(usage: _Usage) -> None:
            self._roll(usage, self._clock())
            if hold_id is not None:
                usage.holds.pop(hold_id, None)
            for key in keys:
                usage.spends.setdefault(key, []).append(spend)
            usage.day_credits += credits

        self._change(change)

    def release(self, hold_id: str) -> None:
        """The reservation ``hold_id`` no longer counts (nothing was sent), and persist."""
        def change(usage: _Usage) -> None:
            self._roll(usage, self._clock())
            usage.holds.pop(hold_id, None)

        self._change(change)

    def add_upload(self, keys: Iterable[str], at: float, nbytes: int) -> None:
        """Count an upload of ``nbytes`` under every key, and persist."""
        keys = tuple(keys)

        def change(usage: _Usage) -> None:
            self._roll(usage, self._clock())
            for key in keys:
                usage.uploads.setdefault(key, []).append((at, int(nbytes)))

        self._change(change)

    def _change(self, change: Callable[[_Usage], None]) -> None:
        """Apply and write; a write that fails is logged and the count kept in this process (it goes out
        with the next change): a full disk must not hand out free images."""
        try:
            self._doc.update(change, keep_on_failure=True)
        except StorageError as exc:
            log.error("could not write the usage ledger: %s", exc)


def _dump(usage: _Usage) -> dict[str, Any]:
    return {
        "v": _LEDGER_VERSION,
        "day": usage.day,
        "day_credits": usage.day_credits,
        "spends": {k: [[s.at, s.images, list(s.job_ids)] for s in v] for k, v in usage.spends.items()},
        "uploads": {k: [list(u) for u in v] for k, v in usage.uploads.items()},
        "holds": {k: [h.until, list(h.keys), h.images, h.credits] for k, h in usage.holds.items()},
    }


def _parse(data: Any) -> _Usage:
    """A ledger this version wrote; anything else is logged and counting starts from zero."""
    if data is None:
        return _Usage()
    try:
        if not isinstance(data, dict) or data.get("v") != _LEDGER_VERSION:
            raise ValueError("not a ledger this version writes")
        spends = {
            str(k): [Spend(_finite(a), int(n), tuple(str(j) for j in ids)) for a, n, ids in v]
            for k, v in _mapping(data.get("spends")).items()
        }
        uploads = {str(k): [(_finite(a), int(n)) for a, n in v] for k, v in _mapping(data.get("uploads")).items()}
        holds = {str(k): Held(_finite(until), tuple(str(key) for key in keys), int(images), int(credits))
                 for k, (until, keys, images, credits) in _mapping(data.get("holds")).items()}
        return _Usage(spends, uploads, str(data.get("day") or ""), int(data.get("day_credits") or 0), holds)
    except (TypeError, ValueError):
        log.warning("the usage ledger is malformed; counting from zero")
        return _Usage()


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
