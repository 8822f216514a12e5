"""Progress while waiting (``ui/progress.py``): the bar follows the job's phase and the typical duration
learned from finished jobs; placeholders stand for the images still to come."""

from __future__ import annotations

from akool_ui.jobs import RecordState
from akool_ui.ui import progress, views
from tests.test_ui_views import CHILD, PARENT, _record, _stored


def test_the_bar_uses_the_durations_the_poll_schedule_learned():
    from akool_ui.akool.polling import PollPolicy
    from akool_ui.service.runtime.durations import DurationBook
    from akool_ui.service.runtime.pacing import Pacing

    book = DurationBook(None)  # in memory; the app keeps it in the cache (durations.json)
    pacing = Pacing(book, PollPolicy())
    running = _record(state=RecordState.PROCESSING)  # a 4k generation
    prior = pacing.typical_seconds(running, None)
    assert 30.0 <= prior <= 45.0  # Akool's prior until jobs have finished here
    for _ in range(12):
        book.record(pacing.key_for(running, None), 6.0)  # e.g. the demo's quick simulator
    assert pacing.typical_seconds(running, None) == 6.0
    upscale = _record(CHILD, kind="button", parent_id=PARENT, button="U1")
    assert pacing.typical_seconds(upscale, None) != 6.0  # kinds are learned apart
    assert progress.typical_seconds(running, 6.0) == 6.0
    assert progress.typical_seconds(running, None) == 35.0  # no learned figure: Akool's documented time


def test_the_bar_follows_phase_and_time():
    queued = _record(state=RecordState.QUEUED, created=1000.0)
    assert progress.progress_text(queued, 20.0, now=1001.0) == " ▱▱▱▱▱▱▱▱▱▱ about 19 s left"
    processing = _record(state=RecordState.PROCESSING, created=1000.0)
    assert progress.progress_text(processing, 20.0, now=1010.0) == " ▰▰▰▰▰▱▱▱▱▱ about 10 s left"
    assert progress.progress_text(processing, 20.0, now=1030.0).endswith("▰▰▰▰▰▰▰▰▰▱ taking longer than usual")
    assert progress.progress_text(_stored(_record(state=RecordState.SUCCEEDED), 4), 20.0) == ""


def test_placeholders_stand_for_the_images_still_to_come():
    running = _record(state=RecordState.PROCESSING)
    items = views.gallery_items([running], lambda rel: rel, expected=progress.expected_images)
    assert [i.caption for i in items] == [f"Image · #{n} · processing…" for n in range(1, 5)]
    assert all(i.index < 0 for i in items)
    upscale = _record(CHILD, kind="button", parent_id=PARENT, button="U2", state=RecordState.QUEUED)
    assert progress.expected_images(upscale) == 1
    done = _stored(_record(state=RecordState.SUCCEEDED), 4)
    assert all(i.index >= 0 for i in views.gallery_items([done], lambda rel: rel, expected=progress.expected_images))
