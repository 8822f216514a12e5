"""The account's side of the API: how much credit is left (``AkoolClient.credit``).

Akool documents it under face swap (``GET /api/open/v3/faceswap/quota/info`` → ``data.credit``), yet it is
the account's balance, the one image generation spends (docs/credits.md). Mixed into ``AkoolClient``, which
gives it ``_call``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ProtocolError

if TYPE_CHECKING:  # pragma: no cover
    from .client import AkoolClient

__all__ = ["AccountCredit"]


class AccountCredit:
    """``AkoolClient``'s account methods (``self`` is the client)."""

    def credit(self: "AkoolClient") -> float:
        """The account's remaining credit (``GET /api/open/v3/faceswap/quota/info`` → ``data.credit``).

        Idempotent: retried on transient errors. Akool documents the number, not its type: a whole
        number comes back as an ``int``.

        Raises:
            ProtocolError: the answer has no numeric ``credit``.
        """
        data = self._call("quota")
        credit = data.get("credit") if isinstance(data, dict) else None
        if isinstance(credit, bool) or not isinstance(credit, (int, float)) or credit != credit:
            raise ProtocolError("quota/info: answer has no numeric credit")
        return int(credit) if float(credit).is_integer() else float(credit)
