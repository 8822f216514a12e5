"""Zips of originals: stored entries, missing files skipped, and only a few written at once."""

from __future__ import annotations

import threading
import zipfile

import pytest

from akool_ui.ui import exports


def _files(tmp_path, n: int) -> list:
    files = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        path.write_bytes(bytes([i]) * 1000)
        files.append((path, f"image-{i}.png"))
    return files


def test_a_zip_holds_the_files_stored_and_skips_missing_ones(tmp_path):
    files = _files(tmp_path, 2) + [(tmp_path / "gone.png", "gone.png")]
    path = exports.zip_files(files, "job.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["image-0.png", "image-1.png"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        assert archive.read("image-1.png") == bytes([1]) * 1000
    with pytest.raises(FileNotFoundError):
        exports.zip_files([(tmp_path / "gone.png", "gone.png")], "none.zip")


def test_zips_wait_for_a_free_slot(tmp_path):
    files = _files(tmp_path, 1)
    for _ in range(exports.ZIPS_AT_ONCE):  # every slot busy, as if that many zips were being written
        exports._zip_slots.acquire()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (exports.zip_files(files, "waits.zip"), done.set()))
    try:
        worker.start()
        assert not done.wait(0.5)  # queued behind the busy slots, not written alongside them
    finally:
        for _ in range(exports.ZIPS_AT_ONCE):
            exports._zip_slots.release()
    assert done.wait(10)
    worker.join()
