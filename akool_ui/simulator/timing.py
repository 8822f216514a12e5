"""How long a simulated job queues and then processes: the ``quick`` demo model, or ``realistic``.

``quick`` (the default) is a fixed 1.5 s queue + 4 s processing (2.5 s for U jobs): a demo that does
not keep people waiting. ``realistic`` draws each job's times from seeded distributions shaped like
Akool's service (generation and V jobs ~30-50 s with a tail, U jobs their own, occasional long queues
that grow likelier with the account's load), so a poll schedule can be measured against it. Both are
divided by the simulator's ``speed``. The parameters are documented in README.md ("Timing").
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["TIMINGS", "JobTimer", "QUEUED_SECONDS", "PROCESSING_SECONDS", "UPSCALE_PROCESSING_SECONDS",
           "REALISTIC", "Realistic", "DEFAULT_TIMING_SEED"]

TIMINGS = ("quick", "realistic")
DEFAULT_TIMING_SEED = 7

# quick: simulated durations at speed 1.0 (divided by ``speed``): a quick demo, not Akool's real 30-50 s.
QUEUED_SECONDS = 1.5
PROCESSING_SECONDS = 4.0  # generations and V (variation) jobs
UPSCALE_PROCESSING_SECONDS = 2.5  # U jobs: one image, no new composition


@dataclass(frozen=True)
class Realistic:
    """Parameters of the realistic model, in seconds at speed 1 (see README.md, "Timing")."""

    generate_median: float = 36.0
    """Processing of a generation or V job: log-normal around this median..."""
    generate_sigma: float = 0.12
    """...with this log-spread (the middle 80 % of jobs take ~31-42 s of processing)."""
    upscale_median: float = 20.0
    upscale_sigma: float = 0.15
    tail_chance: float = 0.08
    """This share of jobs is slower still: an extra exponential delay (a busy GPU, a retry upstream)."""
    tail_mean: float = 15.0
    queue_mean: float = 2.0
    """Every job waits an exponential time in the queue with this mean..."""
    long_queue_chance: float = 0.04
    """...and this share waits much longer (a backlog), uniformly between the two bounds below;"""
    long_queue_min: float = 20.0
    long_queue_max: float = 90.0
    load_free_jobs: int = 8
    """under load the chance grows by ``long_queue_per_job`` per job the account has in flight beyond
    this many (up to ``long_queue_cap``)."""
    long_queue_per_job: float = 0.01
    long_queue_cap: float = 0.3


REALISTIC = Realistic()


class JobTimer:
    """Draws (queued_for, processing_for) per job; one seeded random stream, so a run is repeatable."""

    def __init__(self, seed: int = DEFAULT_TIMING_SEED, params: Realistic = REALISTIC):
        self.seed = int(seed)
        self.params = params
        self._random = random.Random(self.seed)

    def draw(self, timing: str, *, upscale: bool, in_flight: int, speed: float) -> tuple[float, float]:
        """Queue wait and processing time (simulated seconds, already divided by ``speed``)."""
        if timing == "quick":
            return QUEUED_SECONDS / speed, (UPSCALE_PROCESSING_SECONDS if upscale else PROCESSING_SECONDS) / speed
        p, rnd = self.params, self._random
        # every job takes the same six numbers from the stream whatever it makes of them, so the n-th
        # job is the same job however loaded the account was when earlier ones were made
        queued, long_draw, long_extra = (rnd.expovariate(1.0 / p.queue_mean), rnd.random(),
                                         rnd.uniform(p.long_queue_min, p.long_queue_max))
        spread, tail_draw, tail_extra = rnd.gauss(0.0, 1.0), rnd.random(), rnd.expovariate(1.0 / p.tail_mean)
        long_chance = min(p.long_queue_cap,
                          p.long_queue_chance + p.long_queue_per_job * max(0, in_flight - p.load_free_jobs))
        if long_draw < long_chance:
            queued += long_extra
        median, sigma = (p.upscale_median, p.upscale_sigma) if upscale else (p.generate_median, p.generate_sigma)
        processing = median * math.exp(sigma * spread)
        if tail_draw < p.tail_chance:
            processing += tail_extra
        return queued / speed, processing / speed
