"""The Studio's credits: the balance a visitor may see, the learned estimate before Generate, and the
warning when the one exceeds the other.

Who sees a balance: a visitor who typed their own key sees that key's; the operator on their own machine
(an app that is not shared) sees the server account's. A stranger on a shared link who uses the
operator's credentials never does: the operator's balance is not theirs to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...akool.models import ImageRequest
from ...jobs import JobRecord
from ..identity.credentials import clean_api_key
from ..quotas.costs import CreditCosts

if TYPE_CHECKING:  # pragma: no cover
    from .core import Studio

__all__ = ["CreditDoor", "CreditEstimate", "default_estimate"]


@dataclass(frozen=True)
class CreditEstimate:
    """What Generate will probably cost: ``per_job`` × jobs = ``total``; ``per_press`` for a U/V press."""

    jobs: int
    per_job: int
    total: int
    per_press: int

    @classmethod
    def of(cls, costs: CreditCosts, jobs: int, resolution: str | None) -> "CreditEstimate":
        jobs = max(1, int(jobs))
        per_job = costs.per_job("create", resolution)
        per_press = max(costs.per_job("upscale", None), costs.per_job("variation", resolution))
        return cls(jobs=jobs, per_job=per_job, total=per_job * jobs, per_press=per_press)


def default_estimate(jobs: int = 1, resolution: str | None = "1080p") -> CreditEstimate:
    """The estimate before anything is learned (the measured figures): what a page shows as it opens."""
    return CreditEstimate.of(CreditCosts(None), jobs, resolution)


class CreditDoor:
    """Studio methods about credits (mixed into ``Studio``; ``self`` is the Studio)."""

    def shows_balance(self: "Studio", api_key: str | None) -> bool:
        """Whether this visitor may see the balance of the account that pays for them."""
        if clean_api_key(api_key):
            return True
        return self._server_client is not None and not self.settings.shared

    def credit_balance(self: "Studio", api_key: str | None) -> float | None:
        """The credit left on the account that pays for this visitor (None: not theirs to see, or Akool
        did not say). Kept a minute, and read again after each job of that account ends."""
        if not self.shows_balance(api_key):
            return None
        return self.balances.balance(self.credentials.credential_name(api_key), self.client_for(api_key))

    def credit_estimate(self: "Studio", jobs: int, resolution: str | None) -> CreditEstimate:
        """What ``jobs`` jobs at ``resolution`` probably cost, from what Akool charged here before."""
        return CreditEstimate.of(self.costs, jobs, resolution)

    def check_credit(self: "Studio", request: ImageRequest, *, api_key: str | None, owner: str) -> None:
        """Hold a Generate that would probably cost more than the credit left, the first time (the page
        asks; pressing again sends it).

        Raises:
            NotEnoughCredit: with the one sentence (what it needs, what is left, what to do).
        """
        if not self.shows_balance(api_key):
            return
        needed = self.credit_estimate(request.batch_quantity, request.resolution).total
        left = self.credit_balance(api_key)
        signature = f"{request.batch_quantity}/{request.resolution}/{request.prompt}"
        self.credit_guard.check(owner, signature, needed, left, own_key=bool(clean_api_key(api_key)))

    def job_ended(self: "Studio", record: JobRecord) -> None:
        """A job reached a final state (the tracker says): learn what it cost, and read its account's
        balance again at the next look."""
        self.balances.spent(self.credentials.credential_name_of(record))
        parent = None
        if record.kind == "button" and record.parent_id:
            parent = self.store.get(record.parent_id)
        resolution = parent.request.get("resolution") if parent is not None else None
        self.costs.learn(record, resolution=resolution)
