"""What a job costs here, learned from what Akool actually charged: the "about N credits" before Generate.

Akool's v4 page says 1 credit per image at either resolution; a third party measured 3 per 1080p job and
4 per 4k (akool-api.md §6, §9; docs/credits.md). Rather than trust either, every job that succeeds adds
its ``deduction_credit`` to the ``credit-costs`` document under its kind (create / upscale / variation)
and resolution, and the estimate is the median of the last ``KEEP_PER_KIND`` charges of that kind (the
measured figures stand in until a kind has been seen once). A failed job is refunded (0) and teaches
nothing. Observations are keyed by job id, so two processes learning one job record it once.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from typing import Any

from ...akool.models import RESOLUTIONS, UPSCALE_BUTTONS
from ...jobs import JobRecord, RecordState
from ..documents import CachedDocument
from ..ports import Documents

__all__ = ["CreditCosts", "COSTS_DOCUMENT", "DEFAULT_COSTS", "KEEP_PER_KIND", "cost_kind"]

log = logging.getLogger(__name__)

COSTS_DOCUMENT = "credit-costs"
# The last charges kept per (kind, resolution): enough for a stable median, and the document stays small
# (at most 3 kinds × 2 resolutions × 20 entries) however many jobs are made.
KEEP_PER_KIND = 20
# Before anything is learned: the third party's measurement (3 per 1080p job, 4 per 4k); an upscale makes a
# 4K image (4); a variation is a new generation at its parent's resolution.
DEFAULT_COSTS: dict[str, int] = {
    "create/1080p": 3, "create/4k": 4, "variation/1080p": 3, "variation/4k": 4, "upscale/4k": 4,
}
KINDS = ("create", "upscale", "variation")

Charges = dict[str, dict[str, float]]  # "kind/resolution" -> {job id: credits}, oldest first


def _key(kind: str, resolution: str | None) -> str:
    if kind == "upscale":
        return "upscale/4k"  # always a 4K image, whatever its parent was
    return f"{kind}/{resolution if resolution in RESOLUTIONS else '4k'}"


def cost_kind(record: JobRecord) -> str:
    """``create`` for a generation, ``upscale`` for a U press, ``variation`` for a V press."""
    if record.kind != "button":
        return "create"
    return "upscale" if (record.button or "") in UPSCALE_BUTTONS else "variation"


class CreditCosts:
    """Learned credits per job, kept in ``documents`` (None: this process only). Thread-safe."""

    def __init__(self, documents: Documents | None, *, name: str = COSTS_DOCUMENT):
        self._lock = threading.Lock()
        self._doc: CachedDocument[Charges] = CachedDocument(documents, name, parse=_parse, dump=dict)

    def __repr__(self) -> str:
        return "CreditCosts()"

    def per_job(self, kind: str, resolution: str | None) -> int:
        """Credits one job of ``kind`` at ``resolution`` probably costs (learned, else ``DEFAULT_COSTS``)."""
        key = _key(kind, resolution)
        with self._lock:
            seen = list(self._doc.get().get(key, {}).values())
        if not seen:
            return DEFAULT_COSTS.get(key, DEFAULT_COSTS["create/4k"])
        return int(math.ceil(statistics.median(seen)))

    def estimate(self, kind: str, resolution: str | None, jobs: int = 1) -> int:
        """Credits ``jobs`` jobs of ``kind`` probably cost together."""
        return self.per_job(kind, resolution) * max(1, int(jobs))

    def learn(self, record: JobRecord, *, resolution: str | None = None) -> bool:
        """Remember what Akool charged for a finished job (``resolution``: a variation's parent's). Returns
        whether it taught anything (a failed, unpriced or already learned job does not).

        Raises:
            StorageUnavailable: (an ``OSError``) the document could not be written.
        """
        if record.state is not RecordState.SUCCEEDED or record.credits is None or record.credits <= 0:
            return False
        kind = cost_kind(record)
        key = _key(kind, resolution if kind != "create" else record.request.get("resolution"))
        learned: list[bool] = []
        with self._lock:
            if record.id in self._doc.get().get(key, {}):
                return False  # learned already (here, or by another process)

        def change(charges: Charges) -> None:
            seen = charges.setdefault(key, {})
            if record.id in seen:
                return
            seen[record.id] = float(record.credits)
            while len(seen) > KEEP_PER_KIND:  # the oldest charge goes first
                del seen[next(iter(seen))]
            learned.append(True)

        with self._lock:
            self._doc.update(change)
        return bool(learned)


def _parse(data: Any) -> Charges:
    if data is None:
        return {}
    if not isinstance(data, dict):
        log.warning("the credit-costs document is malformed; starting from the measured defaults")
        return {}
    charges: Charges = {}
    for key, seen in data.items():
        if key in DEFAULT_COSTS and isinstance(seen, dict):
            charges[key] = {str(j): float(c) for j, c in list(seen.items())[-KEEP_PER_KIND:]
                            if isinstance(c, (int, float)) and not isinstance(c, bool) and 0 < c < 10_000}
    return charges
