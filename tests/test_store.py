"""JobStore and JobRecord on a real cache directory: records, history pages, owners, files, limits."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import stat
import time

import diskcache
import pytest
from PIL import Image

from akool_ui.akool.errors import InvalidRequest
from akool_ui.akool.models import ImageRequest, Job, JobStatus
from akool_ui.service.results.images import ImageValidationError
from akool_ui.jobs import (
    MAX_DOWNLOAD_ATTEMPTS,
    SCHEMA_VERSION,
    ImageEntry,
    ImageState,
    JobRecord,
    Page,
    RecordError,
    RecordState,
    lifecycle,
    paginate,
)
from akool_ui.adapters.local.store import JobStore, OwnerMismatch, RecordNotFound
from akool_ui.settings import Settings
from akool_ui.service.results.storing import SizeLimits
from tests.store_helpers import StoreWithFiles, tracker_on

ALICE = "owner-alice-hmac-0001"
BOB = "owner-bob-hmac-0002"


def jid(n: int) -> str:
    """A valid 24-hex job id; n orders them."""
    return f"{n:024x}"


def png(size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def noise_png(size=(64, 64), seed=0) -> bytes:
    """Incompressible PNG: every one made here has the same byte size, so limits are predictable."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def make(store: JobStore, n: int, owner: str = ALICE, *, prompt: str = "a red fox", created: float | None = None,
         state: RecordState = RecordState.QUEUED, **kw) -> JobRecord:
    record = JobRecord.create(jid(n), owner, request={"prompt": prompt}, now=created if created is not None else 1000.0 + n,
                              state=state, **kw)
    return store.put(record)


@pytest.fixture()
def store(tmp_path):
    with StoreWithFiles(tmp_path / "cache") as s:
        yield s


def full_record() -> JobRecord:
    request = ImageRequest(prompt="A lighthouse at dusk", negative_prompt="people", scale="16:9", batch_quantity=2,
                           source_images=["https://example.com/src.png"], similar=0.7)
    record = JobRecord.create(jid(1), ALICE, request=request, batch_id="b-1", batch_index=1, now=100.0)
    record.set_state(RecordState.PROCESSING, at=110.0)
    record.set_state(RecordState.DOWNLOADING, at=130.0)
    record.remote_image_url = "https://cdn.example.com/grid.png"
    lifecycle.set_remote_urls(record, ["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"])
    entry = record.image(0)
    entry.state, entry.original, entry.preview = ImageState.STORED, f"images/00/{jid(1)}/0.png", f"images/00/{jid(1)}/0.preview.webp"
    entry.width, entry.height, entry.nbytes, entry.attempts = 1024, 576, 12345, 1
    record.image(1).state = ImageState.ERROR
    record.image(1).error = "The download failed."
    record.buttons = ["U1", "U2", "V1", "V2"]
    record.used_buttons = ["U2"]
    record.credits = 2
    return record


# --- records -----------------------------------------------------------------------------------------


def test_record_round_trips_through_json_and_the_store(store):
    record = full_record()

    assert JobRecord.from_json(record.to_json()) == record
    assert JobRecord.from_json(record.dumps()) == record
    assert record.to_json()["v"] == SCHEMA_VERSION == 1
    assert record.request == {
        "prompt": "A lighthouse at dusk", "negative_prompt": "people", "scale": "16:9", "resolution": "1080p",
        "batch_quantity": 2, "source_images": ["https://example.com/src.png"], "similar": 0.7,
    }

    store.put(record)
    again = store.get(jid(1))
    assert again == record
    assert again.status_history == [("queued", 100.0), ("processing", 110.0), ("downloading", 130.0)]
    assert again.images[0].width == 1024 and again.images[1].state is ImageState.ERROR


def test_owner_is_kept_out_of_the_repr():
    assert ALICE not in repr(full_record())


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": None},
        {"v": True},
        {"id": "not-an-id"},
        {"id": None},
        {"owner": ""},
        {"owner": 5},
        {"kind": "mystery"},
        {"state": "Exploded!"},  # not even shaped like a state name
        {"state": 7},
        {"created_at": "yesterday"},
        {"created_at": float("inf")},
        {"status_history": [["queued"]]},
        {"status_history": [["Weird!", 1.0]]},  # not shaped like a state name
        {"images": "none"},
        {"images": [{"index": 0, "original": "../../../etc/passwd"}]},
        {"images": [{"index": 0, "original": f"images/00/{jid(2)}/0.png"}]},  # another job's folder
        {"images": [{"index": 1, "original": f"images/00/{jid(1)}/0.png"}]},  # another index
        {"images": [{"index": 0, "preview": f"images/00/{jid(1)}/0.png"}]},  # preview must be webp
        {"images": [{"index": 0}, {"index": 0}]},
        {"images": [{"index": 99}]},
        {"request": ["prompt"]},
        {"buttons": "U1"},
        {"error_code": "1108"},
        {"credits": -1},
    ],
)
def test_from_json_refuses_malformed_or_foreign_data(change):
    data = full_record().to_json()
    data.update(change)
    with pytest.raises(RecordError):
        JobRecord.from_json(data)


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "null", json.dumps({"v": 1})])
def test_from_json_refuses_non_records(raw):
    with pytest.raises(RecordError):
        JobRecord.from_json(raw)


def test_state_history_appends_only_on_change_and_tracks_completion():
    record = JobRecord.create(jid(3), ALICE, now=10.0)
    assert record.is_in_flight and not record.is_final and record.finished_at is None

    assert record.set_state(RecordState.PROCESSING, at=12.0)
    assert not record.set_state(RecordState.PROCESSING, at=13.0)
    assert record.set_state(RecordState.TIMED_OUT, at=40.0)

    assert record.status_history == [("queued", 10.0), ("processing", 12.0), ("timed_out", 40.0)]
    assert record.is_final and record.is_resumable and not record.is_in_flight
    assert record.finished_at == 40.0 and record.elapsed() == 30.0
    record.set_state(RecordState.PROCESSING, at=50.0)  # resumed
    assert record.finished_at is None and record.elapsed(now=70.0) == 60.0


def test_lineage_label_and_button_helpers():
    child = JobRecord.create(jid(4), ALICE, kind="button", parent_id="6650A1B2" + "0" * 8 + "A7B8C9D0", button="U2")
    assert child.parent_id == "6650a1b2" + "0" * 8 + "a7b8c9d0"
    assert child.lineage_label == "U2 of …a7b8c9d0"
    assert JobRecord.create(jid(5), ALICE).lineage_label == ""
    child.buttons, child.used_buttons = ["U1", "U2"], ["U2"]
    assert child.can_press("U1") and not child.can_press("U2") and not child.can_press("V1")
    with pytest.raises(ValueError):
        JobRecord.create(jid(6), ALICE, kind="other")
    with pytest.raises(ValueError):
        JobRecord.create(jid(6), ALICE, kind="button", parent_id=jid(5))
    with pytest.raises(InvalidRequest):
        JobRecord.create(jid(6), ALICE, kind="button", parent_id=jid(5), button="X9")
    assert JobRecord.create(jid(6), ALICE, kind="button", parent_id=jid(5), button="v3").button == "V3"
    with pytest.raises(InvalidRequest):
        JobRecord.create("../etc", ALICE)


def test_observe_moves_through_downloading_to_succeeded():
    record = JobRecord.create(jid(7), ALICE, now=0.0)
    processing = Job(id=jid(7), status=JobStatus.PROCESSING)
    done = Job(id=jid(7), status=JobStatus.SUCCEEDED, image_url="https://cdn/x.png",
               candidate_urls=("https://cdn/1.png", "https://cdn/2.png"), buttons=("U1", "V1"), credits=3)

    assert lifecycle.observe(record, processing, at=1.0) and record.state is RecordState.PROCESSING
    assert not record.needs_download
    assert lifecycle.observe(record, done, at=2.0)

    assert record.state is RecordState.DOWNLOADING and record.needs_work and record.needs_download
    assert record.remote_urls == ["https://cdn/1.png", "https://cdn/2.png"]
    assert [(e.index, e.remote_url, e.state) for e in record.images] == [
        (0, "https://cdn/1.png", ImageState.PENDING), (1, "https://cdn/2.png", ImageState.PENDING)]
    assert record.buttons == ["U1", "V1"] and record.credits == 3 and record.remote_image_url == "https://cdn/x.png"
    assert not lifecycle.finish_download(record)

    for entry in record.images:
        entry.state = ImageState.STORED
    assert record.all_images_stored and not record.needs_download
    assert lifecycle.finish_download(record, at=3.0) and record.state is RecordState.SUCCEEDED
    assert not lifecycle.observe(record, done, at=4.0), "already succeeded: no new history entry"


def test_observe_failure_keeps_code_and_a_sentence():
    record = JobRecord.create(jid(8), ALICE)
    lifecycle.observe(record, Job(id=jid(8), status=JobStatus.FAILED, error_code=1108))
    assert record.state is RecordState.FAILED and record.error_code == 1108
    assert record.error_message and record.error_message.endswith(".")


def test_needs_download_retries_errors_only_up_to_the_limit():
    record = JobRecord.create(jid(9), ALICE, state=RecordState.SUCCEEDED)
    entry = record.image(0)
    entry.state, entry.attempts = ImageState.ERROR, MAX_DOWNLOAD_ATTEMPTS - 1
    assert record.needs_download
    entry.attempts = MAX_DOWNLOAD_ATTEMPTS
    assert not record.needs_download
    entry.state = ImageState.EXPIRED
    assert not record.needs_download and not record.all_images_stored


# --- paging --------------------------------------------------------------------------------------------


def test_list_jobs_pages_newest_first_with_cursors(store):
    for n in range(1, 56):
        make(store, n, created=1000.0 + n // 2)  # pairs share a timestamp, like a batch
    for n in range(100, 130):
        make(store, n, BOB, created=1000.0 + n)  # another owner's noise, interleaved in time

    pages, cursor = [], None
    while True:
        page = store.list_jobs(ALICE, cursor=cursor, limit=20)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(p) for p in pages] == [20, 20, 15]
    ids = [r.id for p in pages for r in p.items]
    assert ids == [jid(n) for n in range(55, 0, -1)], "newest first, ties broken by id, no gaps or repeats"
    assert all(r.owner == ALICE for p in pages for r in p)
    assert isinstance(pages[0], Page) and pages[0].has_more and not pages[-1].has_more
    assert [r.id for r in paginate(store.list_jobs, ALICE, limit=7)] == ids
    assert store.count_jobs(ALICE) == 55 and store.count_jobs(BOB) == 30


def test_list_jobs_query_filters_prompt_case_insensitively_across_pages(store):
    for n in range(1, 41):
        make(store, n, prompt="A RED Fox in snow" if n % 3 == 0 else "blue whale")
    make(store, 200, BOB, prompt="red fox of bob")

    first = store.list_jobs(ALICE, query="  red fox ", limit=5)
    second = store.list_jobs(ALICE, query="red fox", limit=5, cursor=first.next_cursor)
    third = store.list_jobs(ALICE, query="red fox", limit=5, cursor=second.next_cursor)

    found = [r.id for p in (first, second, third) for r in p]
    assert found == [jid(n) for n in range(39, 0, -3)]
    assert third.next_cursor is None
    assert store.count_jobs(ALICE, query="RED FOX") == 13
    assert store.list_jobs(ALICE, query="zebra").items == []
    assert len(store.list_jobs(ALICE, query="").items) == 20


def test_list_jobs_last_full_page_has_no_cursor(store):
    for n in range(1, 11):
        make(store, n)
    page = store.list_jobs(ALICE, limit=10)
    assert len(page) == 10 and page.next_cursor is None
    assert store.list_jobs(ALICE, limit=0).items == [store.get(jid(10))], "limit is clamped to at least 1"


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WzEsICJ4Il0", "e30"])
def test_list_jobs_refuses_a_forged_cursor(store, cursor):
    with pytest.raises(ValueError):
        store.list_jobs(ALICE, cursor=cursor)


# --- owners --------------------------------------------------------------------------------------------


def test_owners_never_see_each_others_jobs(store):
    make(store, 1, ALICE)
    make(store, 2, BOB)

    assert store.get_for_owner(jid(1), ALICE).id == jid(1)
    assert store.get_for_owner(jid(1), BOB) is None
    assert store.get_for_owner(jid(3), ALICE) is None
    assert [r.id for r in store.list_jobs(BOB)] == [jid(2)]
    assert store.list_jobs("nobody").items == []
    assert store.children(jid(1), owner=BOB) == []


def test_delete_with_the_wrong_owner_changes_nothing(store):
    make(store, 1, ALICE, state=RecordState.DOWNLOADING)
    store.store_original(jid(1), 0, png())

    assert store.delete(jid(1), BOB) is False
    assert store.delete(jid(2), ALICE) is False

    assert store.get(jid(1)) is not None
    assert store.image_path(jid(1), 0, "png").is_file()
    assert [r.id for r in store.list_jobs(ALICE)] == [jid(1)]


def test_put_refuses_to_move_a_job_to_another_owner(store):
    make(store, 1, ALICE)
    with pytest.raises(OwnerMismatch):
        store.put(JobRecord.create(jid(1), BOB))
    assert store.get(jid(1)).owner == ALICE


def test_delete_removes_record_index_entry_and_files(store):
    make(store, 1, state=RecordState.DOWNLOADING)
    make(store, 2)
    store.store_original(jid(1), 0, png())
    store.store_original(jid(1), 1, png(color=(0, 0, 255)))
    folder = store.image_path(jid(1), 0, "png").parent
    assert len(list(folder.iterdir())) == 4 and store.original_bytes() > 0

    assert store.delete(jid(1), ALICE) is True

    assert store.get(jid(1)) is None
    assert not folder.exists()
    assert [r.id for r in store.list_jobs(ALICE)] == [jid(2)]
    assert store.count_jobs(ALICE) == 1 and store.in_flight() == [store.get(jid(2))]
    assert store.original_bytes() == 0
    assert store.delete(jid(1), ALICE) is False


# --- image files -----------------------------------------------------------------------------------------


def test_store_original_writes_the_bytes_and_a_webp_preview(store):
    make(store, 1, state=RecordState.DOWNLOADING)
    data = png((2000, 1000))

    entry = store.store_original(jid(1), 2, data, remote_url="https://cdn/3.png")

    original = store.image_path(jid(1), 2, "png")
    assert original == store.cache_dir / "images" / "00" / jid(1) / "2.png"
    assert original.read_bytes() == data
    assert entry.original == f"images/00/{jid(1)}/2.png" and store.local_path(entry.original) == original
    assert (entry.state, entry.width, entry.height, entry.nbytes, entry.attempts) == (
        ImageState.STORED, 2000, 1000, len(data), 1)
    assert entry.remote_url == "https://cdn/3.png"
    with Image.open(store.local_path(entry.preview)) as preview:
        assert preview.format == "WEBP" and preview.size == (768, 384)
        assert abs(preview.getpixel((300, 200))[0] - 200) < 10
    assert store.get(jid(1)).images == [entry]
    assert store.display_paths(store.get(jid(1))) == [store.local_path(entry.preview)]
    assert store.original_bytes() == len(data)
    assert not [p for p in original.parent.iterdir() if p.name.endswith(".tmp")], "no temp files left"


def test_store_original_names_the_file_after_the_real_format(store):
    make(store, 1, state=RecordState.DOWNLOADING)
    out = io.BytesIO()
    Image.new("RGB", (40, 40), "green").save(out, "JPEG")
    store.store_original(jid(1), 0, png())
    entry = store.store_original(jid(1), 0, out.getvalue())  # same index again, now a JPEG

    assert entry.original.endswith("0.jpg")
    assert store.image_path(jid(1), 0, "jpeg").is_file()
    assert not store.image_path(jid(1), 0, "png").exists(), "the replaced original is gone"
    assert store.original_bytes() == len(out.getvalue())


@pytest.mark.parametrize(
    "data",
    [b"", b"<html><body>Access denied</body></html>", png()[:60], b"GIF89a" + b"\0" * 100],
    ids=["empty", "html-error-page", "truncated-png", "gif-header"],
)
def test_store_original_refuses_non_images_and_writes_nothing(store, data):
    make(store, 1, state=RecordState.DOWNLOADING)
    with pytest.raises(ImageValidationError):
        store.store_original(jid(1), 0, data)
    assert not (store.cache_dir / "images").exists()
    assert store.get(jid(1)).images == []


def test_store_original_needs_a_record(store):
    with pytest.raises(RecordNotFound):
        store.store_original(jid(1), 0, png())
    assert not (store.cache_dir / "images").exists()


def test_image_paths_cannot_be_tricked(store):
    with pytest.raises(InvalidRequest):
        store.image_path("../../etc/passwd", 0, "png")
    for index in (-1, 16, "0", True, 1.0):
        with pytest.raises(ValueError):
            store.image_path(jid(1), index, "png")
    for ext in ("sh", "png/../../x", "", "svg"):
        with pytest.raises(ValueError):
            store.image_path(jid(1), 0, ext)
    for rel in ("../../etc/passwd", "/etc/passwd", f"images/00/{jid(1)}/../../../../x.png", "cache.db"):
        with pytest.raises(ValueError):
            store.local_path(rel)


def test_mark_image_failed_counts_attempts(store):
    make(store, 1, state=RecordState.DOWNLOADING)
    store.update(jid(1), lambda r: lifecycle.set_remote_urls(r, ["https://cdn/1.png"]))

    entry = store.mark_image_failed(jid(1), 0, "The download timed out.")
    assert (entry.state, entry.attempts, entry.error) == (ImageState.ERROR, 1, "The download timed out.")
    assert store.get(jid(1)).needs_download
    entry = store.mark_image_failed(jid(1), 0, "Akool no longer has this image.", expired=True)
    assert entry.state is ImageState.EXPIRED and not store.get(jid(1)).needs_download


# --- size limit --------------------------------------------------------------------------------------


def finished_job_with_image(store: JobStore, n: int, finished: float, data: bytes) -> None:
    make(store, n, created=10.0 + n, state=RecordState.DOWNLOADING)
    store.store_original(jid(n), 0, data)
    store.update(jid(n), lambda r: r.set_state(RecordState.SUCCEEDED, at=finished))


def test_enforce_limit_evicts_oldest_originals_keeps_records_previews_and_in_flight(store):
    data = noise_png()
    size = len(data)
    # The in-flight job is the oldest of all; it must survive anyway.
    make(store, 9, created=1.0, state=RecordState.DOWNLOADING)
    store.update(jid(9), lambda r: lifecycle.set_remote_urls(r, ["https://cdn/a.png", "https://cdn/b.png"]))
    store.store_original(jid(9), 0, data)
    finished_job_with_image(store, 2, finished=300.0, data=data)  # created earlier, finished later
    finished_job_with_image(store, 1, finished=100.0, data=data)
    finished_job_with_image(store, 3, finished=500.0, data=data)
    assert store.original_bytes() == 4 * size

    store.limit_bytes = int(2.5 * size)
    freed = store.enforce_limit()

    assert freed == 2 * size
    assert store.original_bytes() == 2 * size
    states = {n: store.get(jid(n)).images[0].state for n in (1, 2, 3, 9)}
    assert states == {1: ImageState.EVICTED, 2: ImageState.EVICTED, 3: ImageState.STORED, 9: ImageState.STORED}
    for n in (1, 2):
        entry = store.get(jid(n)).images[0]
        assert entry.original is None and entry.preview and store.local_path(entry.preview).is_file()
        assert not store.image_path(jid(n), 0, "png").exists()
    assert store.image_path(jid(3), 0, "png").is_file() and store.image_path(jid(9), 0, "png").is_file()
    assert {r.id for r in store.list_jobs(ALICE)} == {jid(n) for n in (1, 2, 3, 9)}, "records are kept"
    assert store.enforce_limit() == 0


def test_storing_past_the_limit_evicts_automatically_but_never_the_job_being_stored(tmp_path):
    data = noise_png()
    store = StoreWithFiles(tmp_path / "c", limit_bytes=int(1.5 * len(data)))
    finished_job_with_image(store, 1, finished=100.0, data=data)
    finished_job_with_image(store, 2, finished=200.0, data=data)  # storing this pushes job 1 out

    assert store.get(jid(1)).images[0].state is ImageState.EVICTED
    assert store.get(jid(2)).images[0].state is ImageState.STORED
    assert store.original_bytes() == len(data)

    # Re-downloading an evicted original reuses the preview made the first time.
    preview = store.preview_path(jid(1), 0)
    before = preview.stat().st_mtime_ns
    store.limit_bytes = 10 * len(data)
    entry = store.store_original(jid(1), 0, data)
    assert entry.state is ImageState.STORED and preview.stat().st_mtime_ns == before
    store.close()


def test_running_total_is_recomputed_when_missing_or_foreign(tmp_path):
    store = StoreWithFiles(tmp_path / "c")
    make(store, 1, state=RecordState.DOWNLOADING)
    store.store_original(jid(1), 0, png())
    expected = store.original_bytes()
    store.close()
    with diskcache.Cache(str(tmp_path / "c")) as plain:
        plain.set("meta:original-bytes", "lots")
    with StoreWithFiles(tmp_path / "c") as store:
        assert store.original_bytes() == expected
        make(store, 2, state=RecordState.DOWNLOADING)
        store.store_original(jid(2), 0, png())
        assert store.original_bytes() == 2 * expected


# --- bad data on disk ----------------------------------------------------------------------------------


class Exploit:
    """Unpickling this creates a file: proof that a pickle was executed."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_corrupt_foreign_and_pickled_records_are_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "c"
    marker = tmp_path / "pwned"
    with StoreWithFiles(path) as store:
        for n in range(1, 7):
            make(store, n)
    with diskcache.Cache(str(path)) as plain:  # someone else's program writes into our cache
        plain.set("job:" + jid(2), "{definitely not json")
        plain.set("job:" + jid(3), json.dumps({**store.get(jid(1)).to_json(), "id": jid(3), "v": 99}))
        plain.set("job:" + jid(4), Exploit(str(marker)))  # pickled, small: inline in SQLite
        plain.set("job:" + jid(5), [Exploit(str(marker))] * 1 + ["x" * 100_000])  # pickled, in a side file
        plain.set("job:" + jid(6), b"\x00\x01binary")
        plain.set(("pickled", "key"), Exploit(str(marker)))
        plain.set("job:" + jid(7), 42)
        plain.set("job:" + jid(8), store.get(jid(1)).dumps())  # a valid record, filed under another id
    (path / "garbage.bin").write_bytes(os.urandom(512))
    (path / "images" / "zz").mkdir(parents=True)
    (path / "images" / "zz" / "notes.txt").write_text("hello")

    caplog.set_level(logging.WARNING, logger="akool_ui.adapters.local.store")
    with StoreWithFiles(path) as store:
        assert [r.id for r in store.list_jobs(ALICE)] == [jid(1)]
        assert store.in_flight() == [store.get(jid(1))]
        for n in (2, 3, 4, 5, 6, 7, 8):
            assert store.get(jid(n)) is None
            with pytest.raises(RecordNotFound):
                store.update(jid(n), lambda r: None)
        assert store.get_for_owner(jid(4), ALICE) is None
        # A damaged record can still be deleted by its owner (the index remembers whose it was).
        assert store.delete(jid(2), ALICE) and store.count_jobs(ALICE) == 5

    assert not marker.exists(), "a pickled value was unpickled"
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for n in (2, 3, 4, 5, 6, 8):
        assert jid(n) in warned
    assert "mode 4" in warned and "schema version" in warned
    assert ALICE not in caplog.text, "owners are never logged"


def test_a_garbage_database_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "c"
    path.mkdir(mode=0o700)
    (path / "cache.db").write_bytes(b"this is not sqlite" * 100)
    caplog.set_level(logging.WARNING, logger="akool_ui.adapters.local.store")

    with StoreWithFiles(path) as store:
        make(store, 1)
        assert store.get(jid(1)) is not None

    assert "unreadable" in caplog.text
    assert any(p.name.startswith("cache.db.corrupt-") for p in path.iterdir())


# --- directory, locks, lookups ---------------------------------------------------------------------


def test_cache_dir_is_created_private(tmp_path):
    with StoreWithFiles(tmp_path / "deep" / "cache"):
        pass
    assert stat.S_IMODE((tmp_path / "deep" / "cache").stat().st_mode) == 0o700


def test_a_world_readable_cache_dir_is_tightened_with_a_warning(tmp_path, caplog):
    path = tmp_path / "open"
    path.mkdir()
    path.chmod(0o755)
    caplog.set_level(logging.WARNING, logger="akool_ui.adapters.local.store")
    with StoreWithFiles(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert "755" in caplog.text


def test_from_settings_uses_the_cache_dir_and_limit(tmp_path):
    settings = Settings(cache_dir=tmp_path / "s", cache_limit_gb=0.5)
    with JobStore.from_settings(settings) as store:
        assert store.cache_dir == (tmp_path / "s").absolute()
    assert SizeLimits.from_settings(settings).limit_bytes == 2**29


def test_in_flight_finds_unfinished_and_undownloaded_records(store):
    make(store, 1, state=RecordState.QUEUED)
    make(store, 2, state=RecordState.PROCESSING)
    make(store, 3, state=RecordState.DOWNLOADING)
    make(store, 4, state=RecordState.SUCCEEDED)
    store.update(jid(4), lambda r: lifecycle.set_remote_urls(r, ["https://cdn/4.png"]))  # succeeded, not downloaded
    make(store, 5, state=RecordState.SUCCEEDED)
    store.update(jid(5), lambda r: lifecycle.set_remote_urls(r, ["https://cdn/5.png"]))
    store.store_original(jid(5), 0, png())  # succeeded and stored
    make(store, 6, state=RecordState.FAILED)
    make(store, 7, state=RecordState.TIMED_OUT)
    make(store, 8, BOB, state=RecordState.PROCESSING)  # every owner's jobs get resumed
    make(store, 9, state=RecordState.SUCCEEDED)
    store.update(jid(9), lambda r: lifecycle.set_remote_urls(r, ["https://cdn/9.png"]))
    for _ in range(MAX_DOWNLOAD_ATTEMPTS):
        store.mark_image_failed(jid(9), 0, "The download failed.")  # gave up

    assert [r.id for r in store.in_flight()] == [jid(n) for n in (1, 2, 3, 4, 8)]

    store.update(jid(2), lambda r: r.set_state(RecordState.SUCCEEDED))
    store.update(jid(4), lambda r: r.set_state(RecordState.FAILED))
    assert [r.id for r in store.in_flight()] == [jid(n) for n in (1, 3, 8)]


def test_children_lists_button_jobs_oldest_first(store):
    make(store, 1)
    make(store, 3, kind="button", parent_id=jid(1), button="V1")
    make(store, 2, kind="button", parent_id=jid(1), button="U2")
    make(store, 4, BOB, kind="button", parent_id=jid(1), button="U1")

    assert [r.button for r in store.children(jid(1))] == ["U2", "V1", "U1"]
    assert [r.button for r in store.children(jid(1), owner=ALICE)] == ["U2", "V1"]
    assert store.children(jid(2)) == []


def test_update_changes_atomically_and_rolls_back_on_error(store):
    make(store, 1)
    before = store.get(jid(1))

    def boom(record):
        record.credits = 99
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError):
        store.update(jid(1), boom)
    assert store.get(jid(1)) == before

    with pytest.raises(ValueError):
        store.update(jid(1), lambda r: setattr(r, "owner", BOB))
    assert store.update(jid(1), lambda r: r.set_state(RecordState.PROCESSING)).state is RecordState.PROCESSING
    with pytest.raises(RecordNotFound):
        store.update(jid(2), lambda r: None)

    replaced = store.update(jid(1), lambda r: JobRecord.create(jid(1), ALICE, request={"prompt": "new"}))
    assert store.get(jid(1)).prompt == "new" == replaced.prompt
    assert store.list_jobs(ALICE, query="new").items == [replaced], "the index follows the record"


def test_put_and_update_stamp_updated_at_from_the_clock(tmp_path):
    ticks = iter([500.0, 600.0])
    with StoreWithFiles(tmp_path / "c", clock=lambda: next(ticks)) as store:
        assert store.put(JobRecord.create(jid(1), ALICE, now=1.0)).updated_at == 500.0
        assert store.update(jid(1), lambda r: None).updated_at == 600.0


def test_download_lock_is_exclusive_and_expires(store):
    first = store.download_lock(jid(1))
    second = store.download_lock(jid(1))
    other_job = store.download_lock(jid(2))

    assert first.acquire(blocking=False)
    assert first.held and second.locked and not second.held
    assert not second.acquire(blocking=False)
    assert not second.acquire(timeout=0.05)
    assert other_job.acquire(blocking=False)
    assert first.refresh()
    first.release()
    assert not first.locked
    with second:
        assert second.held and not first.acquire(blocking=False)
    assert not second.locked

    short = store.download_lock(jid(3), expire=0.2)
    assert short.acquire(blocking=False)
    time.sleep(0.3)  # the holder "died": its lock expires
    taker = store.download_lock(jid(3))
    assert taker.acquire(blocking=False)
    assert not short.refresh()
    short.release()  # too late: must not release the new holder's lock
    assert taker.held


def test_store_tolerates_unusual_owner_strings(store):
    owner = "ünïcode-owner/with spaces"
    make(store, 1, owner)
    assert store.get_for_owner(jid(1), owner) is not None
    assert [r.id for r in store.list_jobs(owner)] == [jid(1)]
    assert store.get_for_owner(jid(1), owner.upper()) is None


def test_image_entry_display_path_prefers_the_preview():
    entry = ImageEntry(index=0, original="images/00/x/0.png", preview="images/00/x/0.preview.webp")
    assert entry.display_path.endswith("preview.webp")
    assert ImageEntry(index=1).display_path is None


def test_put_many_writes_all_or_nothing(store):
    assert store.put_many([JobRecord.create(jid(n), ALICE, now=float(n)) for n in range(1, 4)]) == 3
    assert [r.id for r in store.list_jobs(ALICE)] == [jid(3), jid(2), jid(1)]
    with pytest.raises(OwnerMismatch):
        store.put_many([JobRecord.create(jid(4), ALICE), JobRecord.create(jid(1), BOB)])
    assert store.get(jid(4)) is None, "the batch was rolled back"
    with pytest.raises(TypeError):
        store.put_many([{"id": jid(5)}])  # type: ignore[list-item]


def test_large_records_spill_to_a_text_file_and_still_read_back(store):
    record = JobRecord.create(jid(1), ALICE)
    lifecycle.set_remote_urls(record, [f"https://cdn.example.com/{i}/" + "x" * 3900 for i in range(16)])
    store.put(record)
    assert len(record.dumps()) > 2**16
    assert store.get(jid(1)) == record
    assert [p for p in store.cache_dir.rglob("*.val")], "diskcache kept it as a side file (JSON text)"


def test_the_json_only_disk_refuses_anything_but_text(tmp_path):
    from akool_ui.adapters.local.store import UnsafeCacheValue, _JsonOnlyDisk

    disk = _JsonOnlyDisk(str(tmp_path), unexpected_setting=1)
    with pytest.raises(TypeError):
        disk.put(("tuple", "key"))
    with pytest.raises(UnsafeCacheValue):
        disk.get(b"\x80\x04pickled", False)
    with pytest.raises(TypeError):
        disk.store(io.BytesIO(b"x"), True)
    with pytest.raises(TypeError):
        disk.fetch(1, None, "1", True)
    with pytest.raises(ValueError):
        disk.store(float("nan"), False)
    assert disk.fetch(*disk.store({"a": [1, "é"]}, False)[1:], False) == {"a": [1, "é"]}


def test_a_state_from_a_newer_version_reads_as_stopped_not_as_a_vanished_job(caplog):
    """Forward compatibility: a well-formed state this version does not know keeps the job in history,
    resumable ("check again"), instead of the whole record being skipped."""
    from akool_ui.jobs import JobRecord, RecordState

    record = JobRecord.create("a" * 24, "owner-1", request={"prompt": "x"})
    data = record.to_json()
    data["state"] = "paused_by_akool"
    data["status_history"].append(["paused_by_akool", data["created_at"] + 1])
    with caplog.at_level("WARNING"):
        again = JobRecord.from_json(data)
    assert again.state is RecordState.STOPPED and again.is_resumable
    assert again.status_history[-1][0] == "paused_by_akool"
    assert "unknown to this version" in caplog.text


def test_a_page_read_while_an_intent_is_swapped_for_its_job_still_lists_every_request(store, monkeypatch):
    """The index query and the record reads are not one snapshot: an intent replaced by the job Akool made
    (newer in the order, so already passed by this read) between the two was dropped from the page. Seen
    as /history listing 44 of 45 waiting requests."""
    for n in range(1, 4):
        make(store, n)
    intent = store.put(JobRecord.intent(ALICE, request={"prompt": "in the making"}, now=999.0))
    job = JobRecord.create(jid(50), ALICE, request={"prompt": "in the making"}, now=1500.0)
    records = store._records
    load, swapped = records.load, []

    def load_and_swap_once(job_id):
        if job_id == intent.id and not swapped:
            swapped.append(job_id)
            store.replace(intent.id, [job])  # another thread's answer from Akool lands right now
        return load(job_id)

    monkeypatch.setattr(records, "load", load_and_swap_once)
    listed = [r.id for r in store.list_jobs(ALICE, limit=100).items]
    assert listed == [job.id, jid(3), jid(2), jid(1)]


def test_an_unreadable_row_is_skipped_without_rereading_the_page_forever(store, monkeypatch):
    for n in range(1, 4):
        make(store, n)
    records = store._records
    load, calls = records.load, []

    def unreadable_second(job_id):
        calls.append(job_id)
        return None if job_id == jid(2) else load(job_id)  # a damaged file: its index row is still there

    monkeypatch.setattr(records, "load", unreadable_second)
    assert [r.id for r in store.list_jobs(ALICE).items] == [jid(3), jid(1)]
    assert len(calls) == 3  # one read, no rereads
