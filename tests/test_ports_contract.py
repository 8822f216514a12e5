"""The storage ports' contract, run against both adapters: the local one (diskcache, SQLite, files) and
the shared one (a real Redis and a real S3 server over HTTP, ``tests/shared_servers.py``).

Whatever the service relies on (``service/ports.py``) is checked here once, on each: pages newest first
with cursors, search, owners kept apart, atomic updates across threads, intents swapped for jobs,
transactions all-or-nothing, byte totals, compare-and-set, one lease holder, events, blobs."""

from __future__ import annotations

import threading
import time

import pytest

from akool_ui.adapters.local import JobStore, LocalStorage
from akool_ui.jobs import ImageState, JobRecord, RecordState
from akool_ui.jobs.events import ImageReady, Queued
from akool_ui.service.ports import (
    BlobNotFound, Conflict, OwnerMismatch, RecordNotFound, Storage, update_document,
)

ALICE, BOB = "owner-alice-hmac-0001", "owner-bob-hmac-0002"


def jid(n: int) -> str:
    return f"{n:024x}"


@pytest.fixture(params=["local", "shared"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        with LocalStorage(JobStore(tmp_path / "cache")) as local:
            yield local
    else:
        yield request.getfixturevalue("shared_storage")


def make(storage, n: int, owner: str = ALICE, *, prompt: str = "a red fox", created: float | None = None,
         state: RecordState = RecordState.QUEUED, **kw) -> JobRecord:
    record = JobRecord.create(jid(n), owner, request={"prompt": prompt}, now=1000.0 + n if created is None else created,
                              state=state, **kw)
    return storage.records.put(record)


# --- records ---------------------------------------------------------------------------------------------


def test_a_record_reads_back_whole_and_someone_elses_reads_as_missing(storage):
    make(storage, 1, prompt="A Lighthouse")
    got = storage.records.get(jid(1))
    assert got is not None and got.prompt == "A Lighthouse" and got.owner == ALICE
    assert storage.records.get_for_owner(jid(1), ALICE) is not None
    assert storage.records.get_for_owner(jid(1), BOB) is None
    assert storage.records.get(jid(2)) is None


def test_history_pages_run_newest_first_with_cursors_and_never_repeat(storage):
    for n in range(1, 26):
        make(storage, n)
    make(storage, 99, BOB)
    seen, cursor = [], None
    while True:
        page = storage.records.list_jobs(ALICE, cursor=cursor, limit=7)
        seen += [r.id for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [jid(n) for n in range(25, 0, -1)]
    assert storage.records.count_jobs(ALICE) == 25 and storage.records.count_jobs(BOB) == 1
    with pytest.raises(ValueError):
        storage.records.list_jobs(ALICE, cursor="not-a-cursor")


def test_jobs_created_at_the_same_instant_are_paged_by_id(storage):
    for n in range(1, 6):
        make(storage, n, created=500.0)
    first = storage.records.list_jobs(ALICE, limit=2)
    rest = storage.records.list_jobs(ALICE, cursor=first.next_cursor, limit=10)
    assert [r.id for r in first.items + rest.items] == [jid(n) for n in range(5, 0, -1)]


def test_search_finds_prompts_containing_the_words_case_insensitively(storage):
    make(storage, 1, prompt="A red FOX at dawn")
    make(storage, 2, prompt="a lighthouse")
    make(storage, 3, prompt="Foxglove in bloom")
    page = storage.records.list_jobs(ALICE, query=" fox ")
    assert [r.id for r in page.items] == [jid(3), jid(1)]
    assert storage.records.count_jobs(ALICE, query="fox") == 2


def test_a_job_never_moves_to_another_owner(storage):
    make(storage, 1)
    with pytest.raises(OwnerMismatch):
        storage.records.put(JobRecord.create(jid(1), BOB, request={"prompt": "x"}, now=5.0))
    assert storage.records.get(jid(1)).owner == ALICE
    with pytest.raises(ValueError):
        storage.records.update(jid(1), lambda r: setattr(r, "owner", BOB))


def test_update_runs_once_per_call_and_loses_no_change_across_threads(storage):
    make(storage, 1)
    calls = []

    def bump(record):
        calls.append(1)
        record.request["n"] = record.request.get("n", 0) + 1

    threads = [threading.Thread(target=lambda: [storage.records.update(jid(1), bump) for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert storage.records.get(jid(1)).request["n"] == 40
    assert len(calls) == 40


def test_update_of_a_missing_record_raises_and_a_failing_function_changes_nothing(storage):
    with pytest.raises(RecordNotFound):
        storage.records.update(jid(7), lambda r: None)
    make(storage, 1)

    def broken(record):
        record.request["prompt"] = "changed"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        storage.records.update(jid(1), broken)
    assert storage.records.get(jid(1)).prompt == "a red fox"


def test_children_unsettled_in_flight_and_intents(storage):
    make(storage, 1, state=RecordState.SUCCEEDED)
    child = make(storage, 2, kind="button", parent_id=jid(1), button="U1")
    make(storage, 3, BOB, kind="button", parent_id=jid(1), button="V1")
    intent = storage.records.put(JobRecord.intent(ALICE, request={"prompt": "later"}, now=2000.0))
    assert [r.id for r in storage.records.children(jid(1))] == [jid(2), jid(3)]
    assert [r.id for r in storage.records.children(jid(1), owner=ALICE)] == [jid(2)]
    assert {r.id for r in storage.records.unsettled()} == {jid(2), jid(3), intent.id}
    assert {r.id for r in storage.records.in_flight()} == {jid(2), jid(3)}
    assert [r.id for r in storage.records.intents()] == [intent.id]
    storage.records.update(child.id, lambda r: r.set_state(RecordState.FAILED, at=3000.0))
    assert child.id not in {r.id for r in storage.records.unsettled()}


def test_replace_swaps_an_intent_for_its_jobs_and_keeps_a_job_stored_meanwhile(storage):
    intent = storage.records.put(JobRecord.intent(ALICE, request={"prompt": "batch"}, now=100.0))
    adopted = storage.records.put(intent.adopt(jid(2), batch_index=1))
    storage.records.update(adopted.id, lambda r: r.set_state(RecordState.PROCESSING, at=101.0))
    storage.records.replace(intent.id, [intent.adopt(jid(1)), intent.adopt(jid(2), batch_index=1)])
    assert storage.records.get(intent.id) is None
    assert storage.records.get(jid(1)).state is RecordState.QUEUED
    assert storage.records.get(jid(2)).state is RecordState.PROCESSING  # kept as it was
    assert {r.id for r in storage.records.list_jobs(ALICE).items} == {jid(1), jid(2)}


def test_a_transaction_is_all_or_nothing(storage):
    make(storage, 1)
    with pytest.raises(RuntimeError):
        with storage.records.transaction():
            storage.records.update(jid(1), lambda r: r.request.update(prompt="changed"))
            storage.records.put(JobRecord.create(jid(2), ALICE, request={"prompt": "new"}, now=5.0))
            assert storage.records.get(jid(2)) is not None  # this thread sees its own writes
            raise RuntimeError("interrupted")
    assert storage.records.get(jid(1)).prompt == "a red fox"
    assert storage.records.get(jid(2)) is None
    with storage.records.transaction():
        storage.records.update(jid(1), lambda r: r.request.update(prompt="changed"))
        storage.records.put(JobRecord.create(jid(2), ALICE, request={"prompt": "new"}, now=5.0))
    assert storage.records.get(jid(1)).prompt == "changed" and storage.records.get(jid(2)) is not None


def test_delete_takes_only_the_owners_job_out_of_every_listing(storage):
    make(storage, 1)
    make(storage, 2, kind="button", parent_id=jid(1), button="U1")
    assert storage.records.delete(jid(2), BOB) is False
    assert storage.records.delete(jid(2), ALICE) is True
    assert storage.records.get(jid(2)) is None
    assert storage.records.children(jid(1)) == []
    assert [r.id for r in storage.records.list_jobs(ALICE).items] == [jid(1)]
    assert jid(2) not in {r.id for r in storage.records.unsettled()}


def _stored(record: JobRecord, nbytes: int, *, done: float) -> None:
    record.set_state(RecordState.SUCCEEDED, at=done)
    entry = record.image(0)
    entry.state, entry.nbytes = ImageState.STORED, nbytes
    entry.original = f"images/{record.id[:2]}/{record.id}/0.png"


def test_byte_totals_and_eviction_order_follow_the_records(storage):
    for n, (owner, nbytes, done) in enumerate([(ALICE, 100, 30.0), (ALICE, 50, 10.0), (BOB, 7, 20.0)], start=1):
        make(storage, n, owner)
        storage.records.update(jid(n), lambda r, b=nbytes, d=done: _stored(r, b, done=d))
    assert storage.records.original_bytes() == 157
    assert storage.records.owner_bytes(ALICE) == 150
    assert storage.records.bytes_by_owner() == {ALICE: 150, BOB: 7}
    assert storage.records.evictable(ALICE, 100.0) == [jid(2), jid(1)]
    assert storage.records.evictable(ALICE, 20.0) == [jid(2)]
    storage.records.delete(jid(1), ALICE)
    assert storage.records.original_bytes() == 57 and storage.records.bytes_by_owner() == {ALICE: 50, BOB: 7}


# --- documents -------------------------------------------------------------------------------------------


def test_documents_compare_and_set(storage):
    docs = storage.documents
    assert docs.read("limits").value is None and docs.version("limits") is None
    v1 = docs.write("limits", {"spends": [1]}, expected=None)
    with pytest.raises(Conflict):
        docs.write("limits", {"spends": []}, expected=None)
    v2 = docs.write("limits", {"spends": [1, 2]}, expected=v1)
    with pytest.raises(Conflict):
        docs.write("limits", {"spends": []}, expected=v1)
    assert docs.read("limits").value == {"spends": [1, 2]} and docs.version("limits") == v2
    docs.delete("limits")
    assert docs.read("limits").value is None
    with pytest.raises(ValueError):
        docs.read("../etc/passwd")
    with pytest.raises(TypeError):
        docs.write("limits", {1, 2}, expected=None)


def test_documents_lose_no_change_when_threads_write_together(storage):
    def add(n):
        for _ in range(10):
            update_document(storage.documents, "demo/counts", lambda v: (v or 0) + 1, attempts=500)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert storage.documents.read("demo/counts").value == 40


# --- leases ----------------------------------------------------------------------------------------------


def test_a_lease_has_one_holder_until_released(storage):
    lease = storage.leases.acquire("poll/abc", ttl=60)
    assert lease is not None and storage.leases.held("poll/abc")
    assert storage.leases.acquire("poll/abc", ttl=60) is None
    assert lease.renew() is True
    lease.release()
    assert not storage.leases.held("poll/abc")
    again = storage.leases.acquire("poll/abc", ttl=60)
    assert again is not None
    again.release()


def test_a_lease_lapses_after_its_ttl_and_a_kept_one_stays(storage):
    short = storage.leases.acquire("download/x", ttl=0.3)
    kept = storage.leases.acquire("webhook/y", ttl=30)
    kept.keep()
    time.sleep(0.6)
    assert not storage.leases.held("download/x")
    assert short.renew() is False
    assert storage.leases.held("webhook/y") and storage.leases.acquire("webhook/y", ttl=30) is None


# --- events ----------------------------------------------------------------------------------------------


def test_subscribers_hear_what_is_published_starting_with_where_the_job_is(storage):
    record = make(storage, 1)
    with storage.events.subscribe([jid(1)], current=storage.records.get) as sub:
        first = sub.get(timeout=5)
        assert first.job_id == jid(1) and type(first).__name__ == "Current"
        storage.events.publish([Queued(record), ImageReady(record, 2)])
        got = [sub.get(timeout=5), sub.get(timeout=5)]
        assert [type(e) for e in got] == [Queued, ImageReady] and got[1].index == 2
        assert sub.get(timeout=0.2) is None  # each event once


# --- blobs -----------------------------------------------------------------------------------------------


def test_blobs_put_open_list_and_delete(storage):
    blobs = storage.blobs
    blobs.put("uploads/aaa.png", b"first")
    blobs.put("uploads/bbb.png", b"second!")
    blobs.put(f"images/ab/{jid(1)}/0.png", b"img")
    blobs.put(f"images/ab/{jid(1)}/0.preview.webp", b"pv")
    with blobs.open("uploads/aaa.png") as f:
        assert f.read() == b"first"
    assert blobs.exists("uploads/bbb.png") and blobs.size("uploads/bbb.png") == 7
    assert [b.key for b in blobs.list("uploads/")] == ["uploads/aaa.png", "uploads/bbb.png"] or \
        sorted(b.key for b in blobs.list("uploads/")) == ["uploads/aaa.png", "uploads/bbb.png"]
    path = blobs.local_path("uploads/aaa.png")
    assert path is not None and path.read_bytes() == b"first"
    assert blobs.delete("uploads/aaa.png") == 5 and not blobs.exists("uploads/aaa.png")
    assert blobs.delete("uploads/aaa.png") == 0
    assert blobs.delete_prefix(f"images/ab/{jid(1)}/") == 5
    assert not blobs.exists(f"images/ab/{jid(1)}/0.png")
    with pytest.raises(BlobNotFound):
        blobs.open("uploads/aaa.png")
    assert blobs.local_path("uploads/nothing.png") is None
    for bad in ("../x", "/etc/passwd", "a/../../b", "uploads\\x"):
        with pytest.raises(ValueError):
            blobs.put(bad, b"x")


# --- slots -----------------------------------------------------------------------------------------------


def test_slots_give_a_burst_at_once_then_one_turn_per_gap(storage):
    waits = [storage.slots.take("polls/contract", gap=0.5, burst=1.0) for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]  # one second's worth of turns (two) at once
    assert waits[2] == pytest.approx(0.5, abs=0.1) and waits[3] == pytest.approx(1.0, abs=0.1)
    assert waits[4] == pytest.approx(1.5, abs=0.1)
    assert storage.slots.take("polls/another", gap=0.5, burst=0.5) == 0.0  # each name its own turns
    time.sleep(0.3)
    assert storage.slots.take("polls/contract", gap=0.5, burst=1.0) == pytest.approx(1.7, abs=0.1)


def test_two_replicas_on_one_redis_take_turns_from_one_rate(shared_servers, tmp_path):
    from akool_ui.adapters.shared import SharedStorage
    from akool_ui.settings import Settings
    from shared_servers import shared_env, unique_prefix

    env = shared_env(shared_servers, unique_prefix())
    one = SharedStorage.from_settings(Settings.from_env({**env, "AKOOL_CACHE_DIR": str(tmp_path / "one")}))
    two = SharedStorage.from_settings(Settings.from_env({**env, "AKOOL_CACHE_DIR": str(tmp_path / "two")}))
    try:
        waits = [(one if i % 2 else two).slots.take("polls/server", gap=0.5, burst=0.5) for i in range(4)]
        assert waits[0] == 0.0
        assert waits[1:] == pytest.approx([0.5, 1.0, 1.5], abs=0.1)  # one queue of turns, not one each
        for nonsense in (b"not a time", b"1e300"):  # a damaged key: the turns start again from now
            one._redis.set(one.keys("slots", "polls/server"), nonsense)
            assert two.slots.take("polls/server", gap=0.5, burst=0.5) == 0.0
    finally:
        one.close()
        two.close()


def test_a_poke_reaches_the_other_replicas_never_its_sender(shared_servers, tmp_path):
    from akool_ui.adapters.shared import SharedStorage
    from akool_ui.settings import Settings
    from shared_servers import shared_env, unique_prefix

    env = shared_env(shared_servers, unique_prefix())
    one = SharedStorage.from_settings(Settings.from_env({**env, "AKOOL_CACHE_DIR": str(tmp_path / "one")}))
    two = SharedStorage.from_settings(Settings.from_env({**env, "AKOOL_CACHE_DIR": str(tmp_path / "two")}))
    heard_one, heard_two = [], []
    try:
        one.events.on_poke(lambda job_id, status: heard_one.append((job_id, status)))
        two.events.on_poke(lambda job_id, status: heard_two.append((job_id, status)))
        one._redis.publish(one.events.channel, b'{"from": "x", "poke": 5}')  # malformed: dropped, no handler
        one.events.poke(jid(7), 3)
        deadline = time.monotonic() + 5
        while not heard_two and time.monotonic() < deadline:
            time.sleep(0.02)
        assert heard_two == [(jid(7), 3)] and heard_one == []
    finally:
        one.close()
        two.close()


def test_the_local_event_bus_has_no_one_to_poke(tmp_path):
    with LocalStorage(JobStore(tmp_path / "cache")) as local:
        heard = []
        local.events.on_poke(lambda job_id, status: heard.append(job_id))
        local.events.poke(jid(1), 3)
        assert heard == []  # its jobs are polled in the process their callbacks reach
