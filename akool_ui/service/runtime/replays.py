"""The webhook replay guard: a callback's payload is accepted once, in whichever process it arrives.

Akool's signature is a plain SHA-1 of public values, so anyone who knows the client id can re-sign a
captured callback with a fresh timestamp and nonce (``akool.webhook``); what only Akool can make is the
encrypted payload, so a delivery is named by its digest (``WebhookEvent.payload_key``). Accepting one
takes the lease ``webhook/<payload key>`` for as long as Akool keeps a job's results: a second delivery,
to this process or another on the same ``Leases``, finds it taken. A delivery that could not be applied
gives the lease back (Akool's retry must get through); one that was applied keeps it for the whole
window, even if this process then exits.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from ...akool.errors import ReplayedWebhook
from ...akool.webhook import REPLAY_WINDOW_SECONDS
from ..ports import Leases

__all__ = ["WebhookReplays", "LEASE_PREFIX"]

LEASE_PREFIX = "webhook/"
T = TypeVar("T")


class WebhookReplays:
    """``accept_once(payload_key, apply)``: run ``apply`` for the first delivery of a payload only."""

    def __init__(self, leases: Leases, *, window: float = REPLAY_WINDOW_SECONDS):
        if window <= 0:
            raise ValueError("a replay guard needs a positive window")
        self._leases = leases
        self.window = float(window)

    def __repr__(self) -> str:
        return f"WebhookReplays(window={self.window:g})"

    def accept_once(self, payload_key: str, apply: Callable[[], T]) -> T:
        """``apply()``'s result, the first time this payload arrives. Claim only once the payload verified
        and decrypted, or forged bodies could take real payloads' names.

        Raises:
            ReplayedWebhook: this payload was already accepted within the window (``apply`` not called).
        """
        lease = self._leases.acquire(LEASE_PREFIX + str(payload_key).strip().lower(), ttl=self.window)
        if lease is None:
            raise ReplayedWebhook("webhook was already delivered and accepted")
        try:
            result = apply()
        except BaseException:
            lease.release()  # not applied: a retry of it must get through
            raise
        lease.keep()
        return result
