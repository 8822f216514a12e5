"""When to poll each job: where jobs of its kind finish, learned from the ``DurationBook``.

A job's polls are placed on its own clock (seconds since it was created):

* one early look (``FIRST_LOOK``) that catches jobs refused or failed at once;
* sparse while a finish is unlikely: at most ``SPARSE_GAP_SHARE`` of the typical duration apart;
* dense where jobs of its kind (backend, generate / U / V, resolution) finish: ``DENSE_POLLS`` polls
  spread over the central band of the learned durations with density ∝ √(density of finishes), the
  placement that makes the mean detection delay smallest for a given number of polls;
* past the band, a steady fallback every ``FALLBACK_SHARE`` of the typical duration;
* a job still queued is behind schedule: its clock is moved on (and what it took is learned on that
  clock), and it is looked at only every ``QUEUED_GAP_SHARE`` of the typical duration while queued.

A job whose callback (webhook) is expected is polled only as a rare safety net (from ``SAFETY_FACTOR``
times the band's end, then every ``SAFETY_INTERVAL_SHARE`` of the typical duration), until a safety
poll finds a job finished with no callback heard: then webhooks are not trusted (said once in the log)
until one arrives again. The caller's ``PollPolicy`` still bounds the schedule: no two polls of one job
closer than its ``interval``, none further apart than the fallback, and its deadline.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ...akool.models import JobStatus
from ...akool.polling import PollPolicy
from ...jobs import JobRecord
from .durations import DurationBook, duration_key

if TYPE_CHECKING:  # pragma: no cover
    from ...akool.client import AkoolClient

__all__ = ["Pacing", "JobPlan", "poll_offsets", "DENSE_POLLS", "FIRST_LOOK"]

log = logging.getLogger(__name__)

# Akool answers a bad request or a broken job within seconds: one look then, never before.
FIRST_LOOK = 3.0
# Polls over the band where jobs finish. With Akool-like spreads (~±5 s around 38 s), 16 polls put
# ~1.1 s between polls where most jobs end: half the delay of a fixed 3 s poller, with fewer requests
# (~12 per job against ~15; more buys little, as the policy's interval bounds the spacing).
DENSE_POLLS = 16
# The band: the middle of the learned durations; beyond it the fallback takes over (a tail is long
# and thin, and dense polls there buy little).
BAND = (0.02, 0.92)
# Before the band, polls at most this share of the typical (median) duration apart.
SPARSE_GAP_SHARE = 0.4
# After the band: a steady poll every this share of the typical duration (3 s for 38 s jobs, the pace
# of Akool's own demo), bounded by the policy's interval and max_interval.
FALLBACK_SHARE = 0.08
# A job seen queued is assumed to have waited this share of the typical duration in a normal queue;
# while it stays queued it is polled every ``QUEUED_GAP_SHARE`` of the typical duration.
QUEUE_SHARE = 0.05
QUEUED_GAP_SHARE = 0.2
# Webhook safety net: first poll at this multiple of the band's end, then every this share of the
# typical duration (never more often than the policy's max_interval): rare by design.
SAFETY_FACTOR = 1.5
SAFETY_INTERVAL_SHARE = 1.0
_GRID = 400


def poll_offsets(samples: list[float], *, dense_polls: int = DENSE_POLLS, first_look: float = FIRST_LOOK,
                 min_gap: float = 0.0) -> tuple[float, ...]:
    """Poll times (seconds after creation) for jobs whose durations look like ``samples``."""
    values = sorted(v for v in samples if v > 0 and math.isfinite(v))
    if not values:
        return (first_look,)
    lo, hi = (values[min(len(values) - 1, int(q * len(values)))] for q in BAND)
    band = [v for v in values if lo <= v <= hi] or values
    median = values[len(values) // 2]
    dense = _sqrt_density_points(band, dense_polls, median)
    first = min(first_look, 0.5 * dense[0]) if dense else first_look
    points = [first]
    sparse_gap = max(min_gap, SPARSE_GAP_SHARE * median)
    while dense and dense[0] - points[-1] > sparse_gap:
        points.append(points[-1] + sparse_gap)
    for t in dense:
        if t - points[-1] >= min_gap:
            points.append(t)
    return tuple(round(p, 4) for p in points)


def _sqrt_density_points(band: list[float], count: int, median: float) -> list[float]:
    """``count`` points with density ∝ √f, f a kernel estimate of the density of ``band``."""
    n = len(band)
    mean = sum(band) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in band) / n)
    iqr = band[(3 * n) // 4] - band[n // 4]
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    bandwidth = max(0.02 * median, 0.9 * spread * n ** -0.2, 1e-6)
    start, end = max(0.0, band[0] - 3 * bandwidth), band[-1] + 3 * bandwidth
    step = (end - start) / _GRID
    counts = [0] * (_GRID + 1)
    for v in band:
        counts[min(_GRID, int((v - start) / step))] += 1
    radius = max(1, int(4 * bandwidth / step))
    kernel = [math.exp(-0.5 * (k * step / bandwidth) ** 2) for k in range(-radius, radius + 1)]
    weights = []
    for i in range(_GRID + 1):
        f = sum(counts[j] * kernel[j - i + radius] for j in range(max(0, i - radius), min(_GRID, i + radius) + 1))
        weights.append(math.sqrt(f))
    cumulative = [0.0]
    for i in range(1, _GRID + 1):
        cumulative.append(cumulative[-1] + 0.5 * (weights[i] + weights[i - 1]) * step)
    total = cumulative[-1]
    if total <= 0:
        return [median]
    points, j = [], 0
    for k in range(count):
        target = total * (k + 0.5) / count
        while j < _GRID - 1 and cumulative[j + 1] < target:
            j += 1
        width = cumulative[j + 1] - cumulative[j]
        points.append(start + (j + ((target - cumulative[j]) / width if width > 0 else 0.0)) * step)
    return points


@dataclass
class JobPlan:
    """One tracked job's place in its schedule (in memory, on the tracker's clock)."""

    key: str
    origin: float
    """When the job was created, on the tracker's clock."""
    webhook: bool
    """A callback is expected for this job."""
    shift: float = 0.0
    """How far the job's clock was moved on because it was still queued."""
    last_pending: float | None = None
    """Elapsed seconds at the last poll that found the job unfinished."""
    heard_at: float | None = None
    """When a callback said the job ended (on the tracker's clock)."""
    safety_at: float | None = None
    """When the job's next safety-net poll is due (on the tracker's clock)."""
    recorded: bool = False


class Pacing:
    """Plans polls from learned durations; records what finished jobs took (thread-safe)."""

    def __init__(
        self, book: DurationBook, policy: PollPolicy, *, backend_of: Callable[["AkoolClient"], str] | None = None,
        expects_webhook: Callable[["AkoolClient"], bool] | None = None, dense_polls: int = DENSE_POLLS,
        clock_rate: float = 1.0, wall: Callable[[], float] = time.time,
    ):
        """``backend_of(client)`` names where the client's jobs run (durations are kept apart per backend);
        ``expects_webhook(client)``: callbacks come for jobs made with it. ``clock_rate``: tracker-clock
        seconds per wall second (1; a bench runs the app's clock faster with a faster simulator)."""
        self.book, self.policy = book, policy
        self._backend_of = backend_of or (lambda client: "akool")
        self._expects_webhook = expects_webhook or (lambda client: False)
        self.dense_polls = int(dense_polls)
        self._clock_rate = clock_rate
        self._wall = wall
        self._lock = threading.Lock()
        self._offsets: dict[str, tuple[int, tuple[float, ...], float]] = {}  # key -> (n learned, offsets, median)
        self.webhooks_trusted = True

    # --- plans -------------------------------------------------------------------------------------

    def key_for(self, record: JobRecord, client: "AkoolClient | None") -> str:
        """The durations key of ``record``'s job: backend, kind (generate / upscale / variation), resolution."""
        kind = record.kind
        if kind == "button":
            kind = "upscale" if str(record.button or "").startswith("U") else "variation"
        return duration_key(self._backend_of(client), kind, record.request.get("resolution"))

    def typical_seconds(self, record: JobRecord, client: "AkoolClient | None") -> float:
        """How long jobs like ``record``'s typically take here (learned; the prior until then)."""
        return self.offsets(self.key_for(record, client))[1]

    def plan(self, record: JobRecord, client: "AkoolClient", now: float) -> JobPlan:
        """A plan for ``record``'s job, its origin placed by the record's age (also after a restart)."""
        key = self.key_for(record, client)
        age = max(0.0, self._wall() - record.created_at) * self._clock_rate
        return JobPlan(key=key, origin=now - age, webhook=bool(self._expects_webhook(client)))

    def offsets(self, key: str) -> tuple[tuple[float, ...], float]:
        """(poll offsets, typical duration) for a key; recomputed when its samples changed."""
        learned = len(self.book.learned(key))
        last = self.book.learned(key)[-1:] if learned else []
        with self._lock:
            cached = self._offsets.get(key)
            if cached is not None and cached[0] == (learned, tuple(last)):
                return cached[1], cached[2]
        samples = self.book.samples(key)
        offsets = poll_offsets(samples, dense_polls=self.dense_polls, min_gap=self.policy.interval)
        median = sorted(samples)[len(samples) // 2] if samples else FIRST_LOOK
        with self._lock:
            self._offsets[key] = ((learned, tuple(last)), offsets, median)  # type: ignore[assignment]
        return offsets, median

    def next_pause(self, plan: JobPlan, now: float, status: JobStatus | None = None) -> float:
        """Seconds until the job's next poll; ``status`` is what the poll just taken said (None: no poll yet)."""
        offsets, median = self.offsets(plan.key)
        elapsed = now - plan.origin
        if status is not None and status is not JobStatus.SUCCEEDED:
            plan.last_pending = elapsed
        if status is JobStatus.QUEUED:  # behind schedule: move its clock on
            plan.shift = max(plan.shift, elapsed - QUEUE_SHARE * median)
        local = elapsed - plan.shift
        if plan.webhook and self.webhooks_trusted:
            pause = self._safety_pause(offsets, median, local)
            plan.safety_at = now + pause
            return pause
        # still queued: it cannot end before it is processed, so look again only now and then
        least = max(self.policy.interval, QUEUED_GAP_SHARE * median) if status is JobStatus.QUEUED else (
            self.policy.interval if status is not None else 0.0)
        for offset in offsets:
            if offset > local + 1e-9:
                return max(least, offset - local)
        return max(least, min(max(self.policy.interval, FALLBACK_SHARE * median), self.policy.max_interval))

    def _safety_pause(self, offsets: tuple[float, ...], median: float, local: float) -> float:
        first = SAFETY_FACTOR * offsets[-1]
        if local < first:
            return first - local
        every = max(SAFETY_INTERVAL_SHARE * median, self.policy.max_interval)
        return every - ((local - first) % every)

    # --- what happened -----------------------------------------------------------------------------

    def heard(self, plan: JobPlan, now: float, status: int) -> None:
        """A verified callback for this job: callbacks work; a final one says when it ended."""
        if not self.webhooks_trusted:
            self.webhooks_trusted = True
            log.info("webhook callbacks arrive again: polling only as a safety net for jobs that expect one")
        if status in (3, 4) and plan.heard_at is None:
            plan.heard_at = now

    def finished(self, plan: JobPlan, now: float, *, succeeded: bool) -> None:
        """The job ended (seen by this poll): learn how long it took; notice callbacks that never came."""
        if plan.recorded:
            return
        plan.recorded = True
        # only a safety-net poll proves a callback missing (not a resumed job's or an adopted job's
        # first look, whose callback may have come while the app was down)
        safety_poll = plan.safety_at is not None and now >= plan.safety_at - 1e-6
        if plan.webhook and plan.heard_at is None and safety_poll and self.webhooks_trusted:
            self.webhooks_trusted = False
            log.warning("a job that expected a webhook callback finished without one (is the public URL "
                        "reachable from Akool?): polling every job on the learned schedule until one arrives")
        if not succeeded:
            return  # failures end at any time; they would blur where successes finish
        if plan.heard_at is not None:
            took = plan.heard_at - plan.origin
        elif plan.last_pending is not None:  # it ended between the last two polls: take the middle
            took = (plan.last_pending + (now - plan.origin)) / 2
        else:
            return  # first seen already done (e.g. resumed after a restart): when it ended is unknown
        # learned on the job's own clock (a long queue taken out), as the schedule is applied on it
        self.book.record(plan.key, took - plan.shift)
