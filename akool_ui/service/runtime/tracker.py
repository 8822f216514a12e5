"""JobTracker: owns every in-flight job. One poller per job however many watch it; results go to disk.

One scheduler thread keeps a heap of "job X is due at time T" and hands due jobs to a small, bounded
pool of workers, so a thousand in-flight jobs cost the same threads as one. A worker polls the job once
(``AkoolClient.get_job``), applies what Akool said through ``jobs.lifecycle`` inside a store update,
publishes the events that transition returned (none: nothing changed), and puts the job back on the
heap when ``PollPolicy`` (or, given a ``Pacing``, the schedule learned from past jobs) says. All polls of
one credential share one ``PollBudgets`` budget. When Akool says "done" a download worker runs the
``Downloader`` and the lifecycle settles the job.

Subscribers get a ``Subscription`` of ``jobs.events`` from the ``EventBus`` the tracker publishes to;
records, result files, leases (who polls and downloads a job) and events are the ports it is given
(``service/ports.py``), never made here.

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

from ...akool.client import AkoolClient
from ...akool.errors import JobNotFound
from ...akool.models import validate_job_id
from ...akool.polling import DEFAULT_POLL_POLICY, PollPolicy
from ...jobs import JobRecord, Page, lifecycle
from ...jobs.events import JobEvent
from ..ports import EventBus, JobRecords, Leases, Subscription
from ..results.downloader import Downloader
from ..results.storing import ResultFiles
from .intents import DEFAULT_ANSWER_WAIT, Intents
from .repeats import RepeatGuard
from .settling import DEFAULT_SCHEDULE, Settler
from .pacing import Pacing
from .poll_budget import PollBudgets
from .scheduler import Scheduler
from .turns import JobTurns
from .hearing import WebhookHearing
from .spending import Spending

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


def _poll_budgets(poll_budget: "float | PollBudgets | None", clock: Callable[[], float]) -> PollBudgets | None:
    """The tracker's poll budgets: those given (bootstrap's, sharing slow-downs), or this process's own."""
    if isinstance(poll_budget, PollBudgets):
        return poll_budget
    return PollBudgets(poll_budget, clock=clock) if poll_budget else None


class JobTracker(WebhookHearing, Spending):
    """Polls, downloads and publishes every in-flight job (see the module docstring)."""

    def __init__(
        self,
        store: JobRecords,
        *,
        results: ResultFiles,
        leases: Leases,
        events: EventBus,
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
        poll_budget: float | PollBudgets | None = None,
        clock_rate: float = 1.0,
        answer_wait: float = DEFAULT_ANSWER_WAIT,
        settle_schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
        webhook_grace: float | None = None,
    ):
        """Nothing starts here: the scheduler thread starts with the first job it is given.
        ``download_retry_pause``: (first, longest) pause before a failed download attempt is repeated.
        ``pacing``: place polls by learned durations (None: the steady ``policy``). ``poll_budget``: polls
        per second per credential, or the ``PollBudgets`` to draw on (None: no budget). ``clock_rate``: ``clock`` seconds per wall second.
        ``answer_wait``: seconds a create or press is waited for before "no answer yet" (it is still heard);
        ``settle_schedule``, ``webhook_grace``: the search for an unknown outcome's job (``settling``)."""
        if not (poll_interval > 0 and max_poll_interval >= poll_interval and deadline > 0):
            raise ValueError("need 0 < poll_interval <= max_poll_interval and deadline > 0")
        self.policy = policy or PollPolicy(interval=poll_interval, max_interval=max_poll_interval, deadline=deadline)
        self.store = store
        self.client_for = client_for
        self._clock = clock
        self.results = results
        self.hub = events
        self.leases = leases
        events.on_poke(self.on_poke)  # callbacks another replica heard for the jobs polled here
        # Three bounded pools, so slow downloads never delay a poll: polls, per-job download turns, and
        # the downloader's file fetches (a job's files are fetched in parallel). Threads start on demand.
        fetch_workers = 2 * download_workers
        self._threads = 1 + poll_workers + download_workers + fetch_workers
        self.downloader = Downloader(store, results, leases, self._publish, workers=fetch_workers,
                                     session=download_session)
        self.pacing = pacing
        self.budgets = _poll_budgets(poll_budget, clock)
        self.turns = JobTurns(store, self.policy, self.downloader, clock=clock, apply=self._update, publish=self._publish,
                              pacing=pacing, budgets=self.budgets,
                              **({"download_retry_pause": download_retry_pause} if download_retry_pause else {}))
        self.intents = Intents(store, apply=self._update, publish=self._publish, answer_wait=answer_wait)
        self.repeats = RepeatGuard(store)
        self.settler = Settler(self.intents, schedule=settle_schedule,
                               **({"webhook_grace": webhook_grace} if webhook_grace is not None else {}))
        self.scheduler = Scheduler(
            self.turns.poll_turn, self.turns.download_turn, clock=clock, poll_workers=poll_workers,
            download_workers=download_workers, error_pause=self.policy.max_interval,
            admit=(lambda tracked: self.budgets.reserve(tracked.client)) if self.budgets else None,
            clock_rate=clock_rate, leases=leases,
        )
        self.on_final: list[Callable[[JobRecord], None]] = []
        """Called (in the publishing thread) with each job that reached a final state, before its event is
        published, so a subscriber that sees the event sees what the callbacks did."""

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
        self.settler.close()
        self.scheduler.close()
        self.downloader.close()
        if self.pacing is not None:
            self.pacing.book.close()

    # --- commands (submit, press, refresh_buttons: ``spending``) ---------------------------------------

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
        self.settler.after_restart(self.track, self.client_for)
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

    def adopt_orphans(self) -> int:
        """Track every in-flight job whose poll lease nobody holds (its poller died): how many were taken
        on. The lease decides, so replicas that look at the same moment never both poll a job. An adopted
        job keeps the plan its age gives (its next planned look, at once if that is past), as its first
        poller would have: adopting it costs no extra poll."""
        count = 0
        for record in self.store.in_flight():
            if record.is_intent or self.is_tracking(record.id) or self.leases.held(f"poll/{record.id}"):
                continue
            client = self.client_for(record) if self.client_for else None
            if client is None:
                continue
            delay, plan = self.turns.first_pause(record, client)
            delay = min(delay, self.policy.deadline)
            if self.scheduler.track(record.id, client, delay, interval=self.policy.interval, plan=plan):
                count += 1
        return count

    # --- reading ------------------------------------------------------------------------------------

    def get(self, job_id: str, owner: str) -> JobRecord | None:
        return self.store.get_for_owner(validate_job_id(job_id), owner)

    def history(
        self, owner: str, *, cursor: str | None = None, limit: int = 20, query: str | None = None
    ) -> Page[JobRecord]:
        return self.store.list_jobs(owner, cursor=cursor, limit=limit, query=query)

    def delete(self, job_id: str, owner: str) -> bool:
        """Remove the owner's job from history and its images from the blobs (and stop tracking it)."""
        job_id = validate_job_id(job_id)
        deleted = self.store.delete(job_id, owner)
        if deleted:
            self.scheduler.forget(job_id)
            self.results.remove_job(job_id)
        return deleted

    def is_tracking(self, job_id: str) -> bool:
        return self.scheduler.is_tracking(job_id)

    def stats(self) -> dict[str, int]:
        subscriptions = len(self.hub) if hasattr(self.hub, "__len__") else 0
        return {"tracked": len(self.scheduler), "subscriptions": subscriptions, "threads": self._threads}

    def subscribe(self, job_ids: str | Iterable[str]) -> Subscription:
        """Events of these jobs; the first ones (``Current``) say where each job is now."""
        ids = [validate_job_id(job_ids)] if isinstance(job_ids, str) else [validate_job_id(j) for j in job_ids]
        return self.hub.subscribe(ids, current=self.store.get)

    def _publish(self, events: list[JobEvent]) -> None:
        for record in {e.record.id: e.record for e in events if e.record.is_final}.values():
            for callback in self.on_final:
                try:
                    callback(record)
                except Exception:  # learning a cost must never stop a job's events
                    log.exception("a final-state callback failed for job %s", record.id)
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
