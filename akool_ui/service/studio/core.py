"""Studio: the application core behind one door — the only thing the UI and the CLI talk to.

It decides which Akool client serves a request (the visitor's own key, else the server's credentials,
which in the offline demo are the local simulator's), turns credentials and browser ids into opaque
owners, and never keeps a visitor's key beyond the in-memory client polling that visitor's jobs.

It is assembled by ``akool_ui.bootstrap`` (the composition root) from ``StudioParts`` and constructs
nothing itself; ``start()`` resumes unfinished jobs, ``close()`` releases everything it was given. Its
methods are grouped by concern in mixins beside this module: jobs (``jobs.py``), visitors and uploads
(``visitors.py``), favourites (``library.py``), share links (``sharing.py``), credits (``credit.py``),
boards (``boards.py``); webhooks and the app's mode are here.
"""

from __future__ import annotations

import logging

from ...akool.webhook import WebhookEvent
from .boards import BoardsDoor
from .credit import CreditDoor
from .jobs import JobsDoor
from .library import LibraryDoor
from .parts import StudioParts
from .sharing import SharingDoor
from .visitors import VisitorsDoor

__all__ = ["Studio"]

log = logging.getLogger(__name__)


class Studio(JobsDoor, VisitorsDoor, LibraryDoor, SharingDoor, CreditDoor, BoardsDoor):
    """One per app process. Thread-safe: every method may be called from any Gradio worker."""

    def __init__(self, parts: StudioParts):
        self.settings = parts.settings
        self.storage = parts.storage
        self.store = parts.store
        self.results = parts.results
        self.clients = parts.clients
        self.uploads = parts.uploads
        self.credentials = parts.credentials
        self.budgets = parts.budgets
        self.limiter = parts.budgets.limiter
        self.callbacks = parts.callbacks
        self.tracker = parts.tracker
        self.pacing = parts.pacing
        self.addresses = parts.addresses
        self.favourites = parts.favourites
        self.shares = parts.shares
        self.boards = parts.boards
        self.trash = parts.trash
        self.demo = parts.demo
        self.costs = parts.costs
        self.balances = parts.balances
        self.credit_guard = parts.credit_guard
        self.base_url = parts.clients.base_url
        self._server_client = parts.clients.server
        self._replays = parts.replays
        self._owner_key = parts.owner_key
        self._sweep = parts.sweep
        self.local_url: str | None = None

    def start(self) -> "Studio":
        """Remove what interrupted writes left behind, settle requests a previous run never heard back
        from, resume every unfinished job this store knows, clear out old uploads (and the oldest ones,
        over the uploads budget), and plan the deletions still pending."""
        if self.budgets.any_limit:
            log.info("limits for visitors: %s", self.settings.limits)
        removed = self.storage.tidy()
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted write", removed)
        self.tracker.resume_unfinished()
        self.budgets.prune_uploads()
        self.trash.start()
        if self._sweep is not None:
            self._sweep.start()
        return self

    def __repr__(self) -> str:
        return f"Studio(mode={self.mode!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Stop deleting (what is still within its undo period stays pending for the next start), stop
        polling, save what the schedule learned, close every client (the server's and visitors'), and the
        storage."""
        if self._sweep is not None:
            self._sweep.close()
        self.trash.close()
        self.tracker.close()
        self.clients.close()
        self.storage.close()

    # --- mode and addresses ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``"demo"`` (local simulator) or ``"akool"`` (the real API, or whatever AKOOL_BASE_URL names)."""
        return "demo" if self.demo else "akool"

    @property
    def needs_api_key(self) -> bool:
        """Visitors must bring their own key (Akool mode without server credentials)."""
        return self._server_client is None

    def describe_mode(self) -> str:
        if self.demo:
            return (
                "Offline demo: images are synthesised locally by a built-in Akool simulator, not by Akool. "
                "Enter your own Akool API key to generate real images."
            )
        if self.needs_api_key:
            return "Connected to Akool. Enter your Akool API key to generate images."
        return "Connected to Akool with this server's account (or enter your own API key)."

    def set_local_url(self, url: str) -> None:
        """Where this app itself listens (known after launch): serves demo sources and demo webhooks."""
        self.local_url = url.rstrip("/")
        self.uploads.local_url = self.local_url

    @property
    def public_url(self) -> str | None:
        return self.settings.public_url

    def private_folders(self) -> list:
        """The folders that must never be served as files (data, index, uploads): for the web server's
        guard. Whatever holds the data on this machine names them."""
        return self.storage.private_folders()

    def webhook_url(self, api_key: str | None) -> str | None:
        """Where Akool should call back for a job, if we could verify the callback (else None: we poll,
        and the log says why once)."""
        return self.callbacks.url_for(api_key)

    # --- webhooks --------------------------------------------------------------------------------------

    def on_webhook(self, body: object, *, intent_token: str | None = None) -> bool:
        """Verify and apply an Akool callback. Raises WebhookError if it must not be trusted
        (ReplayedWebhook for a payload already accepted, however it was re-signed). ``intent_token`` is the
        webhook URL's ``intent`` parameter: it adopts a job whose create answer was lost (``intents``)."""
        client = self._server_client
        if client is None:
            return False
        event: WebhookEvent = client.parse_webhook(body)
        # Claimed only once the payload verified and decrypted, so garbage cannot fill the guard; by the
        # payload, since anyone who knows the client id can re-sign a captured one with a fresh nonce.
        # A delivery that raises is given back, so Akool's retry of it gets through.
        accepted = self._replays.accept_once(
            event.payload_key, lambda: self.tracker.on_webhook(event, intent_token=intent_token))
        log.info("webhook for job %s (status %s): %s", event.job_id, event.status, "applied" if accepted else "unknown job")
        return accepted
