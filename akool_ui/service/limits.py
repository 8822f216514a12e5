"""What a visitor on the server's credentials may spend: images an hour, jobs in flight, the app's daily
credit budget, and source uploads a day.

A public link is hostile ground: every press of Generate or U/V spends the operator's Akool credits, and
every upload takes their disk. ``SpendingLimiter`` is asked before anything is sent (``check``) and told
afterwards what Akool accepted (``record``). The Studio asks only when the server's credentials pay; a
visitor with their own key is limited by their own account (uploads, which take this server's disk,
are budgeted for everyone).

A visitor is counted under two keys: their owner (a hash of their browser id) and a keyed hash of their
client address, so clearing the browser's storage does not hand them a fresh hour. A request is refused
when either key is over. Raw addresses are never kept: only an HMAC under the app's owner key, and an
IPv6 address is first cut to its /64 (what one subscriber is usually given, and can rotate within).

Usage lives in a small JSON ledger in the cache folder (``limits.json``, written whole with
``write_atomic``), so a restart does not reset it. It is not derived from the job records: they do not
(and must not) carry the client address, and a visitor may delete their jobs, which would give them
their hour back. One app process owns the ledger; a second process on the same cache folder would keep
its own count.

``check`` reserves what the request would spend (a ``Hold``), so two presses at the same instant cannot
both slip under a limit; ``record`` turns the hold into usage, ``release`` drops it when nothing was sent.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import ipaddress
import itertools
import json
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import StudioError
from ..fileio import write_atomic
from ..jobs import JobRecord
from ..settings import Limits

__all__ = [
    "SpendingLimiter", "Visitor", "Hold", "LimitReached", "LEDGER_FILE", "ESTIMATED_CREDITS", "HOUR",
    "UPLOAD_WINDOW", "credits_of", "estimate_credits", "address_bucket",
]

log = logging.getLogger(__name__)

LEDGER_FILE = "limits.json"
_LEDGER_VERSION = 1
HOUR = 3600.0
# Uploads are budgeted per rolling day: a try-out needs a few sources, not a folder's worth every hour.
UPLOAD_WINDOW = 24 * 3600.0
# What a job costs when Akool's answer does not say (akool-api.md §6): 1 credit per v4 image, 2 per
# U/V press. Akool's own ``deduction_credit`` wins whenever it is there.
ESTIMATED_CREDITS = {"generate": 1, "button": 2}
# A client that is not an IP address (a test client, a Unix socket) is still one visitor, by its text.
_MAX_ADDRESS_CHARS = 100
# IPv6 visitors are counted per /64: a home line gets a /64 (or more) and can pick any address in it.
_IPV6_PREFIX = 64


class LimitReached(StudioError):
    """A spending or upload limit of this app would be passed; ``user_message`` says which and when it
    resets."""


def estimate_credits(kind: str, images: int = 1) -> int:
    """Credits a request will probably cost before Akool says: per image for a generation, per press."""
    return ESTIMATED_CREDITS.get(kind, ESTIMATED_CREDITS["button"]) * max(1, int(images))


def credits_of(record: JobRecord) -> int:
    """A job's cost: Akool's ``deduction_credit`` when known, else the estimate for its kind."""
    return record.credits if record.credits is not None else estimate_credits(record.kind)


@dataclass(frozen=True)
class Visitor:
    """Whom to count a request under: the owner and (when known) the hashed client address."""

    owner: str
    address: str | None = None
    """``"a" + HMAC`` of the client address (never the address itself), or None when unknown."""

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.owner,) if self.address is None else (self.owner, self.address)


@dataclass(frozen=True)
class Hold:
    """What a checked request may spend, counted against the limits until recorded or released."""

    id: int
    keys: tuple[str, ...]
    images: int
    credits: int


@dataclass
class _Spend:
    """Images made at one moment under one key, and the jobs that made them (for jobs in flight)."""

    at: float
    images: int
    job_ids: tuple[str, ...] = ()


def _plural(n: int | float, word: str) -> str:
    return f"{n:g} {word}" if n == 1 else f"{n:g} {word}s"


def _utc(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc)


def _utc_day(epoch: float) -> str:
    return _utc(epoch).date().isoformat()


def _next_utc_midnight(epoch: float) -> float:
    day = _utc(epoch).date() + _dt.timedelta(days=1)
    return _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc).timestamp()


def _clock_time(epoch: float, now: float) -> str:
    """``"14:05 UTC"`` (``" tomorrow"`` when it is not today), rounded up: at that minute it is true."""
    at = _utc(math.ceil(epoch / 60.0) * 60.0)
    text = at.strftime("%H:%M UTC")
    return text if at.date() == _utc(now).date() else f"{text} tomorrow"


def address_bucket(address: str) -> str:
    """The part of a client address that stands for one visitor: an IPv4 address, an IPv6 /64."""
    text = address.strip().strip("[]").split("%", 1)[0][:_MAX_ADDRESS_CHARS]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip)


class SpendingLimiter:
    """Counts what visitors on the server's credentials spend, and refuses what would pass a limit.

    Thread-safe: every method may be called from any Gradio worker. ``clock`` is epoch seconds (UTC days
    and reset times are computed from it), injectable so tests can move time.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        path: Path | None = None,
        address_key: bytes | None = None,
        job_in_flight: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
        in_flight_window: float = HOUR,
    ):
        """``job_in_flight(job_id)`` says whether a recorded job is still being made (from the store);
        ``in_flight_window`` is how long a job id is remembered for that count (at least an hour).
        ``address_key`` keys the address hashes (the app's owner key, so they are stable across restarts);
        without one a random key is used: an unkeyed hash of an IPv4 address is reversed by trying them all."""
        self.limits = limits
        self.path = path
        self._address_key = address_key or secrets.token_bytes(32)
        self._job_in_flight = job_in_flight or (lambda job_id: False)
        self._clock = clock
        self._keep = max(HOUR, float(in_flight_window))
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._holds: dict[int, Hold] = {}
        self._spends: dict[str, list[_Spend]] = {}
        self._uploads: dict[str, list[tuple[float, int]]] = {}
        self._day = _utc_day(clock())
        self._day_credits = 0
        if path is not None:
            self._load(path)

    def __repr__(self) -> str:
        return f"SpendingLimiter({self.limits!r}, visitors={len(self._spends)})"

    @property
    def limits_spending(self) -> bool:
        """Whether any limit on spending credits is set (none on a local app)."""
        lim = self.limits
        return any(v is not None for v in (lim.images_per_hour, lim.jobs_in_flight, lim.daily_credits))

    def visitor(self, owner: str, client_address: str | None = None) -> Visitor:
        """The keys ``owner`` is counted under; the address only as a keyed hash."""
        if not client_address:
            return Visitor(owner)
        digest = hmac.new(
            self._address_key, b"address\x1f" + address_bucket(client_address).encode("utf-8"), hashlib.sha256
        ).hexdigest()[:32]
        return Visitor(owner, "a" + digest)

    # --- spending ------------------------------------------------------------------------------------

    def check(self, visitor: Visitor, images: int, *, credits: int | None = None) -> Hold:
        """Reserve ``images`` (and ``credits``, default: the estimate for a generation) or refuse.

        Raises:
            LimitReached: one of the limits would be passed; nothing is reserved then.
        """
        images = max(1, int(images))
        credits = estimate_credits("generate", images) if credits is None else int(credits)
        with self._lock:
            now = self._clock()
            self._roll(now)
            for key in visitor.keys:
                self._check_hour(key, images, now)
            for key in visitor.keys:
                self._check_in_flight(key, images)
            self._check_budget(credits, now)
            hold = Hold(next(self._ids), visitor.keys, images, credits)
            self._holds[hold.id] = hold
            return hold

    def record(self, hold: Hold, records: Sequence[JobRecord] = ()) -> int:
        """Akool accepted the request: its jobs count from now on. Returns the credits counted.

        With no records (the request may have reached Akool, but we do not know its jobs), the hold's
        own estimate is counted: the operator's budget errs on the safe side."""
        spent = sum(credits_of(r) for r in records) if records else hold.credits
        images = len(records) if records else hold.images
        job_ids = tuple(r.id for r in records)
        with self._lock:
            self._holds.pop(hold.id, None)
            now = self._clock()
            self._roll(now)
            for key in hold.keys:
                self._spends.setdefault(key, []).append(_Spend(now, images, job_ids))
            self._day_credits += spent
            self._save()
        return spent

    def release(self, hold: Hold) -> None:
        """Nothing was sent (or Akool refused it): the hold no longer counts."""
        with self._lock:
            self._holds.pop(hold.id, None)

    def usage(self, visitor: Visitor) -> dict[str, int]:
        """What ``visitor`` has used now (the highest of their keys), and the app's credits today."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            return {
                "images_last_hour": max(self._images_in_hour(k, now) for k in visitor.keys),
                "in_flight": max(self._in_flight(k) for k in visitor.keys),
                "credits_today": self._day_credits,
            }

    # --- uploads -------------------------------------------------------------------------------------

    def check_upload(self, visitor: Visitor, nbytes: int) -> None:
        """Refuse an upload of ``nbytes`` that would pass the visitor's budget for the last 24 hours.

        Raises:
            LimitReached: with when the visitor can upload again.
        """
        limit_mb = self.limits.upload_mb_per_visitor
        if limit_mb is None:
            return
        limit = limit_mb * 2**20
        with self._lock:
            now = self._clock()
            self._roll(now)
            for key in visitor.keys:
                entries = sorted(self._uploads.get(key, ()))
                used = sum(n for _, n in entries)
                if used + nbytes <= limit:
                    continue
                if nbytes > limit:
                    raise LimitReached(
                        f"This image is larger than the {limit_mb} MB of source uploads each visitor may make in "
                        f"24 hours on this app; use a smaller image, or paste a public image URL instead."
                    )
                freed, reset = used, now + UPLOAD_WINDOW
                for at, n in entries:  # the oldest age out first
                    freed -= n
                    if freed + nbytes <= limit:
                        reset = at + UPLOAD_WINDOW
                        break
                when = _clock_time(reset, now)
                if used >= limit:
                    raise LimitReached(
                        f"You have uploaded {limit_mb} MB of source images in the last 24 hours on "
                        f"this app; you can upload more at {when}, or paste a public image URL instead."
                    )
                raise LimitReached(
                    f"This image would take you past {limit_mb} MB of source uploads in 24 hours "
                    f"on this app; you can upload it at {when}, or paste a public image URL instead."
                )

    def record_upload(self, visitor: Visitor, nbytes: int) -> None:
        """An upload of ``nbytes`` was stored for ``visitor``."""
        if self.limits.upload_mb_per_visitor is None:
            return
        with self._lock:
            now = self._clock()
            self._roll(now)
            for key in visitor.keys:
                self._uploads.setdefault(key, []).append((now, int(nbytes)))
            self._save()

    # --- the checks (called with the lock held) -------------------------------------------------------

    def _held(self, key: str | None) -> tuple[int, int]:
        """(images, credits) reserved by holds not yet recorded, for ``key`` (None: every hold)."""
        holds = [h for h in self._holds.values() if key is None or key in h.keys]
        return sum(h.images for h in holds), sum(h.credits for h in holds)

    def _images_in_hour(self, key: str, now: float) -> int:
        return sum(s.images for s in self._spends.get(key, ()) if s.at > now - HOUR)

    def _in_flight(self, key: str) -> int:
        ids = {job_id for s in self._spends.get(key, ()) for job_id in s.job_ids}
        return sum(1 for job_id in ids if self._job_in_flight(job_id))

    def _check_hour(self, key: str, images: int, now: float) -> None:
        limit = self.limits.images_per_hour
        if limit is None:
            return
        if images > limit:
            raise LimitReached(
                f"This app lets each visitor make {_plural(limit, 'image')} an hour on its account; choose "
                f"fewer images, or enter your own Akool API key."
            )
        recent = sorted((s for s in self._spends.get(key, ()) if s.at > now - HOUR), key=lambda s: s.at)
        held, _ = self._held(key)
        used = sum(s.images for s in recent) + held
        if used + images <= limit:
            return
        left, reset = used, now + HOUR
        for spend in recent:  # the oldest age out first
            left -= spend.images
            if left + images <= limit:
                reset = spend.at + HOUR
                break
        when = _clock_time(reset, now)
        if used >= limit:
            raise LimitReached(
                f"You have made {_plural(used, 'image')} in the last hour on this app's account; you can make "
                f"more at {when}, or enter your own Akool API key."
            )
        raise LimitReached(
            f"You can make {_plural(limit - used, 'more image')} this hour on this app's account; choose fewer "
            f"images, wait until {when}, or enter your own Akool API key."
        )

    def _check_in_flight(self, key: str, images: int) -> None:
        limit = self.limits.jobs_in_flight
        if limit is None:
            return
        if images > limit:
            raise LimitReached(
                f"This app lets each visitor have {_plural(limit, 'image')} in the making at once on its "
                f"account; choose fewer images, or enter your own Akool API key."
            )
        held, _ = self._held(key)
        busy = self._in_flight(key) + held
        if busy + images <= limit:
            return
        if busy >= limit:
            raise LimitReached(
                f"You already have {_plural(busy, 'image')} in the making on this app's account; wait for "
                f"one to finish, or enter your own Akool API key."
            )
        raise LimitReached(
            f"You already have {_plural(busy, 'image')} in the making on this app's account and may have "
            f"{limit} at once; choose fewer images, wait for them to finish, or enter your own Akool API key."
        )

    def _check_budget(self, credits: int, now: float) -> None:
        budget = self.limits.daily_credits
        if budget is None:
            return
        _, held = self._held(None)
        used = self._day_credits + held
        if used + credits <= budget:
            return
        when = _clock_time(_next_utc_midnight(now), now)
        if used >= budget:
            raise LimitReached(
                f"This app has spent its {_plural(budget, 'credit')} for today on its Akool account; it can "
                f"make more at {when}, or enter your own Akool API key."
            )
        raise LimitReached(
            f"This app has {_plural(budget - used, 'credit')} left for today on its Akool account; choose "
            f"fewer images, wait until {when}, or enter your own Akool API key."
        )

    def _roll(self, now: float) -> None:
        """Forget what no window needs any more; a new UTC day starts the budget again."""
        day = _utc_day(now)
        if day != self._day:
            self._day, self._day_credits = day, 0
        _drop_old(self._spends, lambda s: s.at > now - self._keep)
        _drop_old(self._uploads, lambda u: u[0] > now - UPLOAD_WINDOW)

    # --- the ledger ----------------------------------------------------------------------------------

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "v": _LEDGER_VERSION,
            "day": self._day,
            "day_credits": self._day_credits,
            "spends": {k: [[s.at, s.images, list(s.job_ids)] for s in v] for k, v in self._spends.items()},
            "uploads": {k: [list(u) for u in v] for k, v in self._uploads.items()},
        }
        try:
            # No fsync: rewritten on every spend; a power cut can lose the last entry, not the file.
            write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode(), fsync=False)
        except OSError:
            log.exception("could not write the usage ledger %s", self.path.name)

    def _load(self, path: Path) -> None:
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
                str(k): [_Spend(_finite(a), int(n), tuple(str(j) for j in ids)) for a, n, ids in v]
                for k, v in _mapping(data.get("spends")).items()
            }
            uploads = {str(k): [(_finite(a), int(n)) for a, n in v] for k, v in _mapping(data.get("uploads")).items()}
            day, credits = str(data.get("day") or ""), int(data.get("day_credits") or 0)
        except (TypeError, ValueError):
            log.warning("the usage ledger %s is malformed; counting from zero", path.name)
            return
        self._spends, self._uploads = spends, uploads
        if day == self._day:
            self._day_credits = credits


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
