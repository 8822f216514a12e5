"""Akool may say "done" a moment before it lists a job's four candidate URLs: the one rule for how long
to wait for them, used by the tracker, ``AkoolClient.wait`` and the CLI.

A finished job that offers U buttons but lists no candidates (only the 2x2 grid in ``image``) is read as
still processing for ``CANDIDATE_GRACE_POLLS`` more poll intervals. If the candidates never come, the grid
is what there is, and its four quarters are the candidates (``grid_as_candidates``).
"""

from __future__ import annotations

from dataclasses import replace

from .models import UPSCALE_BUTTONS, Job, JobStatus

__all__ = ["CANDIDATE_GRACE_POLLS", "awaits_candidates", "hold_for_candidates", "grid_as_candidates"]

CANDIDATE_GRACE_POLLS = 3


def _offers_upscale(job: Job) -> bool:
    return any(b in UPSCALE_BUTTONS for b in job.buttons + job.used_buttons)


def awaits_candidates(job: Job) -> bool:
    """A grid with U buttons but no candidate URLs (yet): Akool may list them a moment after "done"."""
    return not job.candidate_urls and bool(job.image_url) and _offers_upscale(job)


def hold_for_candidates(job: Job, due: float | None, now: float, interval: float) -> tuple[Job, float | None]:
    """``job`` as the waiting rule reads it at ``now``, and until when to wait for its candidates.

    ``due`` is what the previous call returned for this job (None at first). A grid-only "done" reads as
    PROCESSING until ``CANDIDATE_GRACE_POLLS`` poll ``interval``s after it was first seen; then as it is."""
    if job.status is not JobStatus.SUCCEEDED or not awaits_candidates(job):
        return job, due
    if due is None:
        due = now + CANDIDATE_GRACE_POLLS * interval
    if now < due:
        return replace(job, status=JobStatus.PROCESSING), due
    return job, due


def grid_as_candidates(job: Job) -> bool:
    """A finished job whose candidates never came: its one URL is a 2x2 grid to cut into four."""
    return job.status is JobStatus.SUCCEEDED and awaits_candidates(job)
