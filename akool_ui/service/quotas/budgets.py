"""What one request may spend or store, wired for the Studio: the spending limits when the server's
credentials pay, and the upload budgets for everyone.

``SpendingLimiter`` counts and refuses; this module decides when to ask it (never for a visitor's own key,
which their own Akool account limits) and keeps a hold for exactly the length of one request to Akool
(``Spending``). Uploads take this server's disk whoever pays, so the per-visitor and total upload budgets
apply to every visitor; over the total, the oldest uploads are deleted.
"""

from __future__ import annotations

from pathlib import Path

from ...akool.errors import ApiError, ConnectError
from ...jobs import JobRecord
from ...settings import Settings
from ..identity.credentials import clean_api_key
from .costs import CreditCosts
from .limits import Hold, SpendingLimiter, Visitor, estimate_credits
from ..library.uploads import Upload, UploadStore

__all__ = ["Budgets", "Spending"]


class Budgets:
    """The limits as the Studio applies them. Thread-safe: the limiter and the upload store are."""

    def __init__(self, settings: Settings, *, limiter: SpendingLimiter, uploads: UploadStore,
                 costs: CreditCosts | None = None):
        """``limiter`` counts and refuses (``settings.limits``, built by bootstrap); ``costs``: what Akool
        charged before, so a request reserves what it will probably cost (else the fixed estimate)."""
        self.settings = settings
        self.uploads = uploads
        self.limiter = limiter
        self.costs = costs

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
        self, api_key: str | None, owner: str, client_address: str | None, kind: str, images: int, *,
        resolution: str | None = None, button: str | None = None,
    ) -> "Spending":
        """Reserve a request's images now, for ``with`` around the one call that sends it to Akool
        (``resolution``: a generation's; ``button``: a press's, U or V).

        Raises:
            LimitReached: a limit would be passed (nothing is reserved, nothing may be sent).
        """
        credits = self._probable_credits(kind, images, resolution, button)
        return Spending(self.limiter, self._hold(api_key, owner, client_address, images, credits))

    def check_spending(self, images: int, *, api_key: str | None, owner: str, client_address: str | None) -> None:
        """Refuse now what a generation of ``images`` would be refused (before a source upload is stored)."""
        # the cheapest a generation can be: refuse here only what the send itself would surely refuse
        hold = self._hold(api_key, owner, client_address, images, self._probable_credits("generate", images, "1080p"))
        if hold is not None:
            self.limiter.release(hold)

    def usage(self, api_key: str | None, owner: str, client_address: str | None) -> dict[str, int | None] | None:
        """What the visitor has used of the limits now, beside the limits (None: their own key, or no limit)."""
        if clean_api_key(api_key) or not self.limiter.limits_spending:
            return None
        lim = self.settings.limits
        return {**self.limiter.usage(self.limiter.visitor(owner, client_address)),
                "images_per_hour": lim.images_per_hour, "jobs_in_flight": lim.jobs_in_flight,
                "daily_credits": lim.daily_credits}

    def _probable_credits(self, kind: str, images: int, resolution: str | None, button: str | None = None) -> int:
        """What the request will probably cost: as Akool charged such jobs here before (a press of unknown
        resolution: its dearer case), else the fixed estimate. Akool's real charge replaces it later."""
        if self.costs is None:
            return estimate_credits(kind, images)
        if kind == "generate":
            return self.costs.estimate("create", resolution, max(1, int(images)))
        cost_kind = "upscale" if (button or "").upper().startswith("U") else "variation"
        return self.costs.estimate(cost_kind, resolution, max(1, int(images)))

    def _hold(self, api_key: str | None, owner: str, client_address: str | None, images: int,
              credits: int) -> Hold | None:
        """Reserve a request's images and credits against the limits, when the server's credentials pay."""
        if clean_api_key(api_key) or not self.limiter.limits_spending:
            return None  # their own key: their own account's limits
        visitor = self.limiter.visitor(owner, client_address)
        return self.limiter.check(visitor, images, credits=credits)

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
            self.limiter.record_upload(visitor, upload.size)
        if (total := self.uploads_total) is not None:
            self.uploads.prune_over(total, keep=[upload])
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
