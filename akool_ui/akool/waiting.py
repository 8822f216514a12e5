"""Waiting for jobs: the client's polling loop (``AkoolClient.wait``, ``wait_for``, ``run``), the shape of
replicate's ``Prediction.wait`` and fal's ``subscribe``: status updates as they come, the result at the end.

Mixed into ``AkoolClient``, which gives it ``get_job`` and ``create_images``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .models import ImageRequest, Job, StatusUpdate, validate_job_id
from .polling import DEFAULT_POLL_POLICY, PollPolicy, final_job, poll_until_done

if TYPE_CHECKING:  # pragma: no cover
    from .client import AkoolClient

__all__ = ["Waiting"]


class Waiting:
    """``AkoolClient``'s methods that poll until a job is done (``self`` is the client)."""

    def wait(
        self: "AkoolClient",
        job_id: str,
        *,
        interval: float | None = None,
        max_interval: float | None = None,
        timeout: float | None = None,
        policy: PollPolicy | None = None,
        on_update: Callable[[StatusUpdate], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Iterator[StatusUpdate]:
        """Poll a job, yielding a ``StatusUpdate`` after every poll, until it is done.

        The last update yielded holds the finished job (succeeded *or* failed: failure is an update,
        not an exception, here). Pauses follow ``policy`` (default ``DEFAULT_POLL_POLICY``; ``interval``,
        ``max_interval`` and ``timeout`` override its fields): they start at ``interval``, grow while the
        job is queued and drop back while it is processing. No pause runs past the deadline: the last
        poll happens at it.

        Raises:
            JobTimedOut: the job is still not done ``timeout`` seconds after the first poll began.
            AkoolError: from ``get_job`` (after its own retries), e.g. ``JobNotFound``.
        """
        policy = (policy or DEFAULT_POLL_POLICY).with_overrides(interval=interval, max_interval=max_interval,
                                                               deadline=timeout)
        return poll_until_done(self.get_job, validate_job_id(job_id), policy, on_update=on_update, sleep=sleep,
                               clock=clock)

    def wait_for(self: "AkoolClient", job_id: str, **wait_kwargs: Any) -> Job:
        """Wait until the job is done and return it; raise ``JobFailed`` if it failed.

        Takes ``wait``'s keyword arguments; raises what ``wait`` raises.
        """
        return final_job(self.wait(job_id, **wait_kwargs))

    def run(
        self: "AkoolClient",
        request: ImageRequest,
        *,
        timeout: float = 600,
        clock: Callable[[], float] = time.monotonic,
        **wait_kwargs: Any,
    ) -> list[Job]:
        """Create the images and wait for all of them (one shared deadline); the finished jobs.

        Raises:
            JobFailed: for the first job that failed (the others may still be running).
            JobTimedOut: the deadline passed first.
        """
        deadline = clock() + timeout
        jobs = self.create_images(request)
        return [
            self.wait_for(job.id, timeout=max(deadline - clock(), 0.0), clock=clock, **wait_kwargs) for job in jobs
        ]
