"""What a visitor on the server's credentials may spend: images an hour, jobs in flight, the app's daily
credit budget, and source uploads a day.

A public link is hostile ground: every press of Generate or U/V spends the operator's Akool credits, and
every upload takes their disk. ``SpendingLimiter`` is asked before anything is sent (``check``) and told
afterwards what Akool accepted (``record``). The Studio asks only when the server's credentials pay; a
visitor with their own key is limited by their own account (uploads, which take this server's disk,
are budgeted for everyone).

A visitor is counted under their owner and a keyed hash of their client address (``visitors``), and a
request is refused when either key is over. Usage lives in the ``limits`` document (``ledger``), so a
restart does not reset it and every process on one data folder counts together.

``check`` reserves what the request would spend (a ``Hold``, in the ledger with the usage, taken by the
compare-and-set that checks), so two presses at the same instant, on any process or replica, cannot both
slip under a limit; ``record`` turns the hold into usage, ``release`` drops it when nothing was sent.

This module is the limits' public face: the parts live beside it (``visitors``, ``ledger``,
``upload_budget``, and ``limit_text`` for ``LimitReached`` and its wording) and are re-exported here.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ...jobs import JobRecord
from ...settings import Limits
from ..ports import Documents
from .ledger import LEDGER_DOCUMENT, Spend, UsageLedger, room_at
from .limit_text import LimitReached, clock_time, next_utc_midnight, plural
from .upload_budget import UPLOAD_WINDOW, UploadBudget
from .visitors import Visitor, address_bucket, visitor_for

__all__ = [
    "SpendingLimiter", "Visitor", "Hold", "LimitReached", "LEDGER_DOCUMENT", "ESTIMATED_CREDITS", "HOUR",
    "UPLOAD_WINDOW", "credits_of", "estimate_credits", "address_bucket",
]

HOUR = 3600.0
MINUTE = 60.0
# Every request on the server's credentials is also counted under this key, for the app-wide rate.
APP_KEY = "app"
# What a job costs when Akool's answer does not say (akool-api.md §6): 1 credit per v4 image, 2 per
# U/V press. Akool's own ``deduction_credit`` wins whenever it is there.
ESTIMATED_CREDITS = {"generate": 1, "button": 2}


def estimate_credits(kind: str, images: int = 1) -> int:
    """Credits a request will probably cost before Akool says: per image for a generation, per press."""
    return ESTIMATED_CREDITS.get(kind, ESTIMATED_CREDITS["button"]) * max(1, int(images))


def credits_of(record: JobRecord) -> int:
    """A job's cost: Akool's ``deduction_credit`` when known, else the estimate for its kind."""
    return record.credits if record.credits is not None else estimate_credits(record.kind)


@dataclass(frozen=True)
class _Words:
    """How a refusal names whom a limit counts: the visitor, or everyone on their network."""

    each: str
    you: str
    you_have: str
    you_can: str
    you_already_have: str


_VISITOR_WORDS = _Words("each visitor", "you", "You have", "You can", "You already have")
_NETWORK_WORDS = _Words(
    "each network", "visitors from your network", "Visitors from your network have",
    "Visitors from your network can", "Visitors from your network already have",
)


@dataclass(frozen=True)
class Hold:
    """What a checked request may spend, counted against the limits until recorded or released."""

    id: str
    keys: tuple[str, ...]
    images: int
    credits: int


class SpendingLimiter:
    """Counts what visitors on the server's credentials spend, and refuses what would pass a limit.

    Thread-safe: every method may be called from any Gradio worker (holds and the ledger share the
    ledger's lock). ``clock`` is epoch seconds (UTC days and reset times are computed from it), injectable
    so tests can move time.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        documents: Documents | None = None,
        address_key: bytes | None = None,
        job_in_flight: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
        in_flight_window: float = HOUR,
    ):
        """``job_in_flight(job_id)`` says whether a recorded job is still being made (from the store);
        ``in_flight_window`` is how long a job id is remembered for that count (at least an hour).
        ``address_key`` keys the address hashes (the app's owner key, so they are stable across restarts);
        without one a random key is used: an unkeyed hash of an IPv4 address is reversed by trying them all.
        ``documents`` keeps the ledger (None: in this process only, forgotten on exit)."""
        self.limits = limits
        self._address_key = address_key or secrets.token_bytes(32)
        self._job_in_flight = job_in_flight or (lambda job_id: False)
        self.ledger = UsageLedger(
            documents, clock=clock, keep_spends=max(HOUR, float(in_flight_window)), keep_uploads=UPLOAD_WINDOW
        )
        self.upload_budget = UploadBudget(limits, self.ledger)

    def __repr__(self) -> str:
        return f"SpendingLimiter({self.limits!r}, visitors={len(self.ledger.spends)})"

    @property
    def limits_spending(self) -> bool:
        """Whether any limit on spending credits is set (none on a local app)."""
        lim = self.limits
        return any(v is not None for v in (
            lim.images_per_hour, lim.jobs_in_flight, lim.network_images_per_hour, lim.network_jobs_in_flight,
            lim.images_per_minute, lim.daily_credits,
        ))

    def visitor(self, owner: str, client_address: str | None = None) -> Visitor:
        """The keys ``owner`` is counted under; the address and its network only as keyed hashes."""
        return visitor_for(owner, client_address, address_key=self._address_key)

    # --- spending ------------------------------------------------------------------------------------

    def check(self, visitor: Visitor, images: int, *, credits: int | None = None) -> Hold:
        """Reserve ``images`` (and ``credits``, default: the estimate for a generation) or refuse.

        Raises:
            LimitReached: one of the limits would be passed; nothing is reserved then.
        """
        images = max(1, int(images))
        credits = estimate_credits("generate", images) if credits is None else int(credits)
        lim = self.limits
        hold = Hold(secrets.token_hex(8), self._counted_under(visitor), images, credits)

        def checks(now: float) -> None:
            for key in visitor.keys:
                self._check_hour(key, images, now, lim.images_per_hour, _VISITOR_WORDS)
            for key in visitor.network_keys:
                self._check_hour(key, images, now, lim.network_images_per_hour, _NETWORK_WORDS)
            for key in visitor.keys:
                self._check_in_flight(key, images, lim.jobs_in_flight, _VISITOR_WORDS)
            for key in visitor.network_keys:
                self._check_in_flight(key, images, lim.network_jobs_in_flight, _NETWORK_WORDS)
            self._check_minute(images, now)
            self._check_budget(credits, now)

        with self.ledger.lock:
            self.ledger.hold(hold.id, hold.keys, images, credits, checks)
        return hold

    def record(self, hold: Hold, records: Sequence[JobRecord] = ()) -> int:
        """Akool accepted the request: its jobs count from now on. Returns the credits counted.

        With no records (the request may have reached Akool, but we do not know its jobs), the hold's
        own estimate is counted: the operator's budget errs on the safe side."""
        spent = sum(credits_of(r) for r in records) if records else hold.credits
        images = len(records) if records else hold.images
        job_ids = tuple(r.id for r in records)
        with self.ledger.lock:
            now = self.ledger.now()
            self.ledger.add_spend(hold.keys, Spend(now, images, job_ids), spent, hold_id=hold.id)
        return spent

    def release(self, hold: Hold) -> None:
        """Nothing was sent (or Akool refused it): the hold no longer counts."""
        with self.ledger.lock:
            self.ledger.release(hold.id)

    def usage(self, visitor: Visitor) -> dict[str, int]:
        """What ``visitor`` has used now (the highest of their keys), and the app's credits today."""
        with self.ledger.lock:
            now = self.ledger.now()
            return {
                "images_last_hour": max(self._images_in(k, now, HOUR) for k in visitor.keys),
                "in_flight": max(self._in_flight(k) for k in visitor.keys),
                "credits_today": self.ledger.day_credits,
            }

    # --- uploads (budgeted for every visitor: see ``upload_budget``) ---------------------------------

    def check_upload(self, visitor: Visitor, nbytes: int) -> None:
        """Refuse an upload of ``nbytes`` that would pass the visitor's budget for the last 24 hours.

        Raises:
            LimitReached: with when the visitor can upload again.
        """
        self.upload_budget.check(visitor, nbytes)

    def record_upload(self, visitor: Visitor, nbytes: int) -> None:
        """An upload of ``nbytes`` was stored for ``visitor``."""
        self.upload_budget.record(visitor, nbytes)

    # --- the checks (called with the lock held) -------------------------------------------------------

    def _counted_under(self, visitor: Visitor) -> tuple[str, ...]:
        """The ledger keys a request is recorded under: the visitor's, their network's and the app's, where
        a limit looks at them."""
        lim = self.limits
        networks = lim.network_images_per_hour is not None or lim.network_jobs_in_flight is not None
        return (
            *visitor.keys, *(visitor.network_keys if networks else ()),
            *((APP_KEY,) if lim.images_per_minute is not None else ()),
        )

    def _held(self, key: str | None) -> tuple[int, int]:
        """(images, credits) reserved by holds not yet recorded, for ``key`` (None: every hold)."""
        holds = [h for h in self.ledger.holds.values() if key is None or key in h.keys]
        return sum(h.images for h in holds), sum(h.credits for h in holds)

    def _images_in(self, key: str, now: float, window: float) -> int:
        return sum(s.images for s in self.ledger.spends.get(key, ()) if s.at > now - window)

    def _in_flight(self, key: str) -> int:
        ids = {job_id for s in self.ledger.spends.get(key, ()) for job_id in s.job_ids}
        return sum(1 for job_id in ids if self._job_in_flight(job_id))

    def _check_hour(self, key: str, images: int, now: float, limit: int | None, words: "_Words") -> None:
        if limit is None:
            return
        if images > limit:
            raise LimitReached(
                f"This app lets {words.each} make {plural(limit, 'image')} an hour on its account; choose "
                f"fewer images, or enter your own Akool API key."
            )
        recent = sorted((s for s in self.ledger.spends.get(key, ()) if s.at > now - HOUR), key=lambda s: s.at)
        held, _ = self._held(key)
        used = sum(s.images for s in recent) + held
        if used + images <= limit:
            return
        when = clock_time(room_at(((s.at, s.images) for s in recent), used, images, limit, HOUR, now), now)
        if used >= limit:
            raise LimitReached(
                f"{words.you_have} made {plural(used, 'image')} in the last hour on this app's account; "
                f"{words.you} can make more at {when}, or enter your own Akool API key."
            )
        raise LimitReached(
            f"{words.you_can} make {plural(limit - used, 'more image')} this hour on this app's account; choose "
            f"fewer images, wait until {when}, or enter your own Akool API key."
        )

    def _check_in_flight(self, key: str, images: int, limit: int | None, words: "_Words") -> None:
        if limit is None:
            return
        if images > limit:
            raise LimitReached(
                f"This app lets {words.each} have {plural(limit, 'image')} in the making at once on its "
                f"account; choose fewer images, or enter your own Akool API key."
            )
        held, _ = self._held(key)
        busy = self._in_flight(key) + held
        if busy + images <= limit:
            return
        if busy >= limit:
            raise LimitReached(
                f"{words.you_already_have} {plural(busy, 'image')} in the making on this app's account; wait "
                f"for one to finish, or enter your own Akool API key."
            )
        raise LimitReached(
            f"{words.you_already_have} {plural(busy, 'image')} in the making on this app's account and may "
            f"have {limit} at once; choose fewer images, wait for them to finish, or enter your own Akool API key."
        )

    def _check_minute(self, images: int, now: float) -> None:
        """The app-wide rate on the server's credentials: a burst from anyone waits its turn."""
        limit = self.limits.images_per_minute
        if limit is None:
            return
        recent = [(s.at, s.images) for s in self.ledger.spends.get(APP_KEY, ()) if s.at > now - MINUTE]
        held, _ = self._held(APP_KEY)
        used = sum(n for _, n in recent) + held
        if used + images <= limit:
            return
        at = room_at(sorted(recent), used, images, max(limit, images), MINUTE, now)
        wait = max(1, math.ceil(at - now))
        raise LimitReached(
            f"This app is making many images on its account right now ({plural(limit, 'image')} a minute "
            f"at most); try again in {plural(wait, 'second')}, or enter your own Akool API key."
        )

    def _check_budget(self, credits: int, now: float) -> None:
        budget = self.limits.daily_credits
        if budget is None:
            return
        _, held = self._held(None)
        used = self.ledger.day_credits + held
        if used + credits <= budget:
            return
        when = clock_time(next_utc_midnight(now), now)
        if used >= budget:
            raise LimitReached(
                f"This app has spent its {plural(budget, 'credit')} for today on its Akool account; it can "
                f"make more at {when}, or enter your own Akool API key."
            )
        raise LimitReached(
            f"This app has {plural(budget - used, 'credit')} left for today on its Akool account; choose "
            f"fewer images, wait until {when}, or enter your own Akool API key."
        )
