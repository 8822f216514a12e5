"""JobTracker: owns every in-flight job. One poller per job however many watch it; results go to disk.

One scheduler thread keeps a heap of "job X is due at time T" and hands due jobs to a small, bounded
pool of workers, so a thousand in-flight jobs cost the same threads as one. A worker polls the job once
(``AkoolClient.get_job``), applies what Akool said through ``jobs.lifecycle`` inside a store update,
publishes the events that transition returned (none: nothing changed), and puts the job back on the
heap when ``PollPolicy`` (or, given a ``Pacing``, the schedule learned from past jobs) says. All polls of
one credential share one ``PollBudgets`` budget. When Akool says "done" a download worker runs the
``Downloader`` and the lifecycle settles the job.

Subscribers get a ``Subscription`` of ``jobs.events`` (``service/subscriptions.py``).

Credentials never reach the store. The tracker holds each in-flight job's ``AkoolClient`` in memory
only; after a restart it asks ``client_for(record)`` (from the Studio) for one, which has the server's
client for jobs made with server or demo credentials and none for jobs made with a visitor's own key
until that visitor comes back (``resume_owner``).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

import requests

from ..akool.client import AkoolClient
from ..akool.errors import AkoolError, CannotOperate, JobNotFound
from ..akool.models import ImageRequest, validate_button, validate_job_id
from ..akool.polling import DEFAULT_POLL_POLICY, PollPolicy
from ..akool.webhook import WebhookEvent
from ..jobs import JobRecord, Page, RecordState, lifecycle
from ..jobs.events import JobEvent
from .downloader import Downloader
from .intents import Intents
from .pacing import Pacing
from .poll_budget import PollBudgets
from .scheduler import Scheduler, Tracked
from .store import JobStore, RecordNotFound
from .subscriptions import Subscription, SubscriptionHub
from .turns import JobTurns

__all__ = ["JobTracker", "JobEvent", "Subscription", "ClientResolver"]

log = logging.getLogger(__name__)

ClientResolver = Callable[[JobRecord], "AkoolClient | None"]

# Polling defaults: see akool.polling.PollPolicy (the one poll policy of the app and the CLI).
DEFAULT_POLL_INTERVAL = DEFAULT_POLL_POLICY.interval
DEFAULT_MAX_POLL_INTERVAL = DEFAULT_POLL_POLICY.max_interval
DEFAULT_DEADLINE = DEFAULT_POLL_POLICY.deadline
# Threads: polls are short HTTP calls, so eight workers keep hundreds of jobs on schedule; downloads of
# 4K images are heavier, four at a time saturate a typical uplink without starving the polls.
DEFAULT_POLL_WORKERS = 8
DEFAULT_DOWNLOAD_WORKERS = 4
# At start-up, timed-out jobs and downloads that gave up are looked at again while Akool may still hold
# the results (it deletes them after 7 days).
RESUME_WINDOW = 7 * 24 * 3600.0


class JobTracker:
    """Polls, downloads and publishes every in-flight job (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        deadline: float = DEFAULT_DEADLINE,
        policy: PollPolicy | None = None,
        poll_workers: int = DEFAULT_POLL_WORKERS,
        download_workers: int = DEFAULT_DOWNLOAD_WORKERS,
        client_for: ClientResolver | None = None,
        download_session: requests.Session | None = None,
        download_retry_pause: tuple[float, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        pacing: Pacing | None = None,
        poll_budget: float | None = None,
        clock_rate: float = 1.0,
    ):
        """Nothing starts here: the scheduler thread starts with the first job it is given.
        ``download_retry_pause``: (first, longest) pause before a failed download attempt is repeated.
        ``pacing``: place polls by learned durations (None: the steady ``policy``). ``poll_budget``: polls
        per second per credential (None: no budget). ``clock_rate``: ``clock`` seconds per wall second."""
        if not (poll_interval > 0 and max_poll_interval >= poll_interval and deadline > 0):
            raise ValueError("need 0 < poll_interval <= max_poll_interval and deadline > 0")
        self.policy = policy or PollPolicy(interval=poll_interval, max_interval=max_poll_interval, deadline=deadline)
        self.store = store
        self.client_for = client_for
        self._clock = clock
        self.hub = SubscriptionHub()
        # Three bounded pools, so slow downloads never delay a poll: polls, per-job download turns, and
        # the downloader's file fetches (a job's files are fetched in parallel). Threads start on demand.
        fetch_workers = 2 * download_workers
        self._threads = 1 + poll_workers + download_workers + fetch_workers
        self.downloader = Downloader(store, self._publish, workers=fetch_workers, session=download_session)
        self.pacing = pacing
        self.budgets = PollBudgets(poll_budget, clock=clock) if poll_budget else None
        self.turns = JobTurns(store, self.policy, self.downloader, clock=clock, apply=self._update, publish=self._publish,
                              pacing=pacing, budgets=self.budgets,
                              **({"download_retry_pause": download_retry_pause} if download_retry_pause else {}))
        self.intents = Intents(store, apply=self._update, publish=self._publish)
        self.scheduler = Scheduler(
            self.turns.poll_turn, self.turns.download_turn, clock=clock, poll_workers=poll_workers,
            download_workers=download_workers, error_pause=self.policy.max_interval,
            admit=(lambda tracked: self.budgets.reserve(tracked.client)) if self.budgets else None,
            clock_rate=clock_rate,
        )

    @property
    def poll_interval(self) -> float:
        return self.policy.interval

    @property
    def max_poll_interval(self) -> float:
        return self.policy.max_interval

    @property
    def deadline(self) -> float:
        return self.policy.deadline

    def __repr__(self) -> str:
        return f"JobTracker(in_flight={len(self.scheduler)})"

    def close(self) -> None:
        """Stop polling (jobs stay in the store and resume on the next start)."""
        self.scheduler.close()
        self.downloader.close()
        if self.pacing is not None:
            self.pacing.book.close()

    # --- commands ------------------------------------------------------------------------------------

    def submit(
        self, request: ImageRequest, *, client: AkoolClient, owner: str, webhook_url: str | None = None
    ) -> list[JobRecord]:
        """Create the images on Akool (one job per batch item), store a record each, start tracking.

        The request is recorded before it is sent and its jobs the moment the answer arrives (``intents``).

        Raises:
            OutcomeUnknown: no usable answer; Akool may have made the jobs (kept as "outcome unknown").
            AkoolError: from the create call; nothing was made.
        """
        records = self.intents.create(request, owner=owner, webhook_url=webhook_url, send=client.create_images)
        for record in records:
            self.track(record.id, client)
        log.info("submitted %d job(s): %s", len(records), ", ".join(r.id for r in records))
        return records

    def press(
        self, job_id: str, button: str, *, client: AkoolClient, owner: str, webhook_url: str | None = None
    ) -> JobRecord:
        """Press U1-U4 / V1-V4 on the owner's finished job; returns the new child job's record.

        Raises JobNotFound if the job is not the owner's, CannotOperate if the button is not offered or
        already used (checked here first, so no credit is spent on a sure refusal; after Akool's own
        refusal the parent's buttons are re-read), OutcomeUnknown / AkoolError as ``submit``.
        """
        button = validate_button(button)  # a bad button is refused before anything is looked up
        parent = self._owned(job_id, owner)
        try:
            child = self.intents.press(
                parent.id, button, owner=owner, webhook_url=webhook_url,
                send=lambda url: client.press_button(parent.id, button, webhook_url=url),
            )
        except CannotOperate as exc:
            if exc.code is not None:  # Akool's refusal: our copy of the buttons is stale
                self.refresh_buttons(parent.id, client)
            raise
        self.track(child.id, client)
        return child

    def refresh_buttons(self, job_id: str, client: AkoolClient) -> JobRecord | None:
        """Re-read a finished job's buttons from Akool (after a refused press); None if Akool cannot say."""
        try:
            job = client.get_job(job_id)
        except AkoolError as exc:
            log.info("could not re-read the buttons of job %s (%s)", job_id, type(exc).__name__)
            return None
        try:
            return self._update(job_id, lambda rec: lifecycle.refresh_buttons(rec, job))
        except RecordNotFound:
            return None

    def track(self, job_id: str, client: AkoolClient, *, delay: float | None = None) -> None:
        """Start (or keep) polling a stored job with this client (first poll: as planned, or after ``delay``)."""
        job_id = validate_job_id(job_id)
        plan = None
        if delay is None:
            record = self.store.get(job_id) if self.pacing is not None else None
            delay, plan = self.turns.first_pause(record, client) if record is not None else (self.policy.interval, None)
            delay = min(delay, self.policy.deadline)  # the deadline is checked at a poll: one comes by then
        self.scheduler.track(job_id, client, delay, interval=self.policy.interval, plan=plan)

    def check_again(self, job_id: str, *, client: AkoolClient, owner: str) -> JobRecord:
        """Resume a timed-out or stopped job, or retry downloads that gave up: now, with a fresh deadline."""
        record = self._update(self._owned(job_id, owner).id, lifecycle.reopen)
        if not record.needs_work:
            return record  # nothing left to do (e.g. Akool itself failed the job)
        self.scheduler.track(record.id, client, 0.0, interval=self.policy.interval, fresh=True)  # a fresh deadline
        return record

    def stop(self, job_id: str, *, owner: str) -> JobRecord:
        """Stop watching the owner's unfinished job. Akool has no cancel: it is kept, marked stopped,
        and "check again" resumes it (a finished job is returned unchanged)."""
        record = self._owned(job_id, owner)
        self.scheduler.forget(record.id)
        return self._update(record.id, lifecycle.stop)

    def resume_unfinished(self, *, now: float | None = None) -> int:
        """At start-up: settle the intents a previous run left unanswered (``intents``), and track again
        every stored job that still needs polling or downloading, and every job that timed out or whose
        downloads gave up while Akool may still hold its results (``RESUME_WINDOW``), with a fresh deadline.

        Jobs whose credentials are not available yet (a visitor's own key) wait for ``resume_owner``.
        Returns how many jobs were resumed.
        """
        self.intents.settle_after_restart()
        now = time.time() if now is None else now
        count = 0
        for record in self.store.unsettled():
            client = self.client_for(record) if self.client_for else None
            if client is None or record.is_intent:
                continue
            if record.needs_work:
                self.track(record.id, client, delay=0.0)
            elif record.can_check_again and now - record.created_at < RESUME_WINDOW:
                self.check_again(record.id, client=client, owner=record.owner)
            else:
                continue
            count += 1
        if count:
            log.info("resumed %d unfinished job(s)", count)
        return count

    def resume_owner(self, owner: str, client: AkoolClient) -> int:
        """Track the owner's unfinished jobs that nobody is polling (their key came back)."""
        count = 0
        for record in self.store.in_flight():
            if record.owner == owner and not self.is_tracking(record.id):
                self.track(record.id, client, delay=0.0)
                count += 1
        return count

    def on_webhook(self, event: WebhookEvent, *, intent_token: str | None = None) -> bool:
        """A verified Akool callback: poll that job now instead of at its next turn.

        A job this app does not know is adopted if the callback carries the token of one of its intents
        (the create's answer was lost); otherwise returns False. The poll (not the callback) updates the
        record, because only ``infobymodelid`` carries the buttons and candidate URLs.
        """
        try:
            job_id = validate_job_id(event.job_id)
        except AkoolError:
            return False
        if self.pacing is not None and event.status == 2 and self.scheduler.note(job_id, self._heard(event)):
            self._update(job_id, lifecycle.heard_processing)  # nothing to fetch yet: no poll
            return True
        if self.scheduler.poke(job_id, note=self._heard(event)):
            return True
        record = self.store.get(job_id)
        if record is None and intent_token:
            record = self.intents.adopt(job_id, intent_token)
        if record is None:
            return False
        client = self.client_for(record) if self.client_for else None
        if client is not None and (record.needs_work or record.state is RecordState.TIMED_OUT):
            self.track(job_id, client, delay=0.0)
            self.scheduler.note(job_id, self._heard(event, record))  # a callback came: the plan knows
        return True

    def _heard(self, event: WebhookEvent, record: JobRecord | None = None) -> Callable[[Tracked], None]:
        """Tell the job's pacing plan a callback came (so it knows when the job ended); ``record`` makes
        the plan of a job tracked a moment ago (adopted or resumed by this callback)."""
        def note(tracked: Tracked) -> None:
            if self.pacing is None:
                return
            if tracked.plan is None and record is not None:
                tracked.plan = self.pacing.plan(record, tracked.client, self._clock())
            if tracked.plan is not None:
                self.pacing.heard(tracked.plan, self._clock(), event.status)
            else:
                self.pacing.webhooks_trusted = True
        return note

    # --- reading ------------------------------------------------------------------------------------

    def get(self, job_id: str, owner: str) -> JobRecord | None:
        return self.store.get_for_owner(validate_job_id(job_id), owner)

    def history(
        self, owner: str, *, cursor: str | None = None, limit: int = 20, query: str | None = None
    ) -> Page[JobRecord]:
        return self.store.list_jobs(owner, cursor=cursor, limit=limit, query=query)

    def delete(self, job_id: str, owner: str) -> bool:
        """Remove the owner's job from history and disk (and stop tracking it)."""
        job_id = validate_job_id(job_id)
        deleted = self.store.delete(job_id, owner)
        if deleted:
            self.scheduler.forget(job_id)
        return deleted

    def is_tracking(self, job_id: str) -> bool:
        return self.scheduler.is_tracking(job_id)

    def stats(self) -> dict[str, int]:
        return {"tracked": len(self.scheduler), "subscriptions": len(self.hub), "threads": self._threads}

    def subscribe(self, job_ids: str | Iterable[str]) -> Subscription:
        """Events of these jobs; the first ones (``Current``) say where each job is now."""
        ids = [validate_job_id(job_ids)] if isinstance(job_ids, str) else [validate_job_id(j) for j in job_ids]
        return self.hub.subscribe(ids, current=self.store.get)

    def _publish(self, events: list[JobEvent]) -> None:
        self.hub.publish(events)

    def _owned(self, job_id: str, owner: str) -> JobRecord:
        record = self.store.get_for_owner(validate_job_id(job_id), owner)
        if record is None:
            raise JobNotFound(f"no job {job_id} for this owner")
        return record

    def _update(self, job_id: str, transition: Callable[[JobRecord], list[JobEvent]]) -> JobRecord:
        """Apply a lifecycle transition inside a store update, then publish the events it returned."""
        events: list[JobEvent] = []
        record = self.store.update(job_id, lambda rec: events.extend(transition(rec)))
        self._publish(events)
        return record
