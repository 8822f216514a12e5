"""Before Generate: a request that would probably cost more than the credit left is asked about once.

Akool refuses a create the account cannot pay (1006, nothing charged), so sending it anyway costs nothing
but a round trip; but the estimate is learned, not known, and may be a little high. So the first press is
held with one sentence that says what it needs and what is left, and pressing Generate again with the
same request (within ``ASK_AGAIN_AFTER``) sends it: the person decides, as with a repeat of a request
whose outcome is unknown (``runtime/repeats``). In memory only: a restart asks again, which is harmless.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

from ...errors import StudioError

__all__ = ["CreditGuard", "NotEnoughCredit", "ASK_AGAIN_AFTER"]

# A second press this soon after the warning is the person's answer; later, the balance may have changed.
ASK_AGAIN_AFTER = 600.0
_MAX_ASKED = 4096  # owners × requests remembered; the oldest go first


class NotEnoughCredit(StudioError):
    """The request probably costs more than the credit left; nothing was sent (pressing again sends it)."""


def _plural(n: float, word: str) -> str:
    shown = int(n) if float(n).is_integer() else round(n, 1)
    return f"{shown} {word}{'' if shown == 1 else 's'}"


def warning_sentence(needed: int, left: float, *, own_key: bool) -> str:
    """The one sentence shown before such a Generate (and, as a hint, beside the price)."""
    whose = "your Akool account has" if own_key else "this app's Akool account has"
    return (f"This needs about {_plural(needed, 'credit')} and {whose} {_plural(left, 'credit')} left, so Akool "
            "will probably refuse it: choose fewer jobs or 1080p, top up at Akool, or press Generate again to "
            "send it anyway.")


class CreditGuard:
    """Remembers which (owner, request) was warned about, so the next press sends it. Thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, ask_again_after: float = ASK_AGAIN_AFTER):
        self._clock = clock
        self._after = ask_again_after
        self._lock = threading.Lock()
        self._asked: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __repr__(self) -> str:
        return f"CreditGuard({len(self._asked)} asked)"

    def check(self, owner: str, signature: str, needed: int, left: float | None, *, own_key: bool) -> None:
        """Raise NotEnoughCredit the first time ``needed`` exceeds ``left`` for this owner and request.

        ``left`` None (the balance is unknown, or not this visitor's to see) never holds anything back."""
        if left is None or needed <= left:
            return
        key = (owner, signature)
        now = self._clock()
        with self._lock:
            asked = self._asked.pop(key, None)
            if asked is not None and now - asked < self._after:
                return  # warned a moment ago: this press is the answer
            self._asked[key] = now
            while len(self._asked) > _MAX_ASKED:
                self._asked.popitem(last=False)
        raise NotEnoughCredit(warning_sentence(needed, left, own_key=own_key))
