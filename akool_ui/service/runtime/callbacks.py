"""Webhooks first: which jobs ask Akool to call back, and why the others are polled (said once).

A callback is only useful if Akool can reach us (a public URL; on Hugging Face Spaces it is known from
SPACE_HOST) and we can verify it (the client id and secret of the account that made the job, i.e. the
server's own credentials). The offline demo's simulator calls the app on its local address. Jobs that
get a callback are polled only as a rare safety net (``pacing``); the rest on the learned schedule.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from ...settings import Settings

__all__ = ["Callbacks", "WEBHOOK_ROUTE"]

log = logging.getLogger(__name__)

WEBHOOK_ROUTE = "/webhooks/akool"

NO_PUBLIC_URL = (
    "no webhooks: this app has no public URL for Akool to call back (set AKOOL_PUBLIC_URL; on Hugging Face "
    "Spaces it is known), so jobs are polled on the schedule learned from past jobs"
)
NO_SECRET = (
    "no webhooks: verifying Akool's callbacks needs AKOOL_CLIENT_ID and AKOOL_CLIENT_SECRET (or the API "
    "key as the secret), so jobs are polled on the schedule learned from past jobs"
)
VISITOR_KEY = (
    "no webhooks for jobs made with a visitor's own API key: Akool signs their callbacks with that "
    "account's client secret, which this app does not have; they are polled on the learned schedule"
)


class Callbacks:
    """Where Akool should call back for a job (or None, with the reason logged once per reason)."""

    def __init__(self, settings: Settings, *, demo: bool, local_url: Callable[[], str | None]):
        self.settings = settings
        self.demo = demo
        self._local_url = local_url
        self._said: set[str] = set()
        self._lock = threading.Lock()

    def url_for(self, api_key: str | None) -> str | None:
        """The webhook URL for a job made with ``api_key`` (None: the server's credentials)."""
        url, reason = self._decide(api_key)
        if reason:
            self._say_once(reason)
        return url

    def server_jobs_get_callbacks(self) -> bool:
        """Jobs made with the server's credentials ask for a callback (right now)."""
        return self._decide(None)[0] is not None

    def _decide(self, api_key: str | None) -> tuple[str | None, str | None]:
        if api_key:
            return None, VISITOR_KEY
        if self.demo:
            local = self._local_url()
            return (f"{local}{WEBHOOK_ROUTE}", None) if local else (None, None)  # known once launched
        settings = self.settings
        if not (settings.client_id and (settings.client_secret or settings.api_key)):
            return None, NO_SECRET
        if not settings.public_url:
            return None, NO_PUBLIC_URL
        return f"{settings.public_url}{WEBHOOK_ROUTE}", None

    def _say_once(self, reason: str) -> None:
        with self._lock:
            if reason in self._said:
                return
            self._said.add(reason)
        log.info(reason)
