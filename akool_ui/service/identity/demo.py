"""Offline demo mode's persistent local account (``bootstrap`` starts the simulator that serves it).

The account (an API key that doubles as the client secret, and a client id) is created once and kept
in the ``demo/account`` document, and bootstrap keeps the simulator's jobs beside it, so a restarted demo
resumes its unfinished jobs under the same account.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..ports import Conflict, Documents

__all__ = ["DemoAccount", "DEMO_ACCOUNT_DOCUMENT", "load_demo_account"]

log = logging.getLogger(__name__)

DEMO_ACCOUNT_DOCUMENT = "demo/account"


@dataclass(frozen=True)
class DemoAccount:
    """Credentials of the local demo account (never Akool's; still kept out of repr and logs)."""

    client_id: str
    api_key: str = field(repr=False)

    @property
    def client_secret(self) -> str:
        return self.api_key  # Akool's API key is the client secret


def _account_of(value: Any) -> DemoAccount | None:
    if not isinstance(value, dict):
        return None
    client_id, api_key = value.get("client_id"), value.get("api_key")
    if isinstance(client_id, str) and isinstance(api_key, str) and len(api_key) == 24 and len(client_id) == 24:
        return DemoAccount(client_id=client_id, api_key=api_key)
    return None


def load_demo_account(documents: Documents) -> DemoAccount:
    """The demo account kept in ``documents``, created on first use (once, however many processes start)."""
    while True:
        current = documents.read(DEMO_ACCOUNT_DOCUMENT)
        account = _account_of(current.value)
        if account is not None:
            return account
        if current.value is not None:
            log.warning("demo account document is malformed; making a new demo account")
        # 24 characters: a valid AES-192 key for webhook encryption, like a real Akool secret.
        account = DemoAccount(client_id=secrets.token_hex(12), api_key=secrets.token_urlsafe(18)[:24])
        try:
            documents.write(DEMO_ACCOUNT_DOCUMENT, {"client_id": account.client_id, "api_key": account.api_key},
                            expected=current.version)
        except Conflict:
            continue
        return account
