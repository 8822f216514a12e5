"""The rules of a job's life as pure transitions: ``(record, what happened) -> events``.

No threads, disk, clock or HTTP: the tracker polls, downloads and stores, then calls one of these on the
record inside a store update, and publishes the events it returns (none means nothing changed). Tests of
these rules need no server, no files and no waiting.

    create ─► QUEUED ─► PROCESSING ─► DOWNLOADING ─► SUCCEEDED
                 │           │             └──────► FAILED (nothing could be fetched)
                 └───────────┴─► FAILED (Akool) · TIMED_OUT (our deadline) · STOPPED (someone stopped it)
    TIMED_OUT / STOPPED ─(check again)─► PROCESSING
    FAILED / SUCCEEDED with downloads that gave up ─(check again)─► DOWNLOADING (a fresh poll, then fetch)

A write-ahead intent (a create or press recorded before it is sent) is SENDING until the answer comes;
the answer replaces it with the job records; no answer (or a crash) leaves it UNKNOWN until Akool's
callback adopts the jobs or its owner dismisses it:

    SENDING ─(answer)─► the jobs' records ;  SENDING ─(no answer / restart)─► UNKNOWN ─(webhook)─► adopted
"""

from __future__ import annotations

from dataclasses import replace

from ..akool.candidates import awaits_candidates
from ..akool.models import Job, JobStatus
from . import wording
from .events import ButtonsChanged, ImageFailed, ImageReady, JobEvent, state_event
from .record import MAX_IMAGES_PER_JOB, JobRecord
from .states import ImageState, RecordState

__all__ = [
    "observe",
    "set_remote_urls",
    "finish_download",
    "settle_download",
    "reopen",
    "time_out",
    "stop",
    "fail",
    "mark_button_used",
    "unmark_button_used",
    "refresh_buttons",
    "outcome_unknown",
    "search_ended",
    "image_ready",
    "image_failed",
    "normalise_result_shape",
    "awaits_candidates",
    "heard_processing",
]

_AKOOL_TO_STATE = {
    JobStatus.QUEUED: RecordState.QUEUED,
    JobStatus.PROCESSING: RecordState.PROCESSING,
    JobStatus.FAILED: RecordState.FAILED,
}


def _moved(record: JobRecord, state: RecordState, at: float | None) -> list[JobEvent]:
    return [state_event(record)] if record.set_state(state, at=at) else []


def set_remote_urls(record: JobRecord, urls: list[str] | tuple[str, ...]) -> None:
    """Record the result URLs and make one pending entry per URL (stored entries keep their files)."""
    record.remote_urls = [str(u) for u in urls if u]
    for index, url in enumerate(record.remote_urls[:MAX_IMAGES_PER_JOB]):
        entry = record.image(index)
        if entry.remote_url != url:
            entry.remote_url = url
            if entry.state in (ImageState.EXPIRED, ImageState.ERROR):
                entry.state, entry.error, entry.attempts = ImageState.PENDING, None, 0


def observe(record: JobRecord, job: Job, *, at: float | None = None) -> list[JobEvent]:
    """What Akool said about the job (a create answer or a poll), copied into the record.

    A succeeded job moves to DOWNLOADING until every result is stored; a failed one gets the sentence
    for its code (decided here only)."""
    buttons_before = (list(record.buttons), list(record.used_buttons))
    record.buttons = list(job.buttons)
    record.used_buttons = list(job.used_buttons)
    if job.credits is not None:
        record.credits = job.credits
    if job.image_url:
        record.remote_image_url = job.image_url
    if job.result_urls and list(job.result_urls) != record.remote_urls:
        set_remote_urls(record, job.result_urls)
    if job.parent_id and not record.parent_id:
        record.parent_id = job.parent_id
    if job.button and not record.button:
        record.button = job.button
    if not record.request.get("prompt") and job.prompt:
        record.request["prompt"] = job.prompt
    if job.status is JobStatus.SUCCEEDED:
        target = RecordState.SUCCEEDED if record.all_images_stored else RecordState.DOWNLOADING
    else:
        target = _AKOOL_TO_STATE[job.status]
    if job.status is JobStatus.FAILED:
        record.error_code = job.error_code
        record.error_message = wording.failed_sentence(job.error_code)
    events: list[JobEvent] = []
    if (record.buttons, record.used_buttons) != buttons_before:
        events.append(ButtonsChanged(record))
    return events + _moved(record, target, at)


def finish_download(record: JobRecord, *, at: float | None = None) -> list[JobEvent]:
    """DOWNLOADING -> SUCCEEDED once no image needs downloading."""
    if record.state is RecordState.DOWNLOADING and not record.needs_download:
        return _moved(record, RecordState.SUCCEEDED, at)
    return []


def settle_download(record: JobRecord, *, at: float | None = None) -> tuple[list[JobEvent], bool]:
    """After a download turn: finish, fail (nothing could be fetched), or ask for another turn (True)."""
    if record.needs_download:
        return [], True
    if record.state is not RecordState.DOWNLOADING:
        return [], False
    stored = sum(1 for e in record.images if e.is_stored)
    if stored == 0 and record.images:
        expired = all(e.state is ImageState.EXPIRED for e in record.images)
        record.error_message = wording.EXPIRED_ALL if expired else wording.DOWNLOAD_GAVE_UP
        return _moved(record, RecordState.FAILED, at), False
    missing = len(record.images) - stored
    if missing:
        retryable = any(e.state is ImageState.ERROR for e in record.images)
        record.error_message = wording.some_missing(missing, len(record.images), retryable=retryable)
    return finish_download(record, at=at), False


def reopen(record: JobRecord, *, at: float | None = None) -> list[JobEvent]:
    """"Check again": a timed-out or stopped job is polled again; downloads that gave up get new attempts
    (DOWNLOADING, so the next turn asks Akool for fresh URLs first, then fetches what it still holds)."""
    events: list[JobEvent] = []
    if record.state.is_resumable:
        events += _moved(record, RecordState.PROCESSING, at)  # the next poll sets the real state
    gave_up = record.gave_up_downloads
    for entry in record.images:
        if entry.state is ImageState.ERROR:
            entry.attempts = 0
    if gave_up and record.state in (RecordState.FAILED, RecordState.SUCCEEDED):
        record.error_message = None
        events += _moved(record, RecordState.DOWNLOADING, at)
    return events


def time_out(record: JobRecord, *, at: float | None = None) -> list[JobEvent]:
    """Our deadline passed without a result (Akool may still finish it: resumable)."""
    return _moved(record, RecordState.TIMED_OUT, at) if record.is_in_flight else []


def stop(record: JobRecord, *, at: float | None = None) -> list[JobEvent]:
    """Stop watching an unfinished job. Akool has no cancel: the job is kept, and "check again" resumes it."""
    return _moved(record, RecordState.STOPPED, at) if record.is_in_flight else []


def fail(record: JobRecord, message: str, code: int | None, *, at: float | None = None) -> list[JobEvent]:
    """A failure that asking again will not fix (the job is gone or not ours, the key is bad)."""
    record.error_message = message
    record.error_code = code
    return _moved(record, RecordState.FAILED, at)


def mark_button_used(record: JobRecord, button: str) -> list[JobEvent]:
    """A press was accepted: the button is used and no longer offered."""
    before = (list(record.buttons), list(record.used_buttons))
    if button not in record.used_buttons:
        record.used_buttons.append(button)
    if button in record.buttons:
        record.buttons.remove(button)
    return [ButtonsChanged(record)] if (record.buttons, record.used_buttons) != before else []


def unmark_button_used(record: JobRecord, button: str) -> list[JobEvent]:
    """A press Akool surely refused for a reason other than "used" (no job was made): offer it again."""
    if button not in record.used_buttons:
        return []
    record.used_buttons.remove(button)
    if button not in record.buttons:
        record.buttons.append(button)
        record.buttons.sort(key=lambda b: (b[0] != "U", b))
    return [ButtonsChanged(record)]


def refresh_buttons(record: JobRecord, job: Job) -> list[JobEvent]:
    """Akool's current buttons for a finished job (re-read after a refused press); nothing else changes."""
    before = (list(record.buttons), list(record.used_buttons))
    record.used_buttons = list(dict.fromkeys([*job.used_buttons, *record.used_buttons]))
    record.buttons = [b for b in job.buttons if b not in record.used_buttons]
    return [ButtonsChanged(record)] if (record.buttons, record.used_buttons) != before else []


def outcome_unknown(record: JobRecord, *, message: str | None = None, searching: bool = False,
                    at: float | None = None) -> list[JobEvent]:
    """A create or press was sent and no answer came (or the app stopped meanwhile): Akool may have made
    the jobs. Said so (``message``: what happened to the answer), without inviting a retry that would be
    charged twice; ``searching``: the job is being looked for (``service/runtime/settling``)."""
    if record.state is not RecordState.SENDING:
        return []
    record.error_message = message or (
        wording.PRESS_OUTCOME_UNKNOWN if record.kind == "button" else wording.OUTCOME_UNKNOWN)
    if searching:
        record.search = "searching"
    return _moved(record, RecordState.UNKNOWN, at)


def search_ended(record: JobRecord, message: str) -> list[JobEvent]:
    """The search for an unknown outcome's job ended without finding it: said plainly; a repeat of the
    same request is asked about first (``search`` "gave_up")."""
    if not record.is_intent:
        return []
    record.error_message = message
    record.search = "gave_up"
    return [state_event(record)]


def image_ready(record: JobRecord, index: int) -> list[JobEvent]:
    return [ImageReady(record, index)]


def image_failed(record: JobRecord, index: int) -> list[JobEvent]:
    return [ImageFailed(record, index)]


# --- what Akool's answer means (pure functions of a Job) ----------------------------------------------


def normalise_result_shape(job: Job) -> Job:
    """Make every result shape a list of URLs, one per image the person will see.

    Akool returns either four candidates (``upscaled_urls``), or a 2x2 grid in ``image`` with U/V
    buttons but no candidate URLs, or a single image. For the grid we list its URL four times: the
    downloader fetches it once and splits it into the four candidates locally. "Done" without any URL
    yet reads as still processing (Akool fills it shortly)."""
    if job.status is JobStatus.SUCCEEDED and awaits_candidates(job):
        job = replace(job, candidate_urls=(job.image_url,) * 4)
    if job.status is JobStatus.SUCCEEDED and not job.result_urls:
        job = replace(job, status=JobStatus.PROCESSING)
    return job


def heard_processing(record: JobRecord, *, at: float | None = None) -> list[JobEvent]:
    """A callback said Akool started the job: QUEUED -> PROCESSING (nothing else is known yet)."""
    return _moved(record, RecordState.PROCESSING, at) if record.state is RecordState.QUEUED else []
