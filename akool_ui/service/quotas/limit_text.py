"""``LimitReached`` and the words it is raised with: counts in words, and reset times in UTC.

Kept apart from the checks so that every refusal (images, jobs in flight, credits, uploads) states its
numbers and its reset time the same way. The limits' days are UTC days, whatever the server's zone.
"""

from __future__ import annotations

import datetime as _dt
import math

from ...errors import StudioError

__all__ = ["LimitReached", "plural", "utc_day", "next_utc_midnight", "clock_time"]


class LimitReached(StudioError):
    """A spending or upload limit of this app would be passed; ``user_message`` says which and when it
    resets."""


def plural(n: int | float, word: str) -> str:
    """``"1 image"``, ``"3 images"``: the count and its noun, as a refusal states them."""
    return f"{n:g} {word}" if n == 1 else f"{n:g} {word}s"


def _utc(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc)


def utc_day(epoch: float) -> str:
    """The UTC date of ``epoch`` (``"2025-03-01"``): the daily credit budget starts again when it changes."""
    return _utc(epoch).date().isoformat()


def next_utc_midnight(epoch: float) -> float:
    """When the UTC day after ``epoch`` starts, in epoch seconds."""
    day = _utc(epoch).date() + _dt.timedelta(days=1)
    return _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc).timestamp()


def clock_time(epoch: float, now: float) -> str:
    """``"14:05 UTC"`` (``" tomorrow"`` when it is not today), rounded up: at that minute it is true."""
    at = _utc(math.ceil(epoch / 60.0) * 60.0)
    text = at.strftime("%H:%M UTC")
    return text if at.date() == _utc(now).date() else f"{text} tomorrow"
