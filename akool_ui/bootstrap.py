"""The composition root: the whole app built from ``Settings`` in one place, and taken down in reverse.

    Settings ─► JobStore ─► UploadStore ─► demo simulator (offline demo only) ─► ClientPool ─► Studio
             ─► web app (ui.server.launch)

Only this module imports the simulator (so importing the service layer never loads FastAPI routes or
the renderer), and no constructor below starts anything: the simulator, the Studio (``start``) and the
web server are started here, in order, and closed in the opposite order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import settings as settings_module
from .akool.client import AkoolClient
from .service.clients import ClientPool
from .service.demo import DEMO_DIR, DemoAccount, load_demo_account
from .service.durations import scaled_prior
from .service.store import JobStore
from .service.studio import Studio
from .service.uploads import UploadStore
from .settings import Settings

__all__ = ["build_studio", "launch_app", "Built"]

log = logging.getLogger(__name__)

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


def _start_demo_simulator(cache_dir: Path, *, speed: float, trusted_source: Callable[[str], bool]):
    """The offline demo's Akool: the simulator on 127.0.0.1 (a random free port), its state under the cache.

    Like Akool, it fetches image-to-image sources from public addresses only (a visitor of a shared demo
    must not make this machine fetch its own loopback, the metadata service or the LAN); the exception is
    ``trusted_source``: the app's own upload links, which live on 127.0.0.1 in the demo."""
    from .simulator import SimulatorServer

    root = cache_dir / DEMO_DIR
    account = load_demo_account(root)
    server = SimulatorServer(
        api_key=account.api_key, client_id=account.client_id, client_secret=account.client_secret,
        speed=speed, state_dir=root / "simulator", host="127.0.0.1", port=0,
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


def _log_storage(settings: Settings, store: JobStore) -> None:
    """Where the history lives, for the operator; a warning when it will not outlive the container."""
    if store.index_is_local:
        log.info(
            "job history and images in %s; their index on local disk in %s (rebuilt from the records there "
            "when missing)", store.cache_dir, store.index_dir,
        )
    else:
        log.info("job history and images in %s", store.cache_dir)
    if settings.ephemeral_cache:
        log.warning(EPHEMERAL_CACHE_WARNING, store.cache_dir, settings_module.PERSISTENT_ROOT)


def build_studio(settings: Settings) -> Built:
    """Everything behind the page, started: store, uploads, demo simulator or Akool clients, Studio."""
    built_closers: list[Callable[[], None]] = []
    store = JobStore.from_settings(settings)
    built_closers.append(store.close)
    _log_storage(settings, store)
    try:
        uploads = UploadStore(store.cache_dir / "uploads", public_url=settings.public_url, demo=settings.demo_mode)
        if not settings.demo_mode and not uploads.can_serve:  # visitors are only told to paste a URL; the fix is the operator's
            log.warning(NO_PUBLIC_URL_WARNING)
        account = server = None
        if settings.demo_mode:
            account, server = _start_demo_simulator(
                store.cache_dir, speed=settings.demo_speed, trusted_source=uploads.is_own_url
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
        studio = Studio(settings, store=store, clients=clients, uploads=uploads, demo=settings.demo_mode,
                        demo_durations=_demo_durations(settings.demo_speed) if settings.demo_mode else None)
        built_closers.remove(store.close)  # the Studio closes the store (after its tracker and clients),
        built_closers.append(studio.close)  # and before the simulator stops: closers run last-in first
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
