"""The ``EventBus`` port in one process: the events of some jobs, readable from threads and from asyncio
without a thread each.

The tracker publishes ``jobs.events`` here and the hub pushes each into every subscription of its job; a reader blocks on a condition
(``get``) or awaits an ``asyncio.Event`` set thread-safely (``aget``), so a thousand watching pages cost
no threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Callable, Iterator

from ...jobs import JobRecord
from ...jobs.events import Current, JobEvent

__all__ = ["Subscription", "SubscriptionHub", "LocalEvents"]


class Subscription:
    """The events of some jobs, as they happen. Read with ``get`` / iteration, or ``await aget()``.

    Starts with one ``Current`` event per job, so a late subscriber still sees where each job is; then
    one event per change (``jobs.events``: what changed, and the record after it). Close it (or use
    ``with``) to stop receiving.
    """

    def __init__(self, job_ids: list[str], on_close: Callable[["Subscription"], None]):
        self.job_ids = job_ids
        self._on_close = on_close
        self._cond = threading.Condition()
        self._events: deque[JobEvent] = deque()
        self._latest: dict[str, JobRecord] = {}
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.closed = False

    def push(self, event: JobEvent) -> None:
        """Deliver one event (called by the tracker, from any thread)."""
        record = event.record
        with self._cond:
            if self.closed:
                return
            self._events.append(event)
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
        self._on_close(self)
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


class SubscriptionHub:
    """Who listens to which job: the tracker publishes events here, each reaches that job's subscriptions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}

    def __len__(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def subscribe(self, job_ids: list[str], *, current: Callable[[str], "JobRecord | None"]) -> Subscription:
        """A subscription to ``job_ids``, starting with a ``Current`` event per job ``current`` knows."""
        sub = Subscription(job_ids, self._unsubscribe)
        with self._lock:
            for job_id in job_ids:
                self._subs.setdefault(job_id, set()).add(sub)
        for job_id in job_ids:
            record = current(job_id)
            if record is not None:
                sub.push(Current(record))
        return sub

    def publish(self, events: list[JobEvent]) -> None:
        for event in events:
            with self._lock:
                subs = list(self._subs.get(event.job_id, ()))
            for sub in subs:
                sub.push(event)

    def poke(self, job_id: str, status: int) -> None:
        """No other process hears this hub: the local adapter's jobs are polled where their callbacks land."""

    def on_poke(self, handler: Callable[[str, int], None]) -> None:
        """Never called here (see ``poke``); the shared adapter's ``RedisEvents`` calls it."""

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            for job_id in sub.job_ids:
                subs = self._subs.get(job_id)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[job_id]


LocalEvents = SubscriptionHub
"""The local adapter's name for the hub: events reach the subscriptions of this process."""
