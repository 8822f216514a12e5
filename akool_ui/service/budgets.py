"""What one request may spend or store, wired for the Studio: the spending limits when the server's
credentials pay, and the upload budgets for everyone.

``SpendingLimiter`` counts and refuses; this module decides when to ask it (never for a visitor's own key,
which their own Akool account limits) and keeps a hold for exactly the length of one request to Akool
(``Spending``). Uploads take this server's disk whoever pays, so the per-visitor and total upload budgets
apply to every visitor; over the total, the oldest uploads are deleted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..akool.errors import ApiError, ConnectError
from ..jobs import JobRecord
from ..settings import Settings
from .credentials import clean_api_key
from .limits import LEDGER_FILE, Hold, SpendingLimiter, Visitor, estimate_credits
from .store import JobStore
from .uploads import Upload, UploadStore

__all__ = ["Budgets", "Spending"]


class Budgets:
    """The limits as the Studio applies them. Thread-safe: the limiter and the upload store are."""

    def __init__(
        self, settings: Settings, *, store: JobStore, uploads: UploadStore, address_key: bytes,
        limiter: SpendingLimiter | None = None, clock: Callable[[], float] = time.time,
    ):
        """``limiter`` defaults to ``settings.limits`` counted in the store's folder, on ``clock``, with
        client addresses hashed under ``address_key`` (the app's owner key, stable across restarts)."""
        self.settings = settings
        self.store = store
        self.uploads = uploads
        self.limiter = limiter or SpendingLimiter(
            settings.limits, path=store.cache_dir / LEDGER_FILE, address_key=address_key,
            job_in_flight=self._job_in_flight, in_flight_window=settings.job_deadline, clock=clock,
        )

    def __repr__(self) -> str:
        return f"Budgets({self.settings.limits!r})"

    @property
    def uploads_total(self) -> int | None:
        """The byte budget for every stored upload together, or None when there is none."""
        total_gb = self.settings.limits.uploads_gb_total
        return None if total_gb is None else int(total_gb * 2**30)

    @property
    def any_limit(self) -> bool:
        """Whether a spending limit or the total upload budget is set (worth saying at start)."""
        return self.limiter.limits_spending or self.uploads_total is not None

    def prune_uploads(self) -> None:
        """Clear out old uploads, then the oldest ones over the total budget."""
        self.uploads.prune()
        if (total := self.uploads_total) is not None:
            self.uploads.prune_over(total)

    # --- spending ------------------------------------------------------------------------------------

    def spending(
        self, api_key: str | None, owner: str, client_address: str | None, kind: str, images: int
    ) -> "Spending":
        """Reserve a request's images now, for ``with`` around the one call that sends it to Akool.

        Raises:
            LimitReached: a limit would be passed (nothing is reserved, nothing may be sent).
        """
        return Spending(self.limiter, self._hold(api_key, owner, client_address, kind, images))

    def check_spending(self, images: int, *, api_key: str | None, owner: str, client_address: str | None) -> None:
        """Refuse now what a generation of ``images`` would be refused (before a source upload is stored)."""
        hold = self._hold(api_key, owner, client_address, "generate", images)
        if hold is not None:
            self.limiter.release(hold)

    def _hold(self, api_key: str | None, owner: str, client_address: str | None, kind: str, images: int) -> Hold | None:
        """Reserve a request's images against the limits, when the server's credentials pay for it."""
        if clean_api_key(api_key) or not self.limiter.limits_spending:
            return None  # their own key: their own account's limits
        visitor = self.limiter.visitor(owner, client_address)
        return self.limiter.check(visitor, images, credits=estimate_credits(kind, images))

    def _job_in_flight(self, job_id: str) -> bool:
        record = self.store.get(job_id)
        return record is not None and record.is_in_flight

    # --- uploads -------------------------------------------------------------------------------------

    def visitor(self, owner: str, client_address: str | None = None) -> Visitor:
        return self.limiter.visitor(owner, client_address)

    def add_upload(self, path: str | Path, *, owner: str | None, client_address: str | None = None) -> Upload:
        """Store a source image within the visitor's budget (when there is an owner) and the total one.

        Raises:
            LimitReached: the visitor's budget for the last 24 hours would be passed.
            ImageValidationError, NoPublicUrl: as ``UploadStore.add_file``.
        """
        visitor = self.limiter.visitor(owner, client_address) if owner else None
        if visitor is not None:
            self.limiter.check_upload(visitor, Path(path).stat().st_size)
        upload = self.uploads.add_file(path)
        if visitor is not None:
            self.limiter.record_upload(visitor, upload.path.stat().st_size)
        if (total := self.uploads_total) is not None:
            self.uploads.prune_over(total, keep=[upload.path])
        return upload


class Spending:
    """A hold for the length of one request to Akool: recorded once Akool accepted, released when
    nothing can have been spent (Akool refused it, or it never reached Akool), and counted as its estimate
    when we cannot tell (a timeout or dropped connection after sending: the job may exist)."""

    def __init__(self, limiter: SpendingLimiter, hold: Hold | None):
        self.limiter = limiter
        self.hold = hold

    def __repr__(self) -> str:
        return f"Spending(hold={self.hold!r})"

    def __enter__(self) -> "Spending":
        return self

    def accepted(self, records: list[JobRecord]) -> None:
        if self.hold is not None:
            self.limiter.record(self.hold, records)
            self.hold = None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if self.hold is None:
            return
        if exc is None or isinstance(exc, (ApiError, ConnectError)):
            self.limiter.release(self.hold)  # refused by Akool (or by our own checks), or never sent
        else:
            self.limiter.record(self.hold)
