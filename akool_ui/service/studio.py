"""Studio: the application core — credentials, owners, store, tracker, uploads — behind one facade.

The UI talks only to this facade. It decides which Akool client serves a request (the visitor's own
key, else the server's credentials, which in the offline demo are the local simulator's), turns
credentials and browser ids into opaque owners, and never keeps a visitor's key beyond the in-memory
client polling that visitor's jobs. It is built by ``akool_ui.bootstrap`` (the composition root); its
constructor starts nothing: ``start()`` resumes unfinished jobs, ``close()`` releases everything it owns.

Two collaborators keep the facade thin: ``credentials.Credentials`` (owners and which client acts) and
``budgets.Budgets`` (the spending limits and upload budgets as applied to a request).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable

from ..akool.client import AkoolClient
from ..akool.polling import DEFAULT_POLL_POLICY, PollPolicy
from ..akool.errors import InvalidRequest
from ..akool.models import ImageRequest
from ..akool.webhook import ReplayGuard, WebhookEvent
from ..fileio import remove_stale_temp_files
from ..netguard import UnsafeUrl, check_public_url
from ..settings import Settings
from .budgets import Budgets
from .callbacks import WEBHOOK_ROUTE, Callbacks
from .clients import ClientPool
from .credentials import MAX_API_KEY_LENGTH, Credentials, clean_api_key
from .durations import FILE_NAME as DURATIONS_FILE
from .durations import DurationBook
from .limits import SpendingLimiter, Visitor
from .owners import OwnerHasher, load_owner_key
from .pacing import Pacing
from ..jobs import JobRecord, Page
from .store import JobStore
from .intents import INTENT_PARAM
from .tracker import JobTracker, Subscription
from .uploads import Upload, UploadStore

__all__ = ["Studio", "WEBHOOK_ROUTE", "INTENT_PARAM", "MAX_API_KEY_LENGTH", "clean_api_key"]

log = logging.getLogger(__name__)


class Studio:
    """One per app process. Thread-safe: every method may be called from any Gradio worker."""

    def __init__(
        self, settings: Settings, *, store: JobStore, clients: ClientPool, uploads: UploadStore, demo: bool = False,
        limiter: SpendingLimiter | None = None, clock: Callable[[], float] = time.time,
        demo_durations: dict[str, tuple[float, ...]] | None = None,
    ):
        """``limiter`` defaults to ``settings.limits`` counted in the store's folder, on ``clock`` (epoch
        seconds; tests move it to cross an hour or a UTC midnight). ``demo_durations``: the prior for
        the demo simulator's jobs (kind -> seconds), learned apart from Akool's."""
        self.settings = settings
        self.store = store
        self.clients = clients
        self.uploads = uploads
        self.demo = demo
        self.base_url = clients.base_url
        self._server_client = clients.server
        owner_key = load_owner_key(self.store.cache_dir)
        self.credentials = Credentials(clients, OwnerHasher(owner_key), demo=demo)
        self.budgets = Budgets(
            settings, store=store, uploads=uploads, address_key=owner_key, limiter=limiter, clock=clock
        )
        self.limiter = self.budgets.limiter
        self.local_url: str | None = None
        self._replays = ReplayGuard()  # verified callbacks already accepted, refused if delivered again
        self.callbacks = Callbacks(settings, demo=demo, local_url=lambda: self.local_url)
        policy = PollPolicy(
            interval=settings.poll_interval,
            max_interval=max(settings.poll_interval, DEFAULT_POLL_POLICY.max_interval),
            deadline=settings.job_deadline,
        )
        self.pacing = self._pacing(policy, demo_durations) if settings.poll_schedule == "learned" else None
        self.tracker = JobTracker(
            self.store, policy=policy, client_for=self.credentials.client_for_record,
            pacing=self.pacing,
            poll_budget=settings.poll_budget or None,
        )

    def _pacing(self, policy: PollPolicy, demo_durations: dict[str, tuple[float, ...]] | None) -> Pacing:
        """The learned poll schedule: durations kept beside the history, the demo's apart from Akool's."""
        server = self._server_client
        book = DurationBook(self.store.cache_dir / DURATIONS_FILE, {"demo": demo_durations} if demo_durations else None)
        return Pacing(
            book, policy,
            backend_of=lambda client: "demo" if self.demo and client is server else "akool",
            expects_webhook=lambda client: client is server and self.callbacks.server_jobs_get_callbacks(),
        )

    def typical_duration(self, record: JobRecord) -> float | None:
        """Seconds a job like ``record``'s typically takes here, learned from the jobs seen finishing
        (``durations``; None with the steady poll schedule): the page's progress bar."""
        if self.pacing is None:
            return None
        return self.pacing.typical_seconds(record, self.credentials.client_for_record(record))

    def start(self) -> "Studio":
        """Remove what interrupted writes left behind, settle requests a previous run never heard back
        from, resume every unfinished job this store knows, and clear out old uploads (and the oldest ones,
        over the uploads budget)."""
        if self.budgets.any_limit:
            log.info("limits for visitors: %s", self.settings.limits)
        removed = remove_stale_temp_files(self.store.cache_dir)
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted write", removed)
        self.tracker.resume_unfinished()
        self.budgets.prune_uploads()
        return self

    def __repr__(self) -> str:
        return f"Studio(mode={self.mode!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Stop polling, close every client (the server's and visitors'), close the store."""
        self.tracker.close()
        self.clients.close()
        self.store.close()

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

    def webhook_url(self, api_key: str | None) -> str | None:
        """Where Akool should call back for a job, if we could verify the callback (else None: we poll,
        and the log says why once)."""
        return self.callbacks.url_for(api_key)

    # --- credentials and owners ----------------------------------------------------------------------

    def owner_for(self, api_key: str | None, browser_id: str | None) -> str:
        """The opaque owner of a visitor: their own key's hash, else their browser's (per credential)."""
        return self.credentials.owner_for(api_key, browser_id)

    def client_for(self, api_key: str | None) -> AkoolClient:
        """The client that acts for this visitor: their own key, else the server's credentials."""
        return self.credentials.client_for(api_key)

    def remember(self, api_key: str | None, owner: str) -> None:
        """A visitor with their own key is here: resume their jobs that lost their poller in a restart."""
        key = clean_api_key(api_key)
        if key:
            self.tracker.resume_owner(owner, self.client_for(key))

    # --- jobs ------------------------------------------------------------------------------------------

    def check_source_url(self, url: str | None) -> None:
        """Refuse a source URL that is not public before anything is sent (Akool, or the demo simulator,
        would fetch it on the visitor's behalf). Our own upload links are ours to vouch for.

        Raises:
            InvalidRequest: with the one sentence netguard gives.
        """
        if not url or self.uploads.is_own_url(url):
            return
        try:
            check_public_url(url)
        except UnsafeUrl as exc:
            raise InvalidRequest(f"refused source url: {exc}", user_message=exc.user_message) from None

    def submit(
        self, request: ImageRequest, *, api_key: str | None, owner: str, client_address: str | None = None
    ) -> list[JobRecord]:
        """Create the request's images. On the server's credentials the spending limits are checked first.

        Raises:
            LimitReached: a limit would be passed (nothing is sent to Akool).
        """
        client = self.client_for(api_key)
        self.check_source_url(request.source_image_url)
        with self.budgets.spending(api_key, owner, client_address, "generate", request.batch_quantity) as spending:
            records = self.tracker.submit(request, client=client, owner=owner, webhook_url=self.webhook_url(api_key))
            spending.accepted(records)
        return records

    def press(
        self, job_id: str, button: str, *, api_key: str | None, owner: str, client_address: str | None = None
    ) -> JobRecord:
        """Press U/V on the owner's job (a new job that spends credits: limited like ``submit``)."""
        client = self.client_for(api_key)
        with self.budgets.spending(api_key, owner, client_address, "button", 1) as spending:
            child = self.tracker.press(
                job_id, button, client=client, owner=owner, webhook_url=self.webhook_url(api_key)
            )
            spending.accepted([child])
        return child

    def check_spending(
        self, images: int, *, api_key: str | None, owner: str, client_address: str | None = None
    ) -> None:
        """Refuse now what ``submit`` would refuse for its limits (before a source upload is stored)."""
        self.budgets.check_spending(images, api_key=api_key, owner=owner, client_address=client_address)

    # --- uploads ---------------------------------------------------------------------------------------

    def visitor(self, owner: str, client_address: str | None = None) -> Visitor:
        return self.budgets.visitor(owner, client_address)

    def add_upload(self, path: str | Path, *, owner: str | None, client_address: str | None = None) -> Upload:
        """Validate and store a source image, within the visitor's and the app's upload budgets.

        Uploads take this server's disk whoever pays Akool, so the budgets apply to every visitor; over the
        total, the oldest uploads are deleted.

        Raises:
            LimitReached: the visitor's budget for the last 24 hours would be passed.
            ImageValidationError, NoPublicUrl: as ``UploadStore.add_file``.
        """
        return self.budgets.add_upload(path, owner=owner, client_address=client_address)

    def check_again(self, job_id: str, *, api_key: str | None, owner: str) -> JobRecord:
        return self.tracker.check_again(job_id, client=self.client_for(api_key), owner=owner)

    def stop(self, job_id: str, *, owner: str) -> JobRecord:
        """Stop watching the owner's running job (Akool has no cancel; "check again" resumes it)."""
        return self.tracker.stop(job_id, owner=owner)

    def get(self, job_id: str, owner: str) -> JobRecord | None:
        return self.tracker.get(job_id, owner)

    def children(self, job_id: str, owner: str) -> list[JobRecord]:
        return self.store.children(job_id, owner=owner)

    def history(
        self, owner: str, *, cursor: str | None = None, limit: int = 20, query: str | None = None
    ) -> Page[JobRecord]:
        return self.tracker.history(owner, cursor=cursor, limit=limit, query=query)

    def delete(self, job_id: str, owner: str) -> bool:
        return self.tracker.delete(job_id, owner)

    def subscribe(self, job_ids: str | Iterable[str]) -> Subscription:
        return self.tracker.subscribe(job_ids)

    def image_path(self, relative: str) -> Path:
        """Absolute path of a record's image (``ImageEntry.preview`` / ``.original``)."""
        return self.store.local_path(relative)

    # --- webhooks --------------------------------------------------------------------------------------

    def on_webhook(self, body: object, *, intent_token: str | None = None) -> bool:
        """Verify and apply an Akool callback. Raises WebhookError if it must not be trusted
        (ReplayedWebhook for a second delivery of a callback already accepted). ``intent_token`` is the
        webhook URL's ``intent`` parameter: it adopts a job whose create answer was lost (``intents``)."""
        client = self._server_client
        if client is None:
            return False
        event: WebhookEvent = client.parse_webhook(body)
        # Claimed only once the signature verified, so unverified garbage cannot fill the guard.
        self._replays.claim(event.signature)
        try:
            accepted = self.tracker.on_webhook(event, intent_token=intent_token)
        except BaseException:
            self._replays.release(event.signature)  # not applied: a retry of it must get through
            raise
        log.info("webhook for job %s (status %s): %s", event.job_id, event.status, "applied" if accepted else "unknown job")
        return accepted
