"""Progress while waiting (``ui/progress.py``): the bar follows the job's phase and the typical duration
learned from finished jobs; placeholders stand for the images still to come."""

from __future__ import annotations

from akool_ui.jobs import RecordState
from akool_ui.ui import progress, views
from tests.test_ui_views import CHILD, PARENT, _record, _stored


def test_the_typical_duration_is_learned_per_kind_from_finished_jobs():
    durations = progress.Durations()
    running = _record(state=RecordState.PROCESSING)
    assert durations.typical(running) == 35.0  # Akool's documented time until one has finished here
    for n, seconds in enumerate((10.0, 12.0, 50.0)):
        done = _record(f"{PARENT[:-2]}{n:02d}", state=RecordState.SUCCEEDED, created=1000.0)
        done.finished_at = 1000.0 + seconds
        durations.learn([done, done])  # seen twice: counted once
    assert durations.typical(running) == 12.0
    assert durations.typical(_record(CHILD, kind="button", parent_id=PARENT, button="U1")) == 45.0


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
