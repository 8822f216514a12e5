"""JobTracker: owns every in-flight job. One poller per job however many watch it; results go to disk.

One scheduler thread keeps a heap of "job X is due at time T" and hands due jobs to a small, bounded
pool of workers, so a thousand in-flight jobs cost the same threads as one. A worker polls the job once
(``AkoolClient.get_job``), writes what changed to the ``JobStore``, tells every subscriber, and puts the
job back on the heap: soon while Akool is processing, later and later while it sits in the queue. When
Akool says "done" the same worker downloads every result in parallel (bounded retries, a cross-process
lock), stores original + preview, and only then marks the job succeeded.

Subscribers get a ``Subscription``: a queue of ``JobEvent`` snapshots, readable from threads
(``get``/iteration) and from asyncio (``aget``) without a thread per reader.

Credentials never reach the store. The tracker holds each in-flight job's ``AkoolClient`` in memory
only; after a restart it asks ``client_for(record)`` (from the Studio) for one, which has the server's
client for jobs made with server or demo credentials and none for jobs made with a visitor's own key
until that visitor comes back (``resume_owner``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait as wait_futures
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

import requests

from ..akool.client import AkoolClient
from ..akool.errors import (
    AkoolError,
    AuthError,
    CannotOperate,
    JobFailed,
    JobNotFound,
    PermissionDenied,
    error_for_code,
)
from ..akool.models import UPSCALE_BUTTONS, ImageRequest, Job, JobStatus, validate_button, validate_job_id
from ..akool.webhook import WebhookEvent
from . import downloads, images
from ..jobs import ImageState, JobRecord, Page, RecordState
from .store import JobStore, RecordNotFound

__all__ = ["JobTracker", "JobEvent", "Subscription", "ClientResolver"]

log = logging.getLogger(__name__)

ClientResolver = Callable[[JobRecord], "AkoolClient | None"]

# Polling. Jobs take ~30-50 s on Akool; a first look after 1 s catches fast failures, then while the
# job is queued nothing changes, so the pause grows ×1.5 up to 5 s; while processing we stay at 1 s
# so the page hears "done" promptly.
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_MAX_POLL_INTERVAL = 5.0
QUEUED_BACKOFF = 1.5
# Ten minutes without a result and we stop polling ("timed out"; the user can check again).
DEFAULT_DEADLINE = 600.0
# Threads: polls are short HTTP calls, so eight workers keep hundreds of jobs on schedule; downloads of
# 4K images are heavier, four at a time saturate a typical uplink without starving the polls.
DEFAULT_POLL_WORKERS = 8
DEFAULT_DOWNLOAD_WORKERS = 4
# A download attempt (downloads.fetch_result: a few quick tries) that fails is recorded and repeated
# later, with a growing pause up to this long.
MAX_DOWNLOAD_RETRY_PAUSE = 60.0
# A grid reported done without candidate URLs: poll this many more times for them before splitting.
CANDIDATE_GRACE_POLLS = 3
# Another process holds the job's download lock: look again after this long.
LOCKED_RETRY_PAUSE = 2.0
# Errors that will not go away by asking again: the job is gone or not ours, or the key is bad.
PERMANENT_POLL_ERRORS = (JobNotFound, PermissionDenied, AuthError)


@dataclass(frozen=True)
class JobEvent:
    """One change of one job: the record as it is now (a snapshot; never mutate it)."""

    record: JobRecord

    @property
    def job_id(self) -> str:
        return self.record.id

    @property
    def state(self) -> RecordState:
        return self.record.state


class Subscription:
    """The updates of some jobs, as they happen. Read with ``get`` / iteration, or ``await aget()``.

    Starts with one event per job holding its current record, so a late subscriber still sees where
    each job is. Close it (or use ``with``) to stop receiving.
    """

    def __init__(self, tracker: "JobTracker", job_ids: list[str]):
        self.job_ids = job_ids
        self._tracker = tracker
        self._cond = threading.Condition()
        self._events: deque[JobEvent] = deque()
        self._latest: dict[str, JobRecord] = {}
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.closed = False

    def _push(self, record: JobRecord) -> None:
        with self._cond:
            if self.closed:
                return
            self._events.append(JobEvent(record))
            self._latest[record.id] = record
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that event loop is closed; its reader is gone
                pass

    @property
    def records(self) -> dict[str, JobRecord]:
        """The latest record of each job seen so far."""
        with self._cond:
            return dict(self._latest)

    @property
    def done(self) -> bool:
        """Every job has reached a final state (succeeded, failed or timed out)."""
        with self._cond:
            return len(self._latest) == len(self.job_ids) and all(r.is_final for r in self._latest.values())

    def get(self, timeout: float | None = None) -> JobEvent | None:
        """The next event; None after ``timeout`` seconds without one, or when closed."""
        with self._cond:
            if not self._events and not self.closed:
                self._cond.wait(timeout)
            return self._events.popleft() if self._events else None

    async def aget(self, timeout: float | None = None) -> JobEvent | None:
        """The next event without blocking a thread; None after ``timeout`` seconds, or when closed."""
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        with self._cond:
            if self._events or self.closed:
                return self._events.popleft() if self._events else None
            self._async_waiters.add((loop, flag))
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._cond:
                self._async_waiters.discard((loop, flag))
        with self._cond:
            return self._events.popleft() if self._events else None

    def __iter__(self) -> Iterator[JobEvent]:
        """Events until every job is final (blocking)."""
        while not self.closed:
            event = self.get(timeout=1.0)
            if event is not None:
                yield event
            if self.done and not self._events:
                return

    def close(self) -> None:
        self._tracker._unsubscribe(self)
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Tracked:
    """A job the scheduler is responsible for (in memory only)."""

    job_id: str
    client: AkoolClient
    started: float
    interval: float
    due: float
    busy: bool = False
    polled: bool = False
    """Polled at least once since tracking began (result URLs may change across restarts)."""
    candidates_due: float | None = None
    """Until when to wait for candidate URLs after a grid-only "done"."""
    poke: bool = False
    """Asked to run again at once while busy (e.g. by a webhook)."""
    download_pause: float = 0.0


class JobTracker:
    """Polls, downloads and publishes every in-flight job (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        deadline: float = DEFAULT_DEADLINE,
        poll_workers: int = DEFAULT_POLL_WORKERS,
        download_workers: int = DEFAULT_DOWNLOAD_WORKERS,
        client_for: ClientResolver | None = None,
        download_session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not (poll_interval > 0 and max_poll_interval >= poll_interval and deadline > 0):
            raise ValueError("need 0 < poll_interval <= max_poll_interval and deadline > 0")
        self.store = store
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.deadline = deadline
        self.client_for = client_for
        self._clock = clock
        self._lock = threading.Condition()
        self._tracked: dict[str, _Tracked] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._subs: dict[str, set[Subscription]] = {}
        # Three bounded pools, so slow downloads never delay a poll: polls, per-job download turns,
        # and the file fetches of those turns (a job's files are fetched in parallel).
        fetch_workers = 2 * download_workers
        self._threads = 1 + poll_workers + download_workers + fetch_workers
        self._polls = ThreadPoolExecutor(poll_workers, thread_name_prefix="akool-poll")
        self._downloads = ThreadPoolExecutor(download_workers, thread_name_prefix="akool-download")
        self._fetches = ThreadPoolExecutor(fetch_workers, thread_name_prefix="akool-fetch")
        self._http = download_session or downloads.download_session(fetch_workers)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="akool-tracker", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"JobTracker(in_flight={len(self._tracked)})"

    def close(self) -> None:
        """Stop polling (jobs stay in the store and resume on the next start)."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout=5)
        for pool in (self._polls, self._downloads, self._fetches):
            pool.shutdown(wait=False, cancel_futures=True)

    # --- commands ------------------------------------------------------------------------------------

    def submit(
        self, request: ImageRequest, *, client: AkoolClient, owner: str, webhook_url: str | None = None
    ) -> list[JobRecord]:
        """Create the images on Akool (one job per batch item), store a record each, start tracking.

        Raises AkoolError from the create call; nothing is stored then.
        """
        if webhook_url:
            request = replace(request, webhook_url=webhook_url)
        jobs = client.create_images(request)
        batch_id = uuid.uuid4().hex
        records = []
        for index, job in enumerate(jobs):
            record = JobRecord.create(job.id, owner, request=request, batch_id=batch_id, batch_index=index)
            record.apply_job(job)
            records.append(self.store.put(record))
            self.track(job.id, client)
        log.info("submitted %d job(s): %s", len(records), ", ".join(r.id for r in records))
        return records

    def press(
        self, job_id: str, button: str, *, client: AkoolClient, owner: str, webhook_url: str | None = None
    ) -> JobRecord:
        """Press U1-U4 / V1-V4 on the owner's finished job; returns the new child job's record.

        Raises JobNotFound if the job is not the owner's, CannotOperate if the button is not offered or
        already used (checked here first, so no credit is spent on a sure refusal), AkoolError otherwise.
        """
        job_id = validate_job_id(job_id)
        button = validate_button(button)
        parent = self.store.get_for_owner(job_id, owner)
        if parent is None:
            raise JobNotFound(f"no job {job_id} for this owner")
        if not parent.can_press(button):
            used = button in parent.used_buttons
            raise CannotOperate(
                f"button {button} {'used' if used else 'not offered'} on job {job_id}",
                user_message=f"{button} has already been used on this image."
                if used
                else f"{button} is not available for this image.",
            )
        try:
            child_job = client.press_button(job_id, button, webhook_url=webhook_url)
        except CannotOperate:
            self.track(job_id, client, delay=0.0)  # our copy of the buttons is stale: fetch Akool's
            raise

        def mark_used(rec: JobRecord) -> None:
            if button not in rec.used_buttons:
                rec.used_buttons.append(button)
            if button in rec.buttons:
                rec.buttons.remove(button)

        parent = self.store.update(job_id, mark_used)
        self._publish(parent)
        request = dict(parent.request, batch_quantity=1)
        child = JobRecord.create(
            child_job.id, owner, kind="button", request=request, parent_id=job_id, button=button
        )
        child.apply_job(child_job)
        child = self.store.put(child)
        self.track(child.id, client)
        return child

    def track(self, job_id: str, client: AkoolClient, *, delay: float | None = None) -> None:
        """Start (or keep) polling a stored job with this client."""
        job_id = validate_job_id(job_id)
        now = self._clock()
        with self._lock:
            tracked = self._tracked.get(job_id)
            if tracked is None:
                tracked = _Tracked(job_id, client, now, self.poll_interval, 0.0)
                self._tracked[job_id] = tracked
            tracked.client = client
            self._schedule(tracked, self.poll_interval if delay is None else delay)

    def check_again(self, job_id: str, *, client: AkoolClient, owner: str) -> JobRecord:
        """Resume a timed-out job, or retry downloads that gave up: work on it now, with a fresh deadline."""
        record = self.store.get_for_owner(validate_job_id(job_id), owner)
        if record is None:
            raise JobNotFound(f"no job {job_id} for this owner")

        def reopen(rec: JobRecord) -> None:
            if rec.state is RecordState.TIMED_OUT:
                rec.set_state(RecordState.PROCESSING)  # the next poll sets the real state
            for entry in rec.images:
                if entry.state is ImageState.ERROR:
                    entry.attempts = 0
            if rec.state is RecordState.FAILED and any(e.needs_download for e in rec.images):
                rec.error_message = None
                rec.set_state(RecordState.DOWNLOADING)

        record = self.store.update(record.id, reopen)
        if not record.needs_work:
            return record  # nothing left to do (e.g. Akool itself failed the job)
        self._publish(record)
        with self._lock:
            self._tracked.pop(record.id, None)  # a fresh deadline
        self.track(record.id, client, delay=0.0)
        return record

    def resume_unfinished(self) -> int:
        """Track again every stored job that still needs polling or downloading (call at start-up).

        Jobs whose credentials are not available yet (a visitor's own key) wait for ``resume_owner``.
        Returns how many jobs were resumed.
        """
        count = 0
        for record in self.store.in_flight():
            client = self.client_for(record) if self.client_for else None
            if client is not None:
                self.track(record.id, client, delay=0.0)
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

    def on_webhook(self, event: WebhookEvent) -> bool:
        """A verified Akool callback: poll that job now instead of at its next turn.

        Returns False for jobs this app does not know. The poll (not the callback) updates the record,
        because only ``infobymodelid`` carries the buttons and candidate URLs.
        """
        try:
            job_id = validate_job_id(event.job_id)
        except AkoolError:
            return False
        with self._lock:
            tracked = self._tracked.get(job_id)
            if tracked is not None:
                self._schedule(tracked, 0.0)
                return True
        record = self.store.get(job_id)
        if record is None:
            return False
        client = self.client_for(record) if self.client_for else None
        if client is not None and (record.needs_work or record.state is RecordState.TIMED_OUT):
            self.track(job_id, client, delay=0.0)
        return True

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
            with self._lock:
                self._tracked.pop(job_id, None)
        return deleted

    def is_tracking(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._tracked

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "tracked": len(self._tracked),
                "subscriptions": sum(len(s) for s in self._subs.values()),
                "threads": self._threads,
            }

    def subscribe(self, job_ids: str | Iterable[str]) -> Subscription:
        """Updates for these jobs; the first events are their current records."""
        ids = [validate_job_id(job_ids)] if isinstance(job_ids, str) else [validate_job_id(j) for j in job_ids]
        sub = Subscription(self, ids)
        with self._lock:
            for job_id in ids:
                self._subs.setdefault(job_id, set()).add(sub)
        for job_id in ids:
            record = self.store.get(job_id)
            if record is not None:
                sub._push(record)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            for job_id in sub.job_ids:
                subs = self._subs.get(job_id)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[job_id]

    def _publish(self, record: JobRecord) -> None:
        with self._lock:
            subs = list(self._subs.get(record.id, ()))
        for sub in subs:
            sub._push(record)

    # --- the scheduler ---------------------------------------------------------------------------------

    def _schedule(self, tracked: _Tracked, delay: float) -> None:
        """Put the job on the heap (the caller holds ``_lock``). A job has one live heap entry: its due.

        While a worker is on the job, a request to run "now" is remembered and honoured when it ends."""
        if tracked.busy:
            tracked.poke = tracked.poke or delay <= 0
            return
        tracked.due = self._clock() + max(0.0, delay)
        heapq.heappush(self._heap, (tracked.due, next(self._seq), tracked.job_id))
        self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping:
                    now = self._clock()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._lock.wait(timeout=(self._heap[0][0] - now) if self._heap else None)
                if self._stopping:
                    return
                due, _, job_id = heapq.heappop(self._heap)
                tracked = self._tracked.get(job_id)
                if tracked is None or tracked.busy or due != tracked.due:
                    continue  # gone, already being worked on, or an outdated heap entry
                tracked.busy = True
            try:
                self._polls.submit(self._work, tracked)
            except RuntimeError:  # pool shut down
                return

    def _work(self, tracked: _Tracked) -> None:
        """One turn for one job on a poll worker: poll, then reschedule, forget, or hand off a download."""
        self._run_turn(tracked, self._turn)

    def _work_download(self, tracked: _Tracked) -> None:
        """A download turn on a download worker."""
        self._run_turn(tracked, self._download_turn)

    def _run_turn(self, tracked: _Tracked, turn: Callable[[_Tracked], "float | None | object"]) -> None:
        next_delay: float | None | object = None
        try:
            next_delay = turn(tracked)
            if next_delay is _DOWNLOAD:
                try:
                    self._downloads.submit(self._work_download, tracked)
                    return  # still busy: the download turn reschedules
                except RuntimeError:  # shutting down
                    next_delay = None
        except Exception:  # never let one job kill a worker; try again later
            log.exception("tracking job %s failed unexpectedly", tracked.job_id)
            next_delay = self.max_poll_interval
        self._end_turn(tracked, next_delay)  # type: ignore[arg-type]

    def _end_turn(self, tracked: _Tracked, next_delay: float | None) -> None:
        """Reschedule the job (at once if poked meanwhile), or forget it when no work is left."""
        with self._lock:
            tracked.busy = False
            poke, tracked.poke = tracked.poke, False
            if self._tracked.get(tracked.job_id) is tracked:
                if next_delay is None and not poke:
                    del self._tracked[tracked.job_id]
                else:
                    self._schedule(tracked, 0.0 if poke else next_delay or 0.0)

    def _turn(self, tracked: _Tracked) -> float | None | object:
        """The pause before the next turn, None when the job needs no more work, or _DOWNLOAD."""
        record = self.store.get(tracked.job_id)
        if record is None:
            return None  # deleted
        if record.state in (RecordState.QUEUED, RecordState.PROCESSING) or (
            record.state is RecordState.DOWNLOADING and not tracked.polled
        ):
            return self._poll(tracked, record)
        if record.needs_download:
            return _DOWNLOAD
        self._publish(record)  # finished by another process sharing the store: tell our subscribers
        return None

    def _poll(self, tracked: _Tracked, record: JobRecord) -> float | None | object:
        try:
            job = tracked.client.get_job(record.id)
        except AkoolError as exc:
            if record.state is RecordState.DOWNLOADING:  # only refreshing URLs: download with what we have
                tracked.polled = True
                return _DOWNLOAD
            return self._poll_failed(tracked, record, exc)
        tracked.polled = True
        if job.status is JobStatus.SUCCEEDED and _awaits_candidates(job):
            # Akool may report "done" a moment before it lists the four candidates: wait a few polls
            # for them, then fall back to splitting the grid ourselves.
            if tracked.candidates_due is None:
                tracked.candidates_due = self._clock() + CANDIDATE_GRACE_POLLS * self.poll_interval
            if self._clock() < tracked.candidates_due:
                job = replace(job, status=JobStatus.PROCESSING)
        job = _normalise_result_shape(job)
        if job.status is JobStatus.SUCCEEDED and not job.result_urls:
            job = replace(job, status=JobStatus.PROCESSING)  # done but no URL yet: Akool fills it shortly
        changed = False

        def apply(rec: JobRecord) -> None:
            nonlocal changed
            before = rec.to_json()
            rec.apply_job(job)
            if job.status is JobStatus.FAILED:
                # Akool's own text is technical; the page gets the sentence for its code.
                rec.error_message = (
                    error_for_code(job.error_code).default_user_message if job.error_code else JobFailed.default_user_message
                )
            changed = rec.to_json() != before

        record = self.store.update(record.id, apply)
        if changed:
            self._publish(record)
            if record.state is RecordState.FAILED:
                log.info("job %s failed on Akool: code %s, %s", record.id, job.error_code, job.error_message)
        if record.state is RecordState.DOWNLOADING:
            tracked.interval = self.poll_interval
            return _DOWNLOAD
        if record.is_final:
            return None
        if record.state is RecordState.QUEUED:
            tracked.interval = min(tracked.interval * QUEUED_BACKOFF, self.max_poll_interval)
        else:
            tracked.interval = self.poll_interval
        return self._until_deadline(tracked, record, tracked.interval)

    def _poll_failed(self, tracked: _Tracked, record: JobRecord, exc: AkoolError) -> float | None:
        if isinstance(exc, PERMANENT_POLL_ERRORS):
            self._fail(record.id, exc.user_message, exc.code)
            return None
        # transient: network, 5xx after the client's own retries, rate limit, an odd answer
        log.warning("polling job %s failed (%s); will retry", record.id, type(exc).__name__)
        tracked.interval = min(tracked.interval * 2, self.max_poll_interval)
        return self._until_deadline(tracked, record, tracked.interval)

    def _until_deadline(self, tracked: _Tracked, record: JobRecord, pause: float) -> float | None:
        left = tracked.started + self.deadline - self._clock()
        if left <= 0:
            timed_out = self.store.update(record.id, lambda r: r.set_state(RecordState.TIMED_OUT) and None)
            self._publish(timed_out)
            log.info("job %s timed out after %.0f s", record.id, self.deadline)
            return None
        return min(pause, left)

    def _fail(self, job_id: str, message: str, code: int | None) -> None:
        def apply(rec: JobRecord) -> None:
            rec.error_message = message
            rec.error_code = code
            rec.set_state(RecordState.FAILED)

        try:
            self._publish(self.store.update(job_id, apply))
        except RecordNotFound:
            pass

    # --- downloads -------------------------------------------------------------------------------------

    def _download_turn(self, tracked: _Tracked) -> float | None:
        lock = self.store.download_lock(tracked.job_id)
        if not lock.acquire(blocking=False):
            return LOCKED_RETRY_PAUSE  # another process (or thread) is on it
        try:
            record = self.store.get(tracked.job_id)  # the lock holder before us may have finished
            if record is None:
                return None
            pending = [e for e in record.images if e.needs_download]
            if pending:
                self._fetch_all(record, pending)
            return self._after_download(tracked, record.id)
        finally:
            lock.release()

    def _fetch_all(self, record: JobRecord, pending: list) -> None:
        """Download the pending results in parallel; a grid URL shared by four entries is fetched once."""
        by_url: dict[str, list[int]] = {}
        for entry in pending:
            by_url.setdefault(entry.remote_url or "", []).append(entry.index)
        grid_urls = {url for url in by_url if record.remote_urls.count(url) > 1}
        futures = [
            self._fetches.submit(self._fetch_one, record.id, url, indexes, url in grid_urls)
            for url, indexes in by_url.items()
        ]
        wait_futures(futures)
        for future in futures:
            future.result()  # surface unexpected bugs to _work's handler

    def _fetch_one(self, job_id: str, url: str, indexes: list[int], is_grid: bool) -> None:
        if not url:
            for index in indexes:
                self.store.mark_image_failed(job_id, index, "Akool gave no address for this image.")
            return
        try:
            data = downloads.fetch_result(url, session=self._http)
        except downloads.ResultExpired:
            for index in indexes:
                self.store.mark_image_failed(
                    job_id, index, "Akool no longer has this image (its copies expire after 7 days).", expired=True
                )
            self._publish_current(job_id)
            return
        except downloads.DownloadFailed as exc:
            log.warning("download of job %s image(s) %s failed: %s", job_id, indexes, exc)
            for index in indexes:
                self.store.mark_image_failed(job_id, index, "The image could not be downloaded; retrying.")
            self._publish_current(job_id)
            return
        try:
            parts = images.split_grid(data) if is_grid else [data]
            for index in indexes:
                part = parts[index] if is_grid else data
                self.store.store_original(job_id, index, part, remote_url=url)
                self._publish_current(job_id)
        except images.ImageValidationError as exc:
            log.warning("job %s: downloaded file is not a usable image (%s)", job_id, exc)
            for index in indexes:
                self.store.mark_image_failed(job_id, index, "Akool sent a file that is not a valid image; retrying.")
        except RecordNotFound:
            pass  # deleted meanwhile

    def _publish_current(self, job_id: str) -> None:
        record = self.store.get(job_id)
        if record is not None:
            self._publish(record)

    def _after_download(self, tracked: _Tracked, job_id: str) -> float | None:
        outcome: dict[str, bool] = {}

        def settle(rec: JobRecord) -> None:
            if rec.needs_download:
                outcome["retry"] = True
                return
            stored = sum(1 for e in rec.images if e.is_stored)
            if rec.state is RecordState.DOWNLOADING and stored == 0 and rec.images:
                expired = all(e.state is ImageState.EXPIRED for e in rec.images)
                rec.error_message = (
                    "Akool no longer has these images (its copies expire after 7 days)."
                    if expired
                    else "The images could not be downloaded from Akool. Use “check again” to retry."
                )
                rec.set_state(RecordState.FAILED)
            elif rec.state is RecordState.DOWNLOADING:
                missing = len(rec.images) - stored
                if missing:
                    rec.error_message = f"{missing} of {len(rec.images)} images could not be downloaded."
                rec.finish_download()

        try:
            record = self.store.update(job_id, settle)
        except RecordNotFound:
            return None
        self._publish(record)
        if outcome.get("retry"):
            tracked.download_pause = min(max(tracked.download_pause * 2, 2.0), MAX_DOWNLOAD_RETRY_PAUSE)
            return tracked.download_pause
        return None


_DOWNLOAD = object()
"""Returned by a poll turn: the job's results are ready to download (on a download worker)."""


def _awaits_candidates(job: Job) -> bool:
    """A grid with U buttons but no candidate URLs (yet)."""
    return not job.candidate_urls and bool(job.image_url) and _offers_upscale(job)


def _offers_upscale(job: Job) -> bool:
    return any(b in UPSCALE_BUTTONS for b in job.buttons + job.used_buttons)


def _normalise_result_shape(job: Job) -> Job:
    """Make every result shape a list of URLs, one per image the person will see.

    Akool returns either four candidates (``upscaled_urls``), or a 2x2 grid in ``image`` with U/V
    buttons but no candidate URLs, or a single image. For the grid we list its URL four times: the
    downloader fetches it once and splits it into the four candidates locally.
    """
    if job.status is not JobStatus.SUCCEEDED or job.candidate_urls or not job.image_url:
        return job
    if _offers_upscale(job):  # U buttons: it is a grid of four
        return replace(job, candidate_urls=(job.image_url,) * 4)
    return job
