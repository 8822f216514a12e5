"""The job lifecycle as pure transitions: no clock, no server, no files (jobs/lifecycle.py)."""

from __future__ import annotations

from akool_ui.akool.models import Job, JobStatus
from akool_ui.jobs import ImageState, JobRecord, RecordState, lifecycle, wording
from akool_ui.jobs import events as ev

JOB = "6a" * 12
GRID = "https://cdn.example/grid.jpg"
CANDIDATES = tuple(f"https://cdn.example/{i}.jpg" for i in range(4))
BUTTONS = ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4")


def _record(**kw) -> JobRecord:
    return JobRecord.create(JOB, "owner", request={"prompt": "a fox"}, now=100.0, **kw)


def _job(status: JobStatus, **kw) -> Job:
    return Job(id=JOB, status=status, **kw)


def _kinds(events) -> list[type]:
    return [type(e) for e in events]


def test_a_job_walks_queued_processing_downloading_succeeded_with_one_event_per_change():
    record = _record()
    assert lifecycle.observe(record, _job(JobStatus.QUEUED), at=101) == []  # nothing changed
    assert _kinds(lifecycle.observe(record, _job(JobStatus.PROCESSING), at=102)) == [ev.Processing]
    done = _job(JobStatus.SUCCEEDED, candidate_urls=CANDIDATES, buttons=BUTTONS)
    events = lifecycle.observe(record, done, at=103)
    assert _kinds(events) == [ev.ButtonsChanged, ev.Downloading]
    assert all(e.record is record for e in events)
    assert [e.remote_url for e in record.images] == list(CANDIDATES)
    assert lifecycle.settle_download(record, at=104) == ([], True)  # nothing stored yet: another turn
    for entry in record.images:
        entry.state = ImageState.STORED
    events, again = lifecycle.settle_download(record, at=105)
    assert _kinds(events) == [ev.Succeeded] and not again
    assert [s for s, _ in record.status_history] == ["queued", "processing", "downloading", "succeeded"]


def test_a_failed_job_gets_the_sentence_for_its_code_once():
    record = _record()
    events = lifecycle.observe(record, _job(JobStatus.FAILED, error_code=1108))
    assert _kinds(events) == [ev.Failed]
    assert events[0].message == wording.failed_sentence(1108) and record.error_code == 1108
    assert lifecycle.observe(record, _job(JobStatus.FAILED, error_code=1108)) == []


def test_downloads_that_all_fail_or_expire_end_the_job_with_a_sentence():
    for state, sentence in ((ImageState.EXPIRED, wording.EXPIRED_ALL), (ImageState.ERROR, wording.DOWNLOAD_GAVE_UP)):
        record = _record()
        lifecycle.observe(record, _job(JobStatus.SUCCEEDED, candidate_urls=CANDIDATES[:1]))
        record.images[0].state, record.images[0].attempts = state, 99
        events, again = lifecycle.settle_download(record)
        assert _kinds(events) == [ev.Failed] and not again and record.error_message == sentence


def test_some_images_missing_still_succeeds_and_says_how_many():
    record = _record()
    lifecycle.observe(record, _job(JobStatus.SUCCEEDED, candidate_urls=CANDIDATES[:2]))
    record.images[0].state = ImageState.STORED
    record.images[1].state, record.images[1].attempts = ImageState.ERROR, 99
    events, _ = lifecycle.settle_download(record)
    assert _kinds(events) == [ev.Succeeded] and record.error_message == wording.some_missing(1, 2)


def test_stop_keeps_the_job_and_check_again_resumes_it():
    record = _record()
    lifecycle.observe(record, _job(JobStatus.PROCESSING))
    assert _kinds(lifecycle.stop(record)) == [ev.Stopped]
    assert record.state is RecordState.STOPPED and record.is_final and record.is_resumable
    assert not record.needs_work  # nobody polls it until someone asks
    assert lifecycle.stop(record) == []  # stopping twice changes nothing
    assert _kinds(lifecycle.reopen(record)) == [ev.Processing] and record.needs_work


def test_time_out_only_while_in_flight_and_reopen_gives_failed_downloads_new_attempts():
    record = _record()
    assert _kinds(lifecycle.time_out(record)) == [ev.TimedOut]
    assert lifecycle.time_out(record) == []
    done = _record()
    lifecycle.observe(done, _job(JobStatus.SUCCEEDED, candidate_urls=CANDIDATES[:1]))
    done.images[0].state, done.images[0].attempts = ImageState.ERROR, 99
    lifecycle.settle_download(done)
    assert done.state is RecordState.FAILED
    assert _kinds(lifecycle.reopen(done)) == [ev.Downloading] and done.images[0].attempts == 0


def test_a_pressed_button_is_used_once():
    record = _record()
    lifecycle.observe(record, _job(JobStatus.SUCCEEDED, candidate_urls=CANDIDATES, buttons=BUTTONS))
    assert _kinds(lifecycle.mark_button_used(record, "U1")) == [ev.ButtonsChanged]
    assert "U1" in record.used_buttons and "U1" not in record.buttons and not record.can_press("U1")
    assert lifecycle.mark_button_used(record, "U1") == []


def test_result_shapes_become_one_url_per_image():
    grid = _job(JobStatus.SUCCEEDED, image_url=GRID, buttons=BUTTONS)
    assert lifecycle.awaits_candidates(grid)
    assert lifecycle.normalise_result_shape(grid).result_urls == (GRID,) * 4
    single = _job(JobStatus.SUCCEEDED, image_url=GRID)
    assert lifecycle.normalise_result_shape(single).result_urls == (GRID,)
    nothing_yet = _job(JobStatus.SUCCEEDED)
    assert lifecycle.normalise_result_shape(nothing_yet).status is JobStatus.PROCESSING


def test_every_state_has_words_and_an_event():
    for state in RecordState:
        assert wording.state_phrase(state) and wording.state_icon(state) and state.label
        record = _record(state=state) if state.is_final else _record()
        record.state = state
        assert isinstance(ev.state_event(record), ev.StateChanged)
