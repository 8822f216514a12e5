"""How often to ask Akool about a job: the one poll policy of the app, the tracker and the CLI.

Akool has no "wait" endpoint, so everyone polls ``infobymodelid``. Jobs take ~30-50 s. A first look
after ``interval`` catches fast failures; while the job sits in the queue nothing changes, so the pause
grows ×``queued_backoff`` up to ``max_interval``; while it is processing we stay at ``interval`` so
"done" is heard promptly; a failed poll doubles the pause (up to the cap); ``deadline`` seconds without a
result ends the wait ("timed out": resumable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from .candidates import hold_for_candidates
from .errors import JobFailed, JobTimedOut
from .models import Job, JobStatus, StatusUpdate

__all__ = ["PollPolicy", "DEFAULT_POLL_POLICY", "poll_until_done", "final_job"]


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

    def with_overrides(self, **fields: float | None) -> "PollPolicy":
        """This policy with the given (non-None) fields replaced; a larger ``interval`` lifts the cap too."""
        given = {k: v for k, v in fields.items() if v is not None}
        if "interval" in given and "max_interval" not in given:
            given["max_interval"] = max(self.max_interval, given["interval"])
        return replace(self, **given) if given else self


DEFAULT_POLL_POLICY = PollPolicy()


def poll_until_done(
    get_job: Callable[[str], Job], job_id: str, policy: PollPolicy, *,
    on_update: Callable[[StatusUpdate], None] | None = None,
    sleep: Callable[[float], None], clock: Callable[[], float],
) -> Iterator[StatusUpdate]:
    """Poll ``job_id`` under ``policy``, yielding a ``StatusUpdate`` after every poll, until it is done.

    No pause runs past the deadline: the last poll happens at it; then JobTimedOut. A grid-only "done"
    waits a few polls for its candidate URLs (``candidates``)."""
    started = clock()
    pause = policy.interval
    polls = 0
    previous: JobStatus | None = None
    candidates_due: float | None = None
    while True:
        job, candidates_due = hold_for_candidates(get_job(job_id), candidates_due, clock(), policy.interval)
        polls += 1
        update = StatusUpdate(job=job, elapsed=clock() - started, polls=polls, changed=job.status != previous)
        previous = job.status
        if on_update is not None:
            on_update(update)
        yield update
        if job.is_done:
            return
        left = policy.deadline - (clock() - started)
        if left <= 0:
            raise JobTimedOut(job_id, policy.deadline)
        pause = pause if job.status is JobStatus.QUEUED else policy.interval
        sleep(min(pause, left))
        pause = policy.next_pause(pause, job.status)


def final_job(updates: Iterator[StatusUpdate]) -> Job:
    """The finished job at the end of ``updates``; JobFailed if it failed."""
    job: Job | None = None
    for update in updates:
        job = update.job
    assert job is not None  # a poll loop yields at least once or raises
    if job.status is JobStatus.FAILED:
        raise JobFailed(job)
    return job
