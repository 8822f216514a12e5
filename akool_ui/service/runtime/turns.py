"""What a worker does for one due job: poll it once, or download its results; and what comes next.

A turn reads the record, asks Akool (or the ``Downloader``), applies the answer through ``jobs.lifecycle``
(``apply``: a store update that publishes the transition's events) and returns the pause before the
job's next turn (``PollPolicy``, or with a ``Pacing`` the learned schedule), ``None`` when nothing is
left to do, or ``DOWNLOAD``. A 1005 answer slows the credential's poll budget down; it never fails a job.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from ...akool.candidates import CANDIDATE_GRACE_POLLS, hold_for_candidates
from ...akool.errors import AkoolError, AuthError, JobNotFound, PermissionDenied, RateLimited
from ...akool.models import Job, JobStatus
from ...akool.polling import PollPolicy
from ...jobs import JobRecord, RecordState, lifecycle
from ...jobs.events import JobEvent, state_event
from ..results.downloader import Downloader, Outcome
from .pacing import JobPlan, Pacing
from .poll_budget import PollBudgets
from .scheduler import DOWNLOAD, Tracked
from ..ports import JobRecords, RecordNotFound

__all__ = ["JobTurns", "FRESH_LINKS_SECONDS", "MAX_DOWNLOAD_RETRY_PAUSE", "CANDIDATE_GRACE_POLLS", "LOCKED_RETRY_PAUSE",
           "PERMANENT_POLL_ERRORS"]

log = logging.getLogger(__name__)

# Akool's result links last 7 days. A job found downloading that no poll here has seen (a restart, or a
# job adopted from a replica that died mid-download) is asked about again first only when its links were
# seen longer ago than this; fresher ones are downloaded as they are (adopting a job costs no extra poll).
FRESH_LINKS_SECONDS = 3600.0
# A download attempt (downloads.fetch_result: a few quick tries) that fails is recorded and repeated
# later, after FIRST_DOWNLOAD_RETRY_PAUSE, doubling up to MAX_DOWNLOAD_RETRY_PAUSE.
FIRST_DOWNLOAD_RETRY_PAUSE = 2.0
MAX_DOWNLOAD_RETRY_PAUSE = 60.0
# Another process holds the job's download lock: look again after this long.
LOCKED_RETRY_PAUSE = 2.0
# Errors that will not go away by asking again: the job is gone or not ours, or the key is bad.
PERMANENT_POLL_ERRORS = (JobNotFound, PermissionDenied, AuthError)

Apply = Callable[[str, Callable[[JobRecord], list[JobEvent]]], JobRecord]


_UNFINISHED = {JobStatus.QUEUED: RecordState.QUEUED, JobStatus.PROCESSING: RecordState.PROCESSING}


def _news(record: JobRecord, job: Job) -> bool:
    """Whether a poll's answer could change the record (else the store is not written)."""
    return not (
        _UNFINISHED.get(job.status) is record.state
        and list(job.buttons) == record.buttons and list(job.used_buttons) == record.used_buttons
        and (job.credits is None or job.credits == record.credits)
        and not job.image_url and not job.result_urls
        and (record.parent_id or not job.parent_id) and (record.button or not job.button)
        and (record.request.get("prompt") or not job.prompt)
    )


class JobTurns:
    """The poll turn and the download turn the scheduler runs for each tracked job."""

    def __init__(
        self, store: JobRecords, policy: PollPolicy, downloader: Downloader, *, clock: Callable[[], float],
        apply: Apply, publish: Callable[[list[JobEvent]], None], pacing: Pacing | None = None,
        budgets: PollBudgets | None = None,
        download_retry_pause: tuple[float, float] = (FIRST_DOWNLOAD_RETRY_PAUSE, MAX_DOWNLOAD_RETRY_PAUSE),
        wall: Callable[[], float] = time.time,
    ):
        """``pacing`` None: today's steady ``policy`` (a pause that grows while queued).
        ``download_retry_pause``: (first, longest) pause before a failed download attempt is repeated;
        ``wall``: the clock records are dated by (epoch seconds)."""
        self.store, self.policy, self.downloader = store, policy, downloader
        self.pacing, self.budgets = pacing, budgets
        self._retry_pause = download_retry_pause
        self._clock, self._wall = clock, wall
        self._apply = apply
        self._publish = publish

    def poll_turn(self, tracked: Tracked) -> float | None | object:
        """The pause before the next turn, None when the job needs no more work, or DOWNLOAD."""
        record = self.store.get(tracked.job_id)
        if record is None:
            return None  # deleted
        if record.state in (RecordState.QUEUED, RecordState.PROCESSING) or (
            record.state is RecordState.DOWNLOADING and not tracked.polled and self._links_are_old(record)
        ):
            return self._poll(tracked, record)
        if record.needs_download:
            return DOWNLOAD
        if not record.is_in_flight:  # finished (or stopped) elsewhere, e.g. by another process
            self._publish([state_event(record)])
        return None

    def _links_are_old(self, record: JobRecord) -> bool:
        """Akool's links were seen when the record last moved to downloading."""
        seen = next((at for state, at in reversed(record.status_history)
                     if state == RecordState.DOWNLOADING.value), None)
        return seen is None or self._wall() - seen > FRESH_LINKS_SECONDS

    def _poll(self, tracked: Tracked, record: JobRecord) -> float | None | object:
        try:
            job = tracked.client.get_job(record.id)
        except AkoolError as exc:
            if record.state is RecordState.DOWNLOADING:  # only refreshing URLs: download with what we have
                tracked.polled = True
                return DOWNLOAD
            return self._poll_failed(tracked, record, exc)
        tracked.polled = True
        # Akool may report "done" a moment before it lists the four candidates: wait a few polls for
        # them (the rule AkoolClient.wait and the CLI share), then split the grid ourselves.
        job, tracked.candidates_due = hold_for_candidates(job, tracked.candidates_due, self._clock(), self.policy.interval)
        job = lifecycle.normalise_result_shape(job)
        if _news(record, job):  # most polls of a long job say "still running": no store write for them
            try:
                record = self._apply(record.id, lambda rec: lifecycle.observe(rec, job) if rec.is_in_flight else [])
            except RecordNotFound:
                return None
        if record.state is RecordState.FAILED:
            log.info("job %s failed on Akool: code %s, %s", record.id, job.error_code, job.error_message)
        plan = self._plan(tracked, record)
        if plan is not None and (record.state is RecordState.DOWNLOADING or record.is_final):
            self.pacing.finished(plan, self._clock(), succeeded=record.state is not RecordState.FAILED)
        if record.state is RecordState.DOWNLOADING:
            tracked.interval = self.policy.interval
            return DOWNLOAD
        if record.is_final:
            return None
        if plan is not None:
            tracked.interval = self.pacing.next_pause(plan, self._clock(), job.status)
        else:
            tracked.interval = self.policy.next_pause(tracked.interval, job.status)
        return self._until_deadline(tracked, record, tracked.interval)

    def first_pause(self, record: JobRecord, client: object) -> tuple[float, JobPlan | None]:
        """The pause before a new job's first poll (its first planned look, or the policy's interval),
        and its plan (made now, so a callback that comes before the first poll is not missed)."""
        if self.pacing is None:
            return self.policy.interval, None
        plan = self.pacing.plan(record, client, self._clock())  # type: ignore[arg-type]
        return self.pacing.next_pause(plan, self._clock()), plan

    def _plan(self, tracked: Tracked, record: JobRecord) -> JobPlan | None:
        """The job's pacing plan, made on its first turn (None without pacing)."""
        if self.pacing is None:
            return None
        if tracked.plan is None:
            tracked.plan = self.pacing.plan(record, tracked.client, self._clock())
        return tracked.plan

    def _poll_failed(self, tracked: Tracked, record: JobRecord, exc: AkoolError) -> float | None:
        if isinstance(exc, PERMANENT_POLL_ERRORS):
            try:
                self._apply(record.id, lambda rec: lifecycle.fail(rec, exc.user_message, exc.code))
            except RecordNotFound:
                pass
            return None
        if isinstance(exc, RateLimited) and self.budgets is not None:
            # Akool's "too frequent": the whole credential slows down; this job keeps its schedule
            self.budgets.slow_down(tracked.client)
            plan = self._plan(tracked, record)
            pause = self.pacing.next_pause(plan, self._clock()) if plan is not None else tracked.interval
            return self._until_deadline(tracked, record, max(pause, self.policy.interval))
        # transient: network, 5xx after the client's own retries, rate limit, an odd answer
        log.warning("polling job %s failed (%s); will retry", record.id, type(exc).__name__)
        tracked.interval = self.policy.after_error(tracked.interval)
        return self._until_deadline(tracked, record, tracked.interval)

    def _until_deadline(self, tracked: Tracked, record: JobRecord, pause: float) -> float | None:
        left = tracked.started + self.policy.deadline - self._clock()
        if left <= 0:
            self._apply(record.id, lifecycle.time_out)
            log.info("job %s timed out after %.0f s", record.id, self.policy.deadline)
            return None
        return min(pause, left)

    def download_turn(self, tracked: Tracked) -> float | None:
        outcome = self.downloader.turn(tracked.job_id)
        if outcome is Outcome.LOCKED:
            return LOCKED_RETRY_PAUSE  # another process (or thread) is on it
        if outcome is Outcome.GONE:
            return None
        retry: list[bool] = []

        def settle(rec: JobRecord) -> list[JobEvent]:
            events, again = lifecycle.settle_download(rec)
            retry.append(again)
            return events

        try:
            self._apply(tracked.job_id, settle)
        except RecordNotFound:
            return None
        if retry and retry[0]:
            first, longest = self._retry_pause
            tracked.download_pause = min(max(tracked.download_pause * 2, first), longest)
            return tracked.download_pause
        return None
