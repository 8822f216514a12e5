"""fileio.write_atomic on a real folder: the mode it promises, whole replacement, nothing left behind."""

from __future__ import annotations

import os
import stat

import pytest

from akool_ui import fileio
from akool_ui.fileio import write_atomic


def test_a_new_file_gets_exactly_the_mode_asked_for_whatever_the_umask(tmp_path):
    old_umask = os.umask(0o077)
    try:
        write_atomic(tmp_path / "shared.txt", b"x", mode=0o644)
    finally:
        os.umask(old_umask)
    write_atomic(tmp_path / "private.key", b"secret")

    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.key").stat().st_mode) == 0o600, "private by default"


def test_it_replaces_the_old_content_and_mode_whole(tmp_path):
    path = tmp_path / "account.json"
    path.write_bytes(b"old content that is longer than the new one")
    path.chmod(0o666)

    assert write_atomic(path, b"new", fsync=False) == path

    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["account.json"], "no temp file left"


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "0.png"
    path.write_bytes(b"the old image")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"the new image")

    assert path.read_bytes() == b"the old image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png"], "the temp file was removed"


def test_a_failed_rename_leaves_no_temp_file_either(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_bytes(b"a non-empty folder cannot be replaced by a file")

    with pytest.raises(OSError):
        write_atomic(target, b"data")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_the_temp_file_is_made_beside_the_target_so_the_rename_stays_on_one_file_system(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(src), os.path.basename(src)))
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", spy)
    write_atomic(tmp_path / "owner.key", b"k")

    ((folder, name),) = seen
    assert folder == str(tmp_path) and name.startswith(".owner.key.") and name.endswith(".tmp")


def test_start_up_removes_what_a_crashed_writer_left_and_nothing_else(tmp_path):
    import subprocess
    import sys
    import time

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    folder = tmp_path / "images" / "ab" / ("ab" + "0" * 22)
    folder.mkdir(parents=True)
    crashed = folder / f".0.png.{dead_pid}.k2j3h4g5.tmp"  # its writer is gone: garbage at once
    live = folder / f".1.png.{os.getpid()}.a1b2c3d4.tmp"  # this process may be writing it right now
    old = folder / ".2.png.zz9yy8xx.tmp"  # no pid (an older version's name): judged by age
    young = folder / ".3.png.qq1ww2ee.tmp"
    kept = [folder / "0.png", folder / ".hidden", folder / "notes.tmp"]
    for path in (crashed, live, old, young, *kept):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert fileio.remove_stale_temp_files(tmp_path) == 2
    assert not crashed.exists() and not old.exists()
    assert live.exists() and young.exists() and all(p.exists() for p in kept)


def test_write_atomic_names_its_temp_file_after_the_writing_process(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        # Only this test's folder: a thread left by an earlier test may rename its own files meanwhile.
        if os.path.dirname(os.fspath(src)) == str(tmp_path):
            seen.append(os.path.basename(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "0.png", b"data")
    [name] = seen
    assert name.startswith(f".0.png.{os.getpid()}.") and name.endswith(".tmp")
