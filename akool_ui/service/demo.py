"""Offline demo mode: an in-process Akool simulator with a persistent local account.

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
from typing import Callable

from ..fileio import write_atomic
from ..simulator import SimulatorServer

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


class DemoBackend:
    """The simulator serving the demo on 127.0.0.1 (a random free port).

    Like Akool, it fetches image-to-image sources from public addresses only: a visitor of a shared demo
    must not make this machine fetch its own loopback, the metadata service or the LAN. The one exception
    is ``trusted_source``: the app's own upload links, which live on 127.0.0.1 in the demo."""

    def __init__(self, cache_dir: Path, *, speed: float = 1.0, trusted_source: Callable[[str], bool] | None = None):
        root = cache_dir / DEMO_DIR
        self.account = load_demo_account(root)
        self.server = SimulatorServer(
            api_key=self.account.api_key,
            client_id=self.account.client_id,
            client_secret=self.account.client_secret,
            speed=speed,
            state_dir=root / "simulator",
            host="127.0.0.1",
            port=0,
            control=False,  # no /_sim fault and clock routes: anyone on this host could reach them
            private_sources=False,
            trusted_source=trusted_source,
        ).start()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def close(self) -> None:
        self.server.stop()
