"""Scheduler: one thread and a heap of "job X is due at T", feeding two bounded worker pools.

A thousand in-flight jobs cost the same threads as one. A job has one live heap entry (its ``due``); a
worker runs one *turn* for it (a poll, or a download) and the turn's answer decides what happens next: a
pause before the next turn, ``None`` (no more work: forget the job) or ``DOWNLOAD`` (run the download turn
on the download pool). A request to run a job "now" while a worker is on it is remembered and honoured
when the turn ends. The thread starts with the first job, not in the constructor.

Before a due job's poll turn runs, ``admit`` (the credential's poll budget) may put it off to a later
slot; the job then runs at that slot without asking again.

Each job is polled by one scheduler only, however many processes (or machines) share the records: taking
a job on takes its lease ``poll/<id>`` (``Leases``), renewed at every turn and given back when the job is
forgotten; a job whose lease someone else holds is theirs, and ``track`` says so by returning False.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:  # pragma: no cover
    from ...akool.client import AkoolClient
    from ..ports import Leases

__all__ = ["Scheduler", "Tracked", "DOWNLOAD", "Turn", "POLL_LEASE_SECONDS"]

log = logging.getLogger(__name__)

# How long a job stays ours without a turn: a holder that dies (and is not seen dead at once) hands its jobs
# over after this long; every turn renews it, and turns come far more often.
POLL_LEASE_SECONDS = 600.0

DOWNLOAD = object()
"""A turn's answer: the job's results are ready to download (on a download worker)."""


@dataclass
class Tracked:
    """A job the scheduler is responsible for (in memory only), with what its turns need."""

    job_id: str
    client: "AkoolClient"
    started: float
    interval: float
    due: float = 0.0
    busy: bool = False
    polled: bool = False
    """Polled at least once since tracking began (result URLs may change across restarts)."""
    candidates_due: float | None = None
    """Until when to wait for candidate URLs after a grid-only "done"."""
    poke: bool = False
    """Asked to run again at once while busy (e.g. by a webhook)."""
    download_pause: float = 0.0
    plan: Any = None
    """The pacing's plan for this job (``pacing.JobPlan``), made by its first turn."""
    admitted: bool = False
    """Holds a slot of its credential's poll budget: the next turn runs without asking again."""
    lease: Any = None
    """Its ``poll/<id>`` lease (``Leases``), while this scheduler is the one that polls it."""


Turn = Callable[[Tracked], Union[float, None, object]]


class Scheduler:
    """Runs ``turn`` (and ``download_turn``) for each tracked job when it is due (thread-safe)."""

    def __init__(
        self, turn: Turn, download_turn: Turn, *, clock: Callable[[], float], poll_workers: int,
        download_workers: int, error_pause: float, admit: Callable[[Tracked], float] | None = None,
        clock_rate: float = 1.0, leases: "Leases | None" = None,
    ):
        """``admit(tracked)``: seconds a due poll turn must wait for its slot (0: run now). ``clock_rate``:
        ``clock`` seconds per wall second (a bench runs the app's clock faster, with the simulator)."""
        self._turn, self._download_turn = turn, download_turn
        self._leases = leases
        self._clock = clock
        self._admit = admit
        self._clock_rate = clock_rate
        self._error_pause = error_pause
        self._lock = threading.Condition()
        self._tracked: dict[str, Tracked] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._polls = ThreadPoolExecutor(poll_workers, thread_name_prefix="akool-poll")
        self._downloads = ThreadPoolExecutor(download_workers, thread_name_prefix="akool-download")
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._tracked)

    def close(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
            thread = self._thread
            leases = [t.lease for t in self._tracked.values() if t.lease is not None]
        for lease in leases:  # resumed by whoever starts next, at once
            lease.release()
        if thread is not None:
            thread.join(timeout=5)
        for pool in (self._polls, self._downloads):
            pool.shutdown(wait=False, cancel_futures=True)

    def track(self, job_id: str, client: "AkoolClient", delay: float, *, interval: float, fresh: bool = False,
              plan: Any = None) -> bool:
        """Run the job's next turn ``delay`` seconds from now with this client (``fresh``: a new deadline;
        ``plan``: the job's pacing plan, if made already). False when another scheduler polls it."""
        with self._lock:
            known = self._tracked.get(job_id)
            tracked = None if fresh else known
            if tracked is None:
                lease = known.lease if known is not None else self._take_lease(job_id)
                if lease is False:
                    return False
                tracked = Tracked(job_id, client, self._clock(), interval, lease=lease)
                self._tracked[job_id] = tracked
            tracked.client = client
            if tracked.plan is None:
                tracked.plan = plan
            self._schedule(tracked, delay)
            return True

    def _take_lease(self, job_id: str) -> Any:
        """The job's poll lease, None without leases, False when someone else holds it."""
        if self._leases is None:
            return None
        lease = self._leases.acquire(f"poll/{job_id}", ttl=POLL_LEASE_SECONDS)
        if lease is None:
            log.info("job %s is polled by another process; not tracked here", job_id)
            return False
        return lease

    def poke(self, job_id: str, *, note: Callable[[Tracked], None] | None = None) -> bool:
        """Run a tracked job's turn now (after ``note(tracked)``); False if the job is not tracked."""
        with self._lock:
            tracked = self._tracked.get(job_id)
            if tracked is not None:
                if note is not None:
                    note(tracked)
                self._schedule(tracked, 0.0)
            return tracked is not None

    def note(self, job_id: str, note: Callable[[Tracked], None]) -> bool:
        """Run ``note(tracked)`` on a tracked job without moving its turn; False if it is not tracked."""
        with self._lock:
            tracked = self._tracked.get(job_id)
            if tracked is not None:
                note(tracked)
            return tracked is not None

    def forget(self, job_id: str) -> None:
        with self._lock:
            tracked = self._tracked.pop(job_id, None)
            if tracked is not None and tracked.lease is not None:
                tracked.lease.release()  # under the lock: a ``track`` right after must find it free

    def is_tracking(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._tracked

    def _schedule(self, tracked: Tracked, delay: float) -> None:
        """Put the job on the heap (the caller holds ``_lock``)."""
        if tracked.busy:
            tracked.poke = tracked.poke or delay <= 0
            return
        tracked.due = self._clock() + max(0.0, delay)
        heapq.heappush(self._heap, (tracked.due, next(self._seq), tracked.job_id))
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name="akool-tracker", daemon=True)
            self._thread.start()
        self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping:
                    now = self._clock()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._lock.wait(timeout=(self._heap[0][0] - now) / self._clock_rate if self._heap else None)
                if self._stopping:
                    return
                due, _, job_id = heapq.heappop(self._heap)
                tracked = self._tracked.get(job_id)
                if tracked is None or tracked.busy or due != tracked.due:
                    continue  # gone, already being worked on, or an outdated heap entry
                if self._admit is not None and not tracked.admitted:
                    wait = self._admit(tracked)
                    if wait > 0:  # its credential's budget is spent for now: wait for its slot
                        tracked.admitted = True
                        self._schedule(tracked, wait)
                        continue
                tracked.admitted = False
                tracked.busy = True
            try:
                self._polls.submit(self._run_turn, tracked, self._turn)
            except RuntimeError:  # pool shut down
                return

    def _run_turn(self, tracked: Tracked, turn: Turn) -> None:
        next_delay: float | None | object = None
        try:
            if tracked.lease is not None and not tracked.lease.renew():
                log.info("job %s lost its poll lease (it expired); another process may poll it now", tracked.job_id)
            next_delay = turn(tracked)
            if next_delay is DOWNLOAD:
                try:
                    self._downloads.submit(self._run_turn, tracked, self._download_turn)
                    return  # still busy: the download turn reschedules
                except RuntimeError:  # shutting down
                    next_delay = None
        except Exception:  # never let one job kill a worker; try again later
            log.exception("tracking job %s failed unexpectedly", tracked.job_id)
            next_delay = self._error_pause
        self._end_turn(tracked, next_delay)  # type: ignore[arg-type]

    def _end_turn(self, tracked: Tracked, next_delay: float | None) -> None:
        """Reschedule the job (at once if poked meanwhile), or forget it when no work is left."""
        with self._lock:
            tracked.busy = False
            poke, tracked.poke = tracked.poke, False
            if self._tracked.get(tracked.job_id) is tracked:
                if next_delay is None and not poke:
                    del self._tracked[tracked.job_id]
                    if tracked.lease is not None:
                        tracked.lease.release()  # under the lock: a ``track`` right after must find it free
                else:
                    self._schedule(tracked, 0.0 if poke else next_delay or 0.0)
