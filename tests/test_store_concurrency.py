"""Two real processes (and many threads) on one cache directory: no update, record or lock is lost."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from akool_ui.jobs import JobRecord, RecordState
from akool_ui.adapters.local.store import JobStore
from tests.store_helpers import StoreWithFiles, tracker_on

OWNER = "owner-concurrency"
UPDATES = 150


def jid(n: int) -> str:
    return f"{n:024x}"


def _hammer(cache_dir: str, tag: str, start, updates: int) -> None:
    """Run in a separate (spawned) process: many read-modify-writes of the same record."""
    store = StoreWithFiles(Path(cache_dir))
    start.wait(60)  # a barrier: both processes are up (imports done, store open) before either starts
    for i in range(updates):

        def bump(record: JobRecord, i: int = i) -> None:
            record.credits = (record.credits or 0) + 1
            record.used_buttons.append(f"{tag}{i}")

        store.update(jid(1), bump)
        # and, interleaved, new records of our own, indexed in the same transaction
        if i % 10 == 0:
            store.put(JobRecord.create(jid(1000 + (0 if tag == "a" else 500) + i), OWNER, request={"prompt": f"proc-{tag}"}))
    store.close()


def _hold_lock(cache_dir: str, acquired, release) -> None:
    store = StoreWithFiles(Path(cache_dir))
    lock = store.download_lock(jid(7))
    assert lock.acquire(timeout=30)
    acquired.set()
    release.wait(30)
    lock.release()
    store.close()


@pytest.mark.slow
def test_two_processes_updating_one_record_lose_nothing(tmp_path):
    cache_dir = tmp_path / "shared"
    with StoreWithFiles(cache_dir) as store:
        store.put(JobRecord.create(jid(1), OWNER, request={"prompt": "shared"}))

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, like two app processes
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_hammer, args=(str(cache_dir), tag, start, UPDATES)) for tag in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]

    with StoreWithFiles(cache_dir) as store:
        record = store.get(jid(1))
        assert record.credits == 2 * UPDATES
        assert sorted(record.used_buttons) == sorted(f"{t}{i}" for t in "ab" for i in range(UPDATES))
        for tag in "ab":  # each process's updates stay in its own order
            mine = [b for b in record.used_buttons if b[0] == tag]
            assert mine == [f"{tag}{i}" for i in range(UPDATES)]
        assert store.count_jobs(OWNER) == 1 + 2 * (UPDATES // 10)
        assert store.count_jobs(OWNER, query="proc-a") == store.count_jobs(OWNER, query="PROC-B") == UPDATES // 10


def test_threads_updating_one_record_lose_nothing(tmp_path):
    with StoreWithFiles(tmp_path / "c") as store:
        store.put(JobRecord.create(jid(1), OWNER))

        def work() -> None:
            for _ in range(50):
                store.update(jid(1), lambda r: setattr(r, "credits", (r.credits or 0) + 1))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert store.get(jid(1)).credits == 200


@pytest.mark.slow
def test_download_lock_excludes_another_process(tmp_path):
    cache_dir = tmp_path / "shared"
    StoreWithFiles(cache_dir).close()
    ctx = multiprocessing.get_context("spawn")
    acquired, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(cache_dir), acquired, release))
    holder.start()
    try:
        assert acquired.wait(60)
        with StoreWithFiles(cache_dir) as store:
            lock = store.download_lock(jid(7))
            assert lock.locked and not lock.acquire(blocking=False)
            release.set()
            assert lock.acquire(timeout=30), "free again once the other process released it"
            lock.release()
    finally:
        release.set()
        holder.join(60)
    assert holder.exitcode == 0


def test_in_flight_sees_records_written_by_another_store_instance(tmp_path):
    with StoreWithFiles(tmp_path / "c") as first, StoreWithFiles(tmp_path / "c") as second:
        first.put(JobRecord.create(jid(1), OWNER, state=RecordState.PROCESSING))
        assert [r.id for r in second.in_flight()] == [jid(1)]
        second.update(jid(1), lambda r: r.set_state(RecordState.FAILED))
        assert first.in_flight() == []
        assert first.get(jid(1)).state is RecordState.FAILED
