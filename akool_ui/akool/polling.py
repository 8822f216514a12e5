"""How often to ask Akool about a job: the one poll policy of the app, the tracker and the CLI.

Akool has no "wait" endpoint, so everyone polls ``infobymodelid``. Jobs take ~30-50 s. A first look
after ``interval`` catches fast failures; while the job sits in the queue nothing changes, so the pause
grows ×``queued_backoff`` up to ``max_interval``; while it is processing we stay at ``interval`` so
"done" is heard promptly; a failed poll doubles the pause (up to the cap); ``deadline`` seconds without a
result ends the wait ("timed out": resumable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .models import JobStatus

__all__ = ["PollPolicy", "DEFAULT_POLL_POLICY"]


@dataclass(frozen=True)
class PollPolicy:
    """Pauses between status polls of one job (seconds), and when to stop waiting."""

    interval: float = 1.0
    max_interval: float = 5.0
    queued_backoff: float = 1.5
    deadline: float = 600.0

    def __post_init__(self) -> None:
        values = (self.interval, self.max_interval, self.queued_backoff, self.deadline)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError("poll policy values must be finite numbers")
        if not (0 < self.interval <= self.max_interval and self.queued_backoff >= 1 and self.deadline >= 0):
            raise ValueError("need 0 < interval <= max_interval, queued_backoff >= 1 and deadline >= 0")

    def next_pause(self, pause: float, status: JobStatus) -> float:
        """The pause after the one just taken (``pause``), for a job last seen in ``status``."""
        if status is JobStatus.QUEUED:
            return min(pause * self.queued_backoff, self.max_interval)
        return self.interval

    def after_error(self, pause: float) -> float:
        """The pause after a poll that failed for a reason that may pass (network, 5xx, rate limit)."""
        return min(pause * 2, self.max_interval)


DEFAULT_POLL_POLICY = PollPolicy()
