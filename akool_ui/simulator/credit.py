"""The simulated accounts' credit, as the Simulator offers it: ``quota/info`` and the test controls.

The balance itself is the job book's (``JobBook.credit``: a starting credit less what the account's jobs
were charged, a failed job refunded); this mixin finds the account and answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .accounts import Account

if TYPE_CHECKING:  # pragma: no cover
    from .state import Simulator

__all__ = ["AccountCredit"]


class AccountCredit:
    """``Simulator`` methods about credit (``self`` is the Simulator)."""

    def credit_info(self: "Simulator", account: Account) -> dict[str, Any]:
        """``quota/info``: the account's credit (account-wide, despite the face-swap path)."""
        return {"credit": self._book.credit(account)}

    def set_credit(self: "Simulator", api_key: str, credit: int) -> int:
        """Make the balance of the account with ``api_key`` ``credit`` now (ValueError: no such account)."""
        return self._book.set_credit(self._account(api_key), credit)

    def credit(self: "Simulator", api_key: str) -> int:
        """The balance of the account with ``api_key`` (what ``quota/info`` answers it)."""
        return self._book.credit(self._account(api_key))

    def _account(self: "Simulator", api_key: str) -> Account:
        account = self.accounts.by_api_key(str(api_key or "").strip())
        if account is None:
            raise ValueError("no account has that api_key")
        return account
