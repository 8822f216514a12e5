"""Downloader: copies a finished job's results from Akool to the store, in parallel; all Pillow work here.

A download turn takes the job's lease (``download/<id>``: one downloader of a job in any thread, process
or machine), fetches every pending result (a grid URL shared by four entries once, then split locally),
hands each file to ``ResultFiles`` (which checks it and makes the preview), and reports image events as
they land. Failures are recorded on the image entries; the tracker
decides when to try again.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor
from enum import Enum
from typing import Callable

import requests

from ...jobs import JobRecord, lifecycle, wording
from ...jobs.events import JobEvent
from ..ports import JobRecords, Leases, RecordNotFound
from . import downloads, images
from .storing import ResultFiles

__all__ = ["Downloader", "Outcome", "IMAGE_WORK_SLOTS"]

log = logging.getLogger(__name__)

# Checking a result and making its preview is CPU work (tens of ms per 1080p image, more at 4K) and the
# store write follows it: at most this many at once, on threads the OS ranks below the rest, so a burst of
# finishing jobs leaves a core to the event loop that serves pages and quick API calls. Fetches (network
# waits) still run in parallel.
IMAGE_WORK_SLOTS = max(1, (os.cpu_count() or 2) - 1)
# How much lower (``nice``) the fetch threads run than the rest of the process.
FETCH_NICENESS = 5
# Downloading four 4K results takes seconds; a lease older than ten minutes means its holder died (or
# hung) and another may take over.
DOWNLOAD_LEASE_SECONDS = 600.0


def _lower_priority() -> None:
    """Make the calling thread yield the CPU to the server's own threads (Linux: nice is per thread)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + FETCH_NICENESS))
    except (AttributeError, OSError):  # no per-thread priority here: the slot bound still applies
        pass


class Outcome(Enum):
    """How a download turn ended."""

    LOCKED = "locked"  # another thread, process or machine holds the job's download lease
    GONE = "gone"  # the job was deleted
    DONE = "done"  # nothing left to fetch (the record says how it went)


class Downloader:
    """Fetches results for the tracker on a bounded pool of its own (``workers`` file fetches at once)."""

    def __init__(
        self,
        store: JobRecords,
        results: ResultFiles,
        leases: Leases,
        publish: Callable[[list[JobEvent]], None],
        *,
        workers: int,
        session: requests.Session | None = None,
    ):
        self.store = store
        self.results = results
        self.leases = leases
        self._publish = publish
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="akool-fetch", initializer=_lower_priority)
        self._image_slots = threading.BoundedSemaphore(IMAGE_WORK_SLOTS)
        self._owns_session = session is None
        self._http = session or downloads.download_session(workers)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_session:
            self._http.close()

    def turn(self, job_id: str) -> Outcome:
        """Fetch what the job still needs, under its download lease."""
        lease = self.leases.acquire(f"download/{job_id}", ttl=DOWNLOAD_LEASE_SECONDS)
        if lease is None:
            return Outcome.LOCKED
        try:
            record = self.store.get(job_id)  # the lock holder before us may have finished
            if record is None:
                return Outcome.GONE
            pending = [e for e in record.images if e.needs_download]
            if pending:
                self._fetch_all(record, pending)
            return Outcome.DONE
        finally:
            lease.release()

    def _fetch_all(self, record: JobRecord, pending: list) -> None:
        """Download the pending results in parallel; a grid URL shared by four entries is fetched once."""
        by_url: dict[str, list[int]] = {}
        for entry in pending:
            by_url.setdefault(entry.remote_url or "", []).append(entry.index)
        grid_urls = {url for url in by_url if record.remote_urls.count(url) > 1}
        futures = [
            self._pool.submit(self._fetch_one, record.id, url, indexes, url in grid_urls)
            for url, indexes in by_url.items()
        ]
        # Each future's own wait, not concurrent.futures.wait: a fetch still queued when close() cancels it
        # never wakes wait()'s waiter (CPython notifies those only when a worker picks the item up), so the
        # turn, and the interpreter's exit with it, would wait for good. exception() wakes on the cancel.
        errors = []
        for future in futures:
            try:
                error = future.exception()
            except CancelledError:
                continue  # closing: what was not fetched stays pending for the next start
            if error is not None:
                errors.append(error)
        if errors:
            raise errors[0]  # surface unexpected bugs to the tracker's handler

    def _failed(self, job_id: str, indexes: list[int], message: str, *, expired: bool = False) -> None:
        for index in indexes:
            self.results.mark_image_failed(job_id, index, message, expired=expired)
        record = self.store.get(job_id)
        if record is not None:
            self._publish([e for index in indexes for e in lifecycle.image_failed(record, index)])

    def _fetch_one(self, job_id: str, url: str, indexes: list[int], is_grid: bool) -> None:
        if not url:
            self._failed(job_id, indexes, wording.NO_ADDRESS)
            return
        try:
            data = downloads.fetch_result(url, session=self._http)
        except downloads.ResultExpired:
            self._failed(job_id, indexes, wording.EXPIRED_ONE, expired=True)
            return
        except downloads.DownloadFailed as exc:
            log.warning("download of job %s image(s) %s failed: %s", job_id, indexes, exc)
            self._failed(job_id, indexes, wording.DOWNLOAD_RETRYING)
            return
        try:
            with self._image_slots:
                parts = images.split_grid(data) if is_grid else [data]
            for index in indexes:
                with self._image_slots:
                    self.results.store_original(job_id, index, parts[index] if is_grid else data, remote_url=url)
                record = self.store.get(job_id)
                if record is not None:
                    self._publish(lifecycle.image_ready(record, index))
        except images.ImageValidationError as exc:
            log.warning("job %s: downloaded file is not a usable image (%s)", job_id, exc)
            for index in indexes:
                self.results.mark_image_failed(job_id, index, wording.NOT_AN_IMAGE)
        except RecordNotFound:
            pass  # deleted meanwhile
