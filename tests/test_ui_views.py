"""What the page says about jobs: status lines, captions, buttons, details (pure functions, no browser)."""

from __future__ import annotations

from pathlib import Path

from akool_ui.jobs import ImageState, JobRecord, RecordState
from akool_ui.ui import views

PARENT = "6650a1b2c3d4e5f6a7b8c9d0"
SIBLING = "6650a1b2c3d4e5f6a7b8c9d1"
CHILD = "6650a1b2c3d4e5f6a7b8c9ff"
REQUEST = {"prompt": "A <b>bold</b> lighthouse", "scale": "16:9", "resolution": "4k", "batch_quantity": 2}


def _record(job_id=PARENT, *, index=0, state=RecordState.PROCESSING, created=1000.0, **kw) -> JobRecord:
    record = JobRecord.create(job_id, "owner-1", request=REQUEST, batch_index=index, now=created, **kw)
    record.set_state(state, at=created + 7.4)
    return record


def _stored(record: JobRecord, n: int, size=(1080, 1080)) -> JobRecord:
    for i in range(n):
        entry = record.image(i)
        entry.original = f"images/{record.id[:2]}/{record.id}/{i}.png"
        entry.preview = f"images/{record.id[:2]}/{record.id}/{i}.preview.webp"
        entry.width, entry.height = size
        entry.state = ImageState.STORED
    return record


def test_status_has_one_line_per_image_with_state_and_elapsed_seconds():
    first = _record(index=0, state=RecordState.QUEUED)
    second = _record(SIBLING, index=1, state=RecordState.PROCESSING)
    lines = views.status_lines([first, second], now=1012.9)
    assert lines == ["○ Image 1: queued · 12 s", "◐ Image 2: processing · 12 s"]


def test_final_states_freeze_the_clock_and_say_what_happened():
    done = _stored(_record(state=RecordState.SUCCEEDED), 4)
    failed = _record(SIBLING, index=1, state=RecordState.FAILED)
    failed.error_message = "Akool could not generate the image. Please try again later."
    lines = views.status_lines([done, failed], now=5000.0)
    assert lines[0] == "✓ Image 1: done · 7 s · 4 images"
    assert lines[1] == "✗ Image 2: failed · 7 s — Akool could not generate the image. Please try again later."
    timed_out = _record(state=RecordState.TIMED_OUT)
    assert "Check again" in views.status_lines([timed_out])[0]
    assert views.status_lines([_record()], now=1125.0) == ["◐ Image: processing · 2 min 05 s"]


def test_status_markdown_escapes_user_text():
    child = _record(CHILD, kind="button", parent_id=PARENT, button="U2")
    text = views.status_markdown([child], now=1001.0)
    assert "<b>" not in text and "&lt;b&gt;" in text  # the prompt names the parent when it is not shown


def test_button_jobs_are_labelled_by_lineage():
    parent = _record(state=RecordState.SUCCEEDED)
    sibling = _record(SIBLING, index=1, state=RecordState.SUCCEEDED)
    child = _record(CHILD, kind="button", parent_id=PARENT, button="U2")
    assert views.record_labels([parent, sibling, child])[CHILD] == "U2 of Image 1"
    assert views.record_labels([parent, child])[CHILD] == "U2 of Image"
    assert views.record_labels([child])[CHILD] == "U2 of “A <b>bold</b> lighthouse”"


def test_gallery_shows_stored_images_with_candidate_number_and_size():
    parent = _stored(_record(state=RecordState.SUCCEEDED), 4)
    child = _stored(_record(CHILD, kind="button", parent_id=PARENT, button="U1", state=RecordState.SUCCEEDED), 1,
                    size=(3840, 2160))
    pending = _record(SIBLING, index=1)
    pending.image(0)  # known, not downloaded: not shown
    items = views.gallery_items([parent, pending, child], lambda rel: Path("/cache") / rel)
    assert [i.caption for i in items] == [
        "Image 1 · #1 · 1080×1080", "Image 1 · #2 · 1080×1080", "Image 1 · #3 · 1080×1080",
        "Image 1 · #4 · 1080×1080", "U1 of Image 1 · 3840×2160",
    ]
    assert items[0].path == Path(f"/cache/images/66/{PARENT}/0.preview.webp")
    assert [(i.job_id, i.index) for i in items][-1] == (CHILD, 0)


def test_buttons_follow_what_akool_offers_and_what_was_used():
    record = _stored(_record(state=RecordState.SUCCEEDED), 4)
    record.buttons = ["U2", "U3", "U4", "V1", "V2", "V3", "V4"]
    record.used_buttons = ["U1"]
    by_name = {b.name: b for b in views.button_views(record, selected_index=1)}
    assert by_name["U1"].used and not by_name["U1"].interactive and by_name["U1"].label == "U1 ✓"
    assert by_name["U2"].interactive and by_name["U2"].highlighted and by_name["V2"].highlighted
    assert not by_name["U3"].highlighted
    assert not any(b.interactive for b in views.button_views(None))
    child = _record(CHILD, kind="button", parent_id=PARENT, button="U1", state=RecordState.SUCCEEDED)
    assert not any(b.interactive for b in views.button_views(child))  # Akool offers none on a U result


def test_details_list_parameters_lineage_and_escape_text():
    parent = _stored(_record(state=RecordState.SUCCEEDED), 1)
    child = _record(CHILD, kind="button", parent_id=PARENT, button="V3", state=RecordState.FAILED)
    child.error_message = "Akool could not generate the image."
    text = views.job_details(child, parent=parent)
    assert text.startswith("**V3** of “A &lt;b&gt;bold&lt;/b&gt; lighthouse”")
    assert "scale: 16:9 · resolution: 4k" in text and CHILD in text
    assert "✗ Akool could not generate the image." in text
    assert views.job_details(None) == ""


def test_history_caption_and_api_summary():
    record = _stored(_record(state=RecordState.SUCCEEDED), 1)
    caption = views.history_caption(record)
    assert caption.startswith("A <b>bold</b> lighthouse · done · ")
    summary = views.job_summary(record)
    assert summary["id"] == PARENT and summary["state"] == "succeeded" and "owner" not in summary
    assert views.first_display_path(record) == f"images/66/{PARENT}/0.preview.webp"


def test_an_unknown_outcome_is_said_without_inviting_a_retry():
    from akool_ui.jobs import lifecycle, wording

    intent = JobRecord.intent("owner-1", request=REQUEST, now=1000.0)
    lifecycle.outcome_unknown(intent, at=1030.0)
    [line] = views.status_lines([intent], now=2000.0)
    assert line.startswith("? Image: outcome unknown · 30 s — Outcome unknown: Akool may have accepted this")
    assert "try again" not in line.lower()
    details = views.job_details(intent)
    assert wording.OUTCOME_UNKNOWN.split(":")[0] in details and "lighthouse" in details
    assert not any(b.interactive for b in views.button_views(intent))  # nothing to press on it
    summary = views.job_summary(intent)
    assert summary["state"] == "unknown" and summary["can_check_again"] is False
    assert "intent_token" not in summary and intent.intent_token not in str(summary)


def test_downloads_that_gave_up_offer_check_again():
    from akool_ui.jobs import MAX_DOWNLOAD_ATTEMPTS, lifecycle

    record = _stored(_record(state=RecordState.DOWNLOADING), 3)
    missing = record.image(3)
    missing.remote_url, missing.state, missing.attempts = "https://cdn.example/3.png", ImageState.ERROR, MAX_DOWNLOAD_ATTEMPTS
    lifecycle.settle_download(record)
    assert record.state is RecordState.SUCCEEDED and record.gave_up_downloads and record.can_check_again
    assert "check again" in views.status_lines([record], now=5000.0)[0]
    assert views.job_summary(record)["can_check_again"] is True
