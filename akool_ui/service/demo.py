"""Offline demo mode's persistent local account (``bootstrap`` starts the simulator that serves it).

The account (an API key that doubles as the client secret, and a client id) is created once and kept
in ``<cache>/demo/account.json`` (mode 0600), and the simulator keeps its jobs under
``<cache>/demo/simulator``, so a restarted demo resumes its unfinished jobs under the same account.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import write_atomic

log = logging.getLogger(__name__)

DEMO_DIR = "demo"
ACCOUNT_FILE = "account.json"


@dataclass(frozen=True)
class DemoAccount:
    """Credentials of the local demo account (never Akool's; still kept out of repr and logs)."""

    client_id: str
    api_key: str = field(repr=False)

    @property
    def client_secret(self) -> str:
        return self.api_key  # Akool's API key is the client secret


def load_demo_account(directory: Path) -> DemoAccount:
    """The demo account stored in ``directory``, created on first use."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / ACCOUNT_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
        account = DemoAccount(client_id=str(data["client_id"]), api_key=str(data["api_key"]))
        if len(account.api_key) == 24 and len(account.client_id) == 24:
            return account
        log.warning("demo account file is malformed; making a new demo account")
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError):
        log.warning("demo account file is unreadable; making a new demo account")
    # 24 characters: a valid AES-192 key for webhook encryption, like a real Akool secret.
    account = DemoAccount(client_id=secrets.token_hex(12), api_key=secrets.token_urlsafe(18)[:24])
    write_atomic(path, json.dumps({"client_id": account.client_id, "api_key": account.api_key}).encode("utf-8"))
    return account
