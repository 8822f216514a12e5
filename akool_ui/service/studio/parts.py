"""What a Studio is made of, built by ``bootstrap`` (the composition root) and handed over whole.

The Studio constructs nothing itself: every collaborator arrives here, so swapping one (a shared store,
another limiter, a test double of a port) is a change to the composition root alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...settings import Settings
from ..identity.clients import ClientPool
from ..identity.credentials import Credentials
from ..library.boards import Boards
from ..library.favourites import Favourites
from ..library.shares import Shares
from ..library.trash import DeleteGrace
from ..library.uploads import UploadStore
from ..quotas.balances import CreditBalances
from ..quotas.budgets import Budgets
from ..quotas.costs import CreditCosts
from ..quotas.credit_guard import CreditGuard
from ..quotas.visitors import ClientAddress
from ..runtime.callbacks import Callbacks
from ..runtime.orphans import OrphanSweep
from ..runtime.pacing import Pacing
from ..runtime.replays import WebhookReplays
from ..runtime.tracker import JobTracker
from ..ports import JobRecords, Storage
from ..results.storing import ResultFiles

__all__ = ["StudioParts"]


@dataclass
class StudioParts:
    """The collaborators of one Studio (one app process)."""

    settings: Settings
    storage: Storage
    """The adapter's ports together (closed with the Studio)."""
    store: JobRecords
    results: ResultFiles
    """The records' image files, kept as blobs."""
    clients: ClientPool
    uploads: UploadStore
    credentials: Credentials
    budgets: Budgets
    callbacks: Callbacks
    tracker: JobTracker
    pacing: Pacing | None
    addresses: ClientAddress
    replays: WebhookReplays
    favourites: Favourites
    shares: Shares
    """Share links (read-only pages of one result), in a document."""
    boards: Boards
    """Named collections of an owner's jobs, in a document."""
    trash: DeleteGrace
    owner_key: bytes
    costs: CreditCosts
    """What jobs cost here, learned from Akool's ``deduction_credit``: the estimate before Generate."""
    balances: CreditBalances
    credit_guard: CreditGuard
    demo: bool = False
    sweep: OrphanSweep | None = None
    """Takes on jobs whose poller died (several replicas on shared storage); None: one process."""
