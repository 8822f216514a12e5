"""Webhook delivery: Akool-style signed and encrypted callbacks, retried with backoff.

For each job with a webhook URL, status 2 is announced, then the final status (3 with the result URL,
or 4). Deliveries for one job are strictly in order; a job is handled by at most one worker at a time.
A delivery succeeds only on HTTP 200 (Akool: "the receiver must answer 200"); anything else, or a
connection error, is retried after ``BACKOFF_SECONDS[i] / speed`` (simulated seconds) and given up
after ``MAX_ATTEMPTS``. Retries are timers on the scheduler, so no worker sleeps.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import requests

from ..akool.webhook import make_webhook_body
from .clock import Clock
from .scheduler import Scheduler

__all__ = ["Delivery", "WebhookSender", "MAX_ATTEMPTS", "BACKOFF_SECONDS"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4  # the first try and three retries
BACKOFF_SECONDS = (1.0, 2.0, 4.0)  # divided by the simulator speed, like every simulated duration
# (connect, read): a receiver that hangs must not hold a worker for long.
TIMEOUT_SECONDS = (2.0, 5.0)
WORKERS = 4


@dataclass(frozen=True)
class Delivery:
    """The next callback a job owes: where, for which status, with what payload and credentials."""

    job_id: str
    status: int
    url: str
    payload: dict[str, Any]
    client_id: str
    client_secret: str


class WebhookSender:
    """Delivers callbacks on a small thread pool.

    ``next_delivery(job_id)`` (from the Simulator) says what the job owes now, or None;
    ``record(job_id, status, delivered)`` tells it the outcome so it is not owed again.
    """

    def __init__(self, clock: Clock, scheduler: Scheduler,
                 next_delivery: Callable[[str], Delivery | None],
                 record: Callable[[str, int, bool], None],
                 speed: Callable[[], float], workers: int = WORKERS):
        self._clock = clock
        self._scheduler = scheduler
        self._next_delivery = next_delivery
        self._record = record
        self._speed = speed
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simulator-webhook")
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._attempts: dict[tuple[str, int], int] = {}
        self._closed = False
        self.stats = {"attempts": 0, "delivered": 0, "failed": 0}

    def kick(self, job_id: str, when: float | None = None) -> None:
        """Look at ``job_id`` at simulated time ``when`` (now if None) and send what it owes."""
        self._scheduler.call_at(self._clock.now() if when is None else when, lambda: self._start(job_id))

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, job_id: str) -> None:
        with self._lock:
            if self._closed:
                return
            if job_id in self._busy:
                self._again.add(job_id)  # the running worker looks again when it finishes
                return
            self._busy.add(job_id)
        try:
            self._pool.submit(self._deliver_all, job_id)
        except RuntimeError:  # pool shut down
            with self._lock:
                self._busy.discard(job_id)

    def _deliver_all(self, job_id: str) -> None:
        try:
            while True:
                delivery = self._next_delivery(job_id)
                if delivery is None:
                    break
                if self._post(delivery):
                    self._finish(delivery, True)
                    continue
                key = (job_id, delivery.status)
                with self._lock:
                    self._attempts[key] = tries = self._attempts.get(key, 0) + 1
                if tries >= MAX_ATTEMPTS:
                    log.warning("webhook for job %s (status %s) given up after %d attempts",
                                job_id, delivery.status, tries)
                    self._finish(delivery, False)
                    continue
                backoff = BACKOFF_SECONDS[min(tries - 1, len(BACKOFF_SECONDS) - 1)] / max(self._speed(), 1e-6)
                self.kick(job_id, self._clock.now() + backoff)
                break
        except Exception:  # never let a worker die silently
            log.exception("webhook delivery for job %s crashed", job_id)
        finally:
            with self._lock:
                self._busy.discard(job_id)
                again = job_id in self._again
                self._again.discard(job_id)
            if again:
                self._start(job_id)

    def _finish(self, delivery: Delivery, delivered: bool) -> None:
        with self._lock:
            self._attempts.pop((delivery.job_id, delivery.status), None)
            self.stats["delivered" if delivered else "failed"] += 1
        self._record(delivery.job_id, delivery.status, delivered)

    def _post(self, delivery: Delivery) -> bool:
        body = make_webhook_body(delivery.payload, delivery.client_id, delivery.client_secret)
        with self._lock:
            self.stats["attempts"] += 1
        try:
            response = requests.post(delivery.url, json=body, timeout=TIMEOUT_SECONDS,
                                          allow_redirects=False)
        except requests.RequestException as exc:
            log.info("webhook for job %s (status %s) failed: %s", delivery.job_id, delivery.status,
                     type(exc).__name__)
            return False
        response.close()
        if response.status_code != 200:
            log.info("webhook for job %s (status %s) answered HTTP %s", delivery.job_id, delivery.status,
                     response.status_code)
        return response.status_code == 200
