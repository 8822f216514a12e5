"""The composition root: the whole app built from ``Settings`` in one place, and taken down in reverse.

    Settings ─► LocalStorage, or SharedStorage with AKOOL_REDIS_URL (records, blobs, documents, leases,
             events) ─► UploadStore
             ─► demo simulator (offline demo only) ─► ClientPool
             ─► owners, limits, callbacks, pacing, tracker, favourites, shares, boards, delete-with-undo ─► Studio
             ─► web app (ui.server.launch)

This is the only module that constructs the service's objects (``assemble_studio``) and the storage
adapters they are written against (``local_storage``): the Studio and the tracker are given their
collaborators, never make them.

Only this module imports the simulator (so importing the service layer never loads FastAPI routes or
the renderer), and no constructor below starts anything: the simulator, the Studio (``start``) and the
web server are started here, in order, and closed in the opposite order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import settings as settings_module
from .akool.client import AkoolClient
from .akool.polling import DEFAULT_POLL_POLICY, PollPolicy
from .service.identity.clients import ClientPool
from .service.identity.credentials import Credentials
from .service.identity.demo import DemoAccount, load_demo_account
from .service.identity.owners import OWNER_KEY_DOCUMENT, OwnerHasher, load_owner_key, owner_key_document
from .service.library.boards import Boards
from .service.library.favourites import Favourites
from .service.library.shares import Shares
from .service.library.trash import DeleteGrace
from .service.library.uploads import UploadStore
from .service.quotas.balances import CreditBalances
from .service.quotas.budgets import Budgets
from .service.quotas.costs import COSTS_DOCUMENT, CreditCosts
from .service.quotas.credit_guard import CreditGuard
from .service.quotas.limits import SpendingLimiter
from .service.quotas.visitors import ClientAddress
from .service.runtime.callbacks import Callbacks
from .service.runtime.orphans import OrphanSweep
from .service.ports import Documents, Storage
from .service.runtime.durations import DurationBook, scaled_prior
from .service.runtime.pacing import Pacing
from .service.results.storing import ResultFiles, SizeLimits
from .service.runtime.poll_budget import PollBudgets
from .service.runtime.replays import WebhookReplays
from .service.runtime.tracker import JobTracker
from .adapters.local import JobStore, LocalStorage
from .service.studio import Studio, StudioParts
from .settings import Settings

__all__ = ["build_studio", "assemble_studio", "assemble_tracker", "local_storage", "open_storage", "launch_app", "Built"]

log = logging.getLogger(__name__)

# Under the data folder: the demo's account document and its simulator's state.
DEMO_DIR = "demo"
# Where the owner key was kept before documents (its raw bytes): read into the owner-key document once.
OWNER_KEY_FILE = "owner.key"
# Documents older versions kept in files of their own: read into their document once.
LEGACY_DOCUMENTS = {OWNER_KEY_DOCUMENT: (OWNER_KEY_FILE, owner_key_document)}

# Said once at start when the history dies with the container (a Space with nothing persistent at /data).
EPHEMERAL_CACHE_WARNING = (
    "This Space has no persistent storage: job history and images in %s are lost on every restart, rebuild "
    "and sleep. Enable persistent storage, or attach a Storage Bucket as a volume at %s, in the Space's "
    "settings (or set AKOOL_CACHE_DIR to a folder that persists)."
)

# Said once at start in Akool mode when uploaded sources cannot reach Akool (the page only tells visitors
# to paste a public image URL instead).
NO_PUBLIC_URL_WARNING = (
    "Uploaded source images cannot reach Akool: set AKOOL_PUBLIC_URL to the URL people use to open this page "
    "(automatic on Hugging Face Spaces). Until then visitors can only use public image URLs as sources."
)


@dataclass
class Built:
    """What ``build_studio`` made, with the closers of what it started (run in reverse by ``close``)."""

    studio: Studio
    demo_account: DemoAccount | None = None
    demo_server: object | None = None
    """The demo's ``SimulatorServer`` (its ``sim`` holds the simulated Akool's state), or None."""
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        while self._closers:
            try:
                self._closers.pop()()
            except Exception:  # one failing closer must not leave the others open
                log.exception("closing part of the app failed")


def _start_demo_simulator(cache_dir: Path, documents: Documents, *, speed: float,
                          trusted_source: Callable[[str], bool]):
    """The offline demo's Akool: the simulator on 127.0.0.1 (a random free port), its state under the cache.

    Like Akool, it fetches image-to-image sources from public addresses only (a visitor of a shared demo
    must not make this machine fetch its own loopback, the metadata service or the LAN); the exception is
    ``trusted_source``: the app's own upload links, which live on 127.0.0.1 in the demo."""
    from .simulator import SimulatorServer

    account = load_demo_account(documents)
    server = SimulatorServer(
        api_key=account.api_key, client_id=account.client_id, client_secret=account.client_secret,
        speed=speed, state_dir=cache_dir / DEMO_DIR / "simulator", host="127.0.0.1", port=0,
        control=False,  # no /_sim fault and clock routes: anyone on this host could reach them
        private_sources=False, trusted_source=trusted_source,
    ).start()
    return account, server


def _demo_durations(speed: float) -> dict[str, tuple[float, ...]]:
    """What the demo simulator's (quick) jobs take, as the prior of the learned poll schedule."""
    from .simulator.timing import PROCESSING_SECONDS, QUEUED_SECONDS, UPSCALE_PROCESSING_SECONDS

    generate = (QUEUED_SECONDS + PROCESSING_SECONDS) / speed
    return scaled_prior({"generate": generate, "variation": generate,
                         "upscale": (QUEUED_SECONDS + UPSCALE_PROCESSING_SECONDS) / speed})


# Said once at start when replicas share storage but each would run its own demo simulator.
SHARED_DEMO_WARNING = (
    "Shared storage with the offline demo: each replica runs its own simulated Akool, so a job made on one "
    "cannot be polled by another. Point every replica at one Akool (AKOOL_BASE_URL and a key)."
)


def open_storage(settings: Settings) -> Storage:
    """The storage ``settings`` choose: the shared adapter (Redis + bucket) when AKOOL_REDIS_URL is set,
    else the local adapter on the data folder (the default: ``python app.py`` needs neither)."""
    if settings.stores is None:
        return LocalStorage.from_settings(settings, legacy=LEGACY_DOCUMENTS)
    from .adapters.shared import SharedStorage  # redis and boto3 are needed only here

    return SharedStorage.from_settings(settings)


def _log_storage(settings: Settings, storage: Storage) -> None:
    """Where the history lives, for the operator; a warning when it will not outlive the container."""
    store = storage.records
    if not isinstance(store, JobStore):  # shared: the adapter said where when it connected
        if settings.demo_mode:
            log.warning(SHARED_DEMO_WARNING)
        return
    if store.index_is_local:
        log.info(
            "job history and images in %s; their index on local disk in %s (rebuilt from the records there "
            "when missing)", store.cache_dir, store.index_dir,
        )
    else:
        log.info("job history and images in %s", store.cache_dir)
    if settings.ephemeral_cache:
        log.warning(EPHEMERAL_CACHE_WARNING, store.cache_dir, settings_module.PERSISTENT_ROOT)


def _poll_policy(settings: Settings) -> PollPolicy:
    return PollPolicy(
        interval=settings.poll_interval,
        max_interval=max(settings.poll_interval, DEFAULT_POLL_POLICY.max_interval),
        deadline=settings.job_deadline,
    )


def _pacing(
    settings: Settings, policy: PollPolicy, documents: Documents, clients: ClientPool, callbacks: Callbacks, *,
    demo: bool, demo_durations: dict[str, tuple[float, ...]] | None,
) -> Pacing | None:
    """The learned poll schedule (None with AKOOL_POLL_SCHEDULE=steady): durations kept beside the history,
    the demo's apart from Akool's."""
    if settings.poll_schedule != "learned":
        return None
    server = clients.server
    book = DurationBook(documents, {"demo": demo_durations} if demo_durations else None)
    return Pacing(
        book, policy,
        backend_of=lambda client: "demo" if demo and client is server else "akool",
        expects_webhook=lambda client: client is server and callbacks.server_jobs_get_callbacks(),
    )


def local_storage(store: Storage | JobStore | str | Path) -> Storage:
    """The storage given, or the local adapter around a JobStore (or on a folder), as tests, benches and
    the CLI open it."""
    if isinstance(store, LocalStorage):
        return store
    if isinstance(getattr(store, "storage", None), LocalStorage):  # a test's store with its files
        return store.storage
    if all(hasattr(store, port) for port in ("records", "blobs", "documents", "leases", "events")):
        return store  # another adapter's Storage (the shared one)
    return LocalStorage(store if isinstance(store, JobStore) else JobStore(store), legacy=LEGACY_DOCUMENTS)


def assemble_tracker(
    storage: Storage | JobStore | str | Path, *, limits: SizeLimits | None = None,
    results: ResultFiles | None = None, clock_epoch: Callable[[], float] = time.time, **tracker_kwargs,
) -> JobTracker:
    """A tracker on ``storage``'s ports, with its result files (``results``, else made on the storage's blobs
    within ``limits``); ``tracker_kwargs`` are JobTracker's own."""
    storage = local_storage(storage)
    results = results or ResultFiles(storage.records, storage.blobs, limits, clock=clock_epoch)
    return JobTracker(storage.records, results=results, leases=storage.leases, events=storage.events, **tracker_kwargs)


def assemble_studio(
    settings: Settings, *, store: Storage | JobStore, clients: ClientPool, uploads: UploadStore,
    demo: bool = False, limiter: SpendingLimiter | None = None, clock: Callable[[], float] = time.time,
    demo_durations: dict[str, tuple[float, ...]] | None = None,
) -> Studio:
    """The Studio and everything it is made of, around storage, uploads and clients (not started).

    ``store`` is the local storage (or a JobStore to open it around). ``limiter`` defaults to
    ``settings.limits`` counted in the storage's documents, on ``clock`` (epoch seconds; tests move it to
    cross an hour or a UTC midnight). ``demo_durations``: the prior for the demo simulator's jobs
    (kind -> seconds), learned apart from Akool's."""
    storage = local_storage(store)
    records, documents = storage.records, storage.documents
    owner_key = load_owner_key(documents)
    credentials = Credentials(clients, OwnerHasher(owner_key), demo=demo)

    def job_in_flight(job_id: str) -> bool:
        record = records.get(job_id)
        return record is not None and record.is_in_flight

    limiter = limiter or SpendingLimiter(
        settings.limits, documents=documents, address_key=owner_key, job_in_flight=job_in_flight,
        in_flight_window=settings.job_deadline, clock=clock,
    )
    # What jobs cost is learned apart in the demo (its simulator's charges are not Akool's).
    costs = CreditCosts(documents, name=f"{DEMO_DIR}/{COSTS_DOCUMENT}" if demo else COSTS_DOCUMENT)
    budgets = Budgets(settings, limiter=limiter, uploads=uploads, costs=costs)
    callbacks = Callbacks(settings, demo=demo, local_url=lambda: uploads.local_url)
    policy = _poll_policy(settings)
    pacing = _pacing(settings, policy, documents, clients, callbacks, demo=demo, demo_durations=demo_durations)
    # A credential's poll slots are the storage's (on shared storage, one rate for every replica, as Akool
    # counts them); a 1005's slow-down is shared, dated by the wall clock.
    poll_budgets = PollBudgets(settings.poll_budget, clock=time.monotonic, documents=documents, slots=storage.slots,
                               shared_name=credentials.shared_name, wall=time.time) if settings.poll_budget else None
    tracker = assemble_tracker(storage, limits=SizeLimits.from_settings(settings), policy=policy,
                               client_for=credentials.client_for_record, pacing=pacing, poll_budget=poll_budgets)
    studio = Studio(StudioParts(
        settings=settings, storage=storage, store=storage.records, results=tracker.results, clients=clients,
        uploads=uploads, credentials=credentials, budgets=budgets,
        callbacks=callbacks, tracker=tracker, pacing=pacing, addresses=ClientAddress(settings.proxy_networks),
        replays=WebhookReplays(storage.leases), favourites=Favourites(documents), shares=Shares(documents),
        boards=Boards(documents),
        # Deleted jobs stay restorable for a while (Undo delete); hidden from every page meanwhile.
        trash=DeleteGrace(tracker.delete, documents), owner_key=owner_key, demo=demo,
        costs=costs, balances=CreditBalances(), credit_guard=CreditGuard(),
        # Replicas on shared storage take on each other's jobs when one dies; one process has no one to.
        sweep=OrphanSweep(tracker.adopt_orphans) if settings.stores is not None else None,
    ))
    tracker.on_final.append(studio.job_ended)  # its cost learned, its account's balance read again
    return studio


def build_studio(settings: Settings, *, start: bool = True) -> Built:
    """Everything behind the page: storage, uploads, demo simulator or Akool clients, Studio; the Studio
    started unless ``start`` is false (then ``built.studio.start()`` is the caller's)."""
    built_closers: list[Callable[[], None]] = []
    storage = open_storage(settings)
    built_closers.append(storage.close)
    _log_storage(settings, storage)
    try:
        documents = storage.documents
        uploads = UploadStore(storage.blobs, public_url=settings.public_url, demo=settings.demo_mode)
        if not settings.demo_mode and not uploads.can_serve:  # visitors are only told to paste a URL; the fix is the operator's
            log.warning(NO_PUBLIC_URL_WARNING)
        account = server = None
        if settings.demo_mode:
            account, server = _start_demo_simulator(
                Path(settings.cache_dir), documents, speed=settings.demo_speed, trusted_source=uploads.is_own_url
            )
            built_closers.append(server.stop)
            base_url = server.base_url
            own = AkoolClient(base_url, api_key=account.api_key, client_id=account.client_id,
                              client_secret=account.client_secret)
        else:
            base_url = settings.base_url
            own = (
                AkoolClient(base_url, api_key=settings.api_key, client_id=settings.client_id,
                            client_secret=settings.client_secret)
                if settings.has_server_credentials else None
            )
        # A visitor's own key always talks to Akool (settings.base_url), even in the demo.
        clients = ClientPool(base_url, own, make=lambda key: AkoolClient(settings.base_url, api_key=key))
        studio = assemble_studio(
            settings, store=storage, clients=clients, uploads=uploads, demo=settings.demo_mode,
            demo_durations=_demo_durations(settings.demo_speed) if settings.demo_mode else None,
        )
        built_closers.remove(storage.close)  # the Studio closes the storage (after its tracker and clients),
        built_closers.append(studio.close)  # and before the simulator stops: closers run last-in first
        if start:
            studio.start()
    except BaseException:
        for close in reversed(built_closers):
            close()
        raise
    return Built(studio=studio, demo_account=account, demo_server=server, _closers=built_closers)


def launch_app(settings: Settings | None = None, **launch_kwargs):
    """Build the studio and serve the web app (``ui.server.launch``'s keywords); a ``RunningApp``."""
    from .ui.server import launch

    settings = settings or Settings.from_env()
    built = build_studio(settings)
    try:
        return launch(settings, built=built, **launch_kwargs)
    except BaseException:
        built.close()
        raise
