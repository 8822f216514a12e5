"""The data folder alone is enough: record files beside the images, and an index rebuilt from them.

On a Space the SQLite index lives on local disk that every restart wipes, while the data folder sits
on /data (location.py). These tests keep the two in separate folders, as there, and throw the index away.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from akool_ui.jobs import ImageState, JobRecord, RecordState
from akool_ui.adapters.local.store import JobStore
from akool_ui.adapters.local.store.location import filesystem_type, index_dir_for, needs_local_index
from akool_ui.adapters.local.store.recordfiles import FILES_COMPLETE_KEY
from tests.test_store import ALICE, BOB, jid, make, noise_png, png
from tests.store_helpers import StoreWithFiles, tracker_on


@pytest.fixture()
def dirs(tmp_path):
    """(data folder, index folder): where /data and the container's local disk would be."""
    return tmp_path / "data", tmp_path / "local-index"


def open_store(dirs, **kw) -> JobStore:
    data, index = dirs
    return StoreWithFiles(data, index_dir=index, min_age_seconds=0, **kw)


def wipe_index(dirs) -> None:
    shutil.rmtree(dirs[1])


def record_file(store: JobStore, job_id: str) -> Path:
    return store.cache_dir / "records" / job_id[:2] / f"{job_id}.json"


def fill(store: JobStore) -> None:
    """Two owners, a finished job with images, its U1 child, a job still in flight, a searchable prompt."""
    make(store, 1, ALICE, prompt="A red fox", state=RecordState.DOWNLOADING)
    store.store_original(jid(1), 0, png())
    store.store_original(jid(1), 1, noise_png())
    store.update(jid(1), lambda r: r.set_state(RecordState.SUCCEEDED, at=2000.0))
    make(store, 2, ALICE, prompt="U1 of the fox", kind="button", parent_id=jid(1), button="U1",
         state=RecordState.SUCCEEDED)
    make(store, 3, ALICE, prompt="A lighthouse", state=RecordState.PROCESSING)
    make(store, 4, BOB, prompt="Bob's teapot", state=RecordState.SUCCEEDED)


def snapshot(store: JobStore) -> dict:
    """Everything the app reads from the index, per owner."""
    return {
        "alice": [r.id for r in store.list_jobs(ALICE)],
        "bob": [r.id for r in store.list_jobs(BOB)],
        "fox": [r.id for r in store.list_jobs(ALICE, query="FOX")],
        "count": store.count_jobs(ALICE),
        "children": [r.id for r in store.children(jid(1), owner=ALICE)],
        "in_flight": [r.id for r in store.in_flight()],
        "bytes": store.original_bytes(),
        "records": {n: store.get(jid(n)) for n in range(1, 5)},
    }


def test_every_write_leaves_the_record_as_a_file_in_the_data_folder(dirs):
    with open_store(dirs) as store:
        fill(store)
        assert store.index_is_local and not (store.cache_dir / "cache.db").exists()
        for n in range(1, 5):
            on_disk = JobRecord.from_json(json.loads(record_file(store, jid(n)).read_text("utf-8")))
            assert on_disk == store.get(jid(n))
        assert (record_file(store, jid(1)).stat().st_mode & 0o777) == 0o600


def test_a_wiped_index_is_rebuilt_from_the_data_folder_and_loses_nothing(dirs, caplog):
    with open_store(dirs) as store:
        fill(store)
        before = snapshot(store)
        assert before["bytes"] > 0 and before["in_flight"] == [jid(3)] and before["children"] == [jid(2)]
    wipe_index(dirs)
    caplog.set_level(logging.INFO, logger="akool_ui.adapters.local.store")

    with open_store(dirs) as store:
        after = snapshot(store)
        assert "restored 4 job records" in caplog.text
        assert ALICE not in caplog.text and BOB not in caplog.text, "owners are never logged"
        assert store.get_for_owner(jid(4), ALICE) is None, "someone else's job still reads as missing"
        assert [p.is_file() for p in store.display_paths(after["records"][1])] == [True, True]
        # the rebuilt index works as before: a new job, then a delete, then the size limit
        make(store, 5, ALICE)
        assert store.delete(jid(4), BOB)
        store.limit_bytes = 1
        assert store.enforce_limit() > 0 and store.original_bytes() == 0
    for key in ("alice", "bob", "fox", "count", "children", "in_flight", "bytes", "records"):
        assert after[key] == before[key], key


def test_a_deleted_job_does_not_come_back_in_a_rebuild(dirs):
    with open_store(dirs) as store:
        fill(store)
        assert store.delete(jid(1), ALICE)
        assert not record_file(store, jid(1)).exists()
    wipe_index(dirs)
    with open_store(dirs) as store:
        assert store.get(jid(1)) is None
        assert [r.id for r in store.list_jobs(ALICE)] == [jid(3), jid(2)]


def test_a_write_that_changes_nothing_leaves_the_file_alone(dirs):
    with open_store(dirs) as store:
        make(store, 1, state=RecordState.PROCESSING)
        path = record_file(store, jid(1))
        inode = path.stat().st_ino
        store.update(jid(1), lambda r: None)  # a poll that saw no change: the index row is rewritten...
        assert path.stat().st_ino == inode, "...but not the file (an upload each time on a bucket volume)"
        store.update(jid(1), lambda r: r.set_state(RecordState.DOWNLOADING, at=3000.0))
        assert path.stat().st_ino != inode
        assert JobRecord.from_json(json.loads(path.read_text("utf-8"))).state is RecordState.DOWNLOADING
        path.unlink()
        store.update(jid(1), lambda r: None)
        assert path.is_file(), "a missing file is written again even when nothing changed"


def test_a_corrupt_database_moved_aside_is_refilled_from_the_files(tmp_path):
    with StoreWithFiles(tmp_path / "c") as store:  # index beside the data, as on a laptop
        make(store, 1)
    (tmp_path / "c" / "cache.db").write_bytes(b"this is not sqlite" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "c" / f"cache.db{suffix}").unlink(missing_ok=True)
    with StoreWithFiles(tmp_path / "c") as store:
        assert [r.id for r in store.list_jobs(ALICE)] == [jid(1)]


def test_unreadable_foreign_and_misplaced_files_are_skipped_with_a_warning(dirs, caplog):
    with open_store(dirs) as store:
        make(store, 1)
        make(store, 2)
        root = store.cache_dir / "records"
    (root / jid(2)[:2] / f"{jid(2)}.json").write_text("{not json")
    (root / "00" / f"{jid(9)}.json").write_text(json.dumps(JobRecord.create(jid(1), BOB).to_json()))  # another id
    (root / "ff").mkdir()
    (root / "ff" / f"{jid(7)}.json").write_text(json.dumps(JobRecord.create(jid(7), BOB).to_json()))  # wrong folder
    (root / "00" / "notes.json").write_text("{}")
    (root / "00" / f"{jid(8)}.json").symlink_to(root / "00" / f"{jid(1)}.json")
    wipe_index(dirs)
    caplog.set_level(logging.WARNING, logger="akool_ui.adapters.local.store")

    with open_store(dirs) as store:
        assert [r.id for r in store.list_jobs(ALICE)] == [jid(1)]
        assert store.list_jobs(BOB).items == [] and store.get(jid(7)) is None and store.get(jid(8)) is None
    assert jid(2) in caplog.text and "describes another job" in caplog.text


def test_records_from_before_the_files_get_theirs_once(dirs):
    with open_store(dirs) as store:
        fill(store)
        shutil.rmtree(store.cache_dir / "records")  # as an index made by an older version would be
        store._cache.delete(FILES_COMPLETE_KEY)
    with open_store(dirs) as store:
        assert all(record_file(store, jid(n)).is_file() for n in range(1, 5))
        before = snapshot(store)
    wipe_index(dirs)
    with open_store(dirs) as store:
        assert snapshot(store) == before


def test_an_explicit_rebuild_fills_gaps_and_keeps_the_indexed_copy(dirs):
    with open_store(dirs) as store:
        make(store, 1, prompt="indexed")
        stale = JobRecord.create(jid(1), ALICE, request={"prompt": "older file"}).to_json()
        record_file(store, jid(1)).write_text(json.dumps(stale))
        extra = JobRecord.create(jid(2), ALICE, request={"prompt": "only a file"}, now=5000.0)
        record_file(store, jid(2)).write_text(json.dumps(extra.to_json()))
        result = store.rebuild_index()
        assert (result.restored, result.skipped) == (1, 0)
        assert store.get(jid(1)).prompt == "indexed"
        assert [r.id for r in store.list_jobs(ALICE)] == [jid(2), jid(1)]
        assert store.rebuild_index().restored == 0


def test_evicted_and_stored_states_survive_the_rebuild(dirs):
    with open_store(dirs, limit_bytes=1) as store:
        make(store, 1, ALICE, state=RecordState.DOWNLOADING)
        store.store_original(jid(1), 0, noise_png(seed=1))
        store.update(jid(1), lambda r: r.set_state(RecordState.SUCCEEDED, at=10.0))
        store.enforce_limit()
        assert store.get(jid(1)).images[0].state is ImageState.EVICTED
    wipe_index(dirs)
    with open_store(dirs) as store:
        entry = store.get(jid(1)).images[0]
        assert entry.state is ImageState.EVICTED and entry.original is None and entry.preview
        assert store.original_bytes() == 0


# --- where the index lives --------------------------------------------------------------------------


def test_the_index_stays_beside_data_on_a_local_disk_and_moves_off_the_persistent_root(tmp_path, monkeypatch):
    import akool_ui.settings as settings

    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setattr(settings, "PERSISTENT_ROOT", root)
    local = tmp_path / "plain"
    assert index_dir_for(local) == local
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    under = index_dir_for(root / "akool-studio", env=env)
    assert under.parent == tmp_path / "xdg" / "akool-studio-index"
    assert index_dir_for(root / "akool-studio", env=env) == under, "the same folder for the same data"
    assert index_dir_for(root / "other", env=env) != under, "two data folders never share an index"


def test_network_and_fuse_mounts_need_a_local_index(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "overlay / overlay rw 0 0\n"
        f"server:/export {tmp_path}/nfs nfs4 rw 0 0\n"
        f"hf {tmp_path}/my\\040bucket fuse.hf-mount rw 0 0\n"
        f"/dev/sdb1 {tmp_path}/usb fuseblk rw 0 0\n"
        f"/dev/sdc1 {tmp_path}/nfs/local ext4 rw 0 0\n"
    )
    assert filesystem_type(tmp_path / "nfs" / "a" / "b", mounts) == "nfs4"
    assert filesystem_type(tmp_path / "nfs" / "local" / "x", mounts) == "ext4", "the longest mount point wins"
    assert filesystem_type(tmp_path / "my bucket" / "x", mounts) == "fuse.hf-mount"
    assert needs_local_index(tmp_path / "nfs" / "cache", mounts)
    assert needs_local_index(tmp_path / "my bucket" / "cache", mounts)
    assert not needs_local_index(tmp_path / "usb" / "cache", mounts)
    assert not needs_local_index(tmp_path / "nfs" / "local" / "cache", mounts)
    assert not needs_local_index(tmp_path / "elsewhere", mounts)
    assert filesystem_type(tmp_path, tmp_path / "no-such-file") is None


def test_a_failed_record_file_write_keeps_the_job_and_is_retried(dirs, monkeypatch, caplog):
    from akool_ui.adapters.local.store import recordfiles

    real = recordfiles.write_atomic
    failing = {"on": True}

    def flaky(path, data, **kw):
        if failing["on"]:
            raise OSError(5, "Input/output error")
        return real(path, data, **kw)

    monkeypatch.setattr(recordfiles, "write_atomic", flaky)
    caplog.set_level(logging.WARNING, logger="akool_ui.adapters.local.store")
    with open_store(dirs) as store:
        make(store, 1)  # Akool accepted this job: the store must not refuse it over the data folder
        assert store.get(jid(1)) is not None and not record_file(store, jid(1)).exists()
        assert "could not write the record file" in caplog.text and ALICE not in caplog.text
        failing["on"] = False
        store.update(jid(1), lambda r: None)  # nothing changed, yet the file is behind: written now
        assert JobRecord.from_json(json.loads(record_file(store, jid(1)).read_text("utf-8"))) == store.get(jid(1))
