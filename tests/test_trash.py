"""Delete with undo (``service/trash.py``): a deleted job leaves its owner's history at once, keeps its
record and files for the undo period, comes back whole with Undo, and is removed for good after it."""

from __future__ import annotations

import threading

from akool_ui.adapters.local import MemoryDocuments
from akool_ui.akool.models import ImageRequest
from akool_ui.service.library.trash import DeleteGrace
from tests.app_helpers import running_demo_app
from tests.test_tracker import wait_final


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _grace(deleted: list, clock: _Clock) -> DeleteGrace:
    return DeleteGrace(lambda job_id, owner: deleted.append((job_id, owner)) or True, MemoryDocuments(), grace_seconds=60,
                       clock=clock, timers=False)


def test_a_hidden_job_is_deleted_only_when_its_grace_period_ends():
    deleted, clock = [], _Clock()
    grace = _grace(deleted, clock)
    grace.hide("job-1", "alice")
    assert grace.is_hidden("job-1") and deleted == []
    clock.now += 59
    assert grace.purge_due() == 0 and deleted == []
    clock.now += 2
    assert grace.purge_due() == 1 and deleted == [("job-1", "alice")]
    assert not grace.is_hidden("job-1") and grace.purge_due() == 0


def test_undo_brings_it_back_for_its_owner_only():
    deleted, clock = [], _Clock()
    grace = _grace(deleted, clock)
    grace.hide("job-1", "alice")
    assert not grace.restore("job-1", "mallory")  # someone else's undo does nothing
    assert grace.restore("job-1", "alice") and not grace.is_hidden("job-1")
    clock.now += 3600
    assert grace.purge_due() == 0 and deleted == []
    assert not grace.restore("job-1", "alice")  # nothing pending any more


def test_flush_deletes_every_pending_job_and_a_failing_delete_is_contained():
    calls = []

    def delete(job_id, owner):
        calls.append(job_id)
        if job_id == "bad":
            raise OSError("disk gone")
        return True

    grace = DeleteGrace(delete, MemoryDocuments(), grace_seconds=60, timers=False)
    grace.hide("bad", "alice")
    grace.hide("good", "alice")
    grace.flush()
    assert sorted(calls) == ["bad", "good"] and not grace.is_hidden("good")


def test_the_timer_deletes_the_real_job_and_its_files(tmp_path):
    with running_demo_app(tmp_path / "cache") as running:
        studio = running.studio
        [record] = studio.submit(ImageRequest(prompt="A teapot"), api_key=None, owner="owner-trash")
        wait_final(studio.tracker, [record.id])
        folder = studio.image_path(studio.get(record.id, "owner-trash").images[0].original).parent
        assert folder.is_dir()
        done = threading.Event()

        def delete(job_id, owner):
            try:
                return studio.delete_now(job_id, owner)
            finally:
                done.set()

        grace = DeleteGrace(delete, MemoryDocuments(), grace_seconds=0.2)
        grace.hide(record.id, "owner-trash")
        assert folder.is_dir() and studio.get(record.id, "owner-trash") is not None  # kept while undo is possible
        assert done.wait(10)
        assert studio.get(record.id, "owner-trash") is None and not folder.exists()


def test_undo_works_from_another_process_and_each_job_is_deleted_once(tmp_path):
    from akool_ui.adapters.local import LocalDocuments

    deleted, clock = [], _Clock()

    def grace() -> DeleteGrace:  # one per process: its own documents object on the shared folder
        return DeleteGrace(lambda job_id, owner: deleted.append((job_id, owner)) or True, LocalDocuments(tmp_path),
                           grace_seconds=60, clock=clock, timers=False)

    here, there = grace(), grace()
    here.hide("job-1", "alice")
    here.hide("job-2", "alice")
    assert there.is_hidden("job-1") and there.is_hidden("job-2")  # hidden in every process at once
    assert not there.restore("job-1", "mallory") and there.restore("job-1", "alice")
    assert not here.is_hidden("job-1")
    clock.now += 61
    assert there.purge_due() + here.purge_due() == 1  # each process's timer deletes what is due, once
    assert deleted == [("job-2", "alice")]
    # a restart forgets nothing: a deletion pending when the app stopped is done by the next one
    here.hide("job-3", "alice")
    restarted = grace()
    assert restarted.is_hidden("job-3")
    clock.now += 61
    assert restarted.purge_due() == 1 and deleted[-1] == ("job-3", "alice")


def test_a_timer_deletes_what_another_process_hid(tmp_path):
    from akool_ui.adapters.local import LocalDocuments

    done = threading.Event()
    deleted = []

    def delete(job_id, owner):
        deleted.append(job_id)
        done.set()
        return True

    hider = DeleteGrace(lambda job_id, owner: True, LocalDocuments(tmp_path), grace_seconds=0.2, timers=False)
    watcher = DeleteGrace(delete, LocalDocuments(tmp_path), grace_seconds=0.2)
    hider.hide("job-1", "alice")
    assert watcher.is_hidden("job-1")  # it reads the pending deletions: its timer is planned for them
    assert done.wait(10) and deleted == ["job-1"]
    watcher.close()
