"""The local adapter's documents and leases (``akool_ui/adapters/local``): compare-and-set that loses no
update across threads and processes, damaged files read as absent and kept aside, names checked, files
private; leases exclusive across processes, expiring, released, kept, and taken over from a killed holder.
The in-memory doubles are held to the same rules."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from akool_ui.adapters.local import LocalDocuments, LocalLeases, MemoryDocuments, MemoryLeases
from akool_ui.adapters.local import documents as documents_module
from akool_ui.service.identity.owners import OWNER_KEY_DOCUMENT, load_owner_key, owner_key_document
from akool_ui.service.ports import Conflict, Documents, Leases, StorageUnavailable, Versioned, update_document

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["local", "memory"])
def documents(request, tmp_path) -> Documents:
    return LocalDocuments(tmp_path / "data") if request.param == "local" else MemoryDocuments()


def _python(code: str, *args: str) -> subprocess.Popen:
    """A fresh interpreter running ``code`` (this checkout first on its path)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- documents ----------------------------------------------------------------------------------------


def test_a_document_is_written_only_over_the_version_it_was_read_at(documents):
    assert isinstance(documents, Documents)
    assert documents.read("limits") == Versioned(None, None) and documents.version("limits") is None
    first = documents.write("limits", {"n": 1, "who": ["a"]}, expected=None)
    assert documents.read("limits") == Versioned({"n": 1, "who": ["a"]}, first) == Versioned(
        {"n": 1, "who": ["a"]}, documents.version("limits"))
    with pytest.raises(Conflict):
        documents.write("limits", {"n": 2}, expected=None)  # it exists now
    second = documents.write("limits", {"n": 2}, expected=first)
    assert second != first
    with pytest.raises(Conflict):
        documents.write("limits", {"n": 3}, expected=first)  # someone wrote since
    assert documents.read("limits").value == {"n": 2}
    documents.read("limits").value["n"] = 99  # a read hands out a copy
    assert documents.read("limits").value == {"n": 2}
    documents.delete("limits")
    documents.delete("limits")  # twice is harmless
    assert documents.read("limits") == Versioned(None, None)


def test_compare_and_set_under_threads_loses_no_update(documents):
    def add_one() -> None:
        for _ in range(40):
            update_document(documents, "counter", lambda n: (n or 0) + 1, attempts=1000)

    threads = [threading.Thread(target=add_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert documents.read("counter").value == 320


_INCREMENT = """
import sys
from akool_ui.adapters.local import LocalDocuments
from akool_ui.service.ports import Conflict
docs, lost = LocalDocuments(sys.argv[1]), 0
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[2])):
    while True:
        current = docs.read("counter")
        try:
            docs.write("counter", {"n": (current.value or {"n": 0})["n"] + 1}, expected=current.version)
            break
        except Conflict:
            lost += 1
print("conflicts", lost, flush=True)
"""


def test_two_processes_incrementing_one_document_lose_no_update(tmp_path):
    n = 150
    workers = [_python(_INCREMENT, str(tmp_path), str(n)) for _ in range(2)]
    for w in workers:
        assert w.stdout.readline().strip() == "ready"
    for w in workers:  # both start together
        w.stdin.write("go\n")
        w.stdin.flush()
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    # without compare-and-set, every conflict a worker saw would have been an increment lost
    assert LocalDocuments(tmp_path).read("counter").value == {"n": 2 * n}


def test_the_files_are_the_documents_as_json_private_and_in_private_folders(tmp_path):
    docs = LocalDocuments(tmp_path / "data")
    assert not (tmp_path / "data").exists()  # nothing is made before the first write
    docs.write("demo/account", {"client_id": "c" * 24}, expected=None)
    path = tmp_path / "data" / "demo" / "account.json"
    assert json.loads(path.read_text()) == {"client_id": "c" * 24}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    for folder in (tmp_path / "data", path.parent, tmp_path / "data" / ".locks"):
        assert oct(folder.stat().st_mode & 0o777) == "0o700", folder
    # a file another version (or a person) wrote is read as it is, and its version follows its content
    path.write_text('{"client_id": "x"}')
    assert docs.read("demo/account").value == {"client_id": "x"}
    assert LocalDocuments(tmp_path / "data").version("demo/account") == docs.version("demo/account")


def test_lock_files_can_live_apart_from_the_documents(tmp_path):
    docs = LocalDocuments(tmp_path / "data", lock_folder=tmp_path / "locks")
    docs.write("trash", {}, expected=None)
    assert (tmp_path / "locks" / "trash.lock").exists() and not (tmp_path / "data" / ".locks").exists()


def test_a_damaged_file_reads_as_absent_with_one_warning_and_is_kept_aside_when_written(tmp_path, caplog):
    docs = LocalDocuments(tmp_path)
    (tmp_path / "favourites.json").write_bytes(b"{not json")
    with caplog.at_level(logging.WARNING):
        assert docs.read("favourites") == Versioned(None, None)
        assert docs.version("favourites") is None and docs.read("favourites").value is None
    assert caplog.text.count("document 'favourites' is damaged") == 1
    assert (tmp_path / "favourites.json").read_bytes() == b"{not json"  # reading changes nothing
    with pytest.raises(Conflict):
        docs.write("favourites", {}, expected="an old version")
    docs.write("favourites", {"alice": {}}, expected=None)
    assert docs.read("favourites").value == {"alice": {}}
    [aside] = tmp_path.glob("favourites.json.damaged-*")
    assert aside.read_bytes() == b"{not json"


@pytest.mark.parametrize("name", ["", "../limits", "/etc/passwd", "a.json", "a//b", "a/", "a b", "limits\n",
                                  "ünï", "a/b/c/d/e", "x" * 65, None, 7])
def test_names_that_are_not_document_names_are_refused(documents, name):
    with pytest.raises(ValueError):
        documents.read(name)
    with pytest.raises(ValueError):
        documents.write(name, {}, expected=None)


def test_only_json_values_are_stored(documents):
    for value in ({"when": float("nan")}, {"raw": b"\x00"}, {1, 2}):
        with pytest.raises(TypeError):
            documents.write("limits", value, expected=None)
    assert documents.read("limits") == Versioned(None, None)


def test_a_failed_write_is_storage_unavailable_and_changes_nothing(tmp_path, monkeypatch):
    docs = LocalDocuments(tmp_path)
    version = docs.write("limits", {"n": 1}, expected=None)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(documents_module, "write_atomic", broken)
    with pytest.raises(StorageUnavailable) as failed:
        docs.write("limits", {"n": 2}, expected=version)
    assert isinstance(failed.value, OSError) and "No space left" in str(failed.value)
    assert docs.read("limits") == Versioned({"n": 1}, version)


def test_the_owner_key_is_base64_in_its_document_and_an_old_raw_key_file_is_taken_over(tmp_path):
    raw = os.urandom(32)
    (tmp_path / "owner.key").write_bytes(raw)
    legacy = {OWNER_KEY_DOCUMENT: ("owner.key", owner_key_document)}
    assert load_owner_key(LocalDocuments(tmp_path, legacy=legacy)) == raw  # every visitor keeps their history
    assert (tmp_path / "owner.key").read_bytes() == raw  # left for an older version run on the same folder
    stored = json.loads((tmp_path / "owner-key.json").read_text())
    assert raw.hex() not in json.dumps(stored) and oct((tmp_path / "owner-key.json").stat().st_mode & 0o777) == "0o600"
    assert stored["key"] not in repr(LocalDocuments(tmp_path).read(OWNER_KEY_DOCUMENT))  # no key in a repr
    (tmp_path / "owner.key").write_bytes(os.urandom(32))  # imported once: the document is the key from now on
    assert load_owner_key(LocalDocuments(tmp_path, legacy=legacy)) == raw
    assert load_owner_key(LocalDocuments(tmp_path)) == raw


def test_a_short_old_key_file_is_not_a_key_and_a_fresh_folder_gets_one_stable_key(tmp_path):
    (tmp_path / "owner.key").write_bytes(b"short")
    legacy = {OWNER_KEY_DOCUMENT: ("owner.key", owner_key_document)}
    key = load_owner_key(LocalDocuments(tmp_path, legacy=legacy))
    assert len(key) == 32 and key != b"short"
    assert load_owner_key(LocalDocuments(tmp_path, legacy=legacy)) == key
    assert load_owner_key(MemoryDocuments()) != key


# --- leases -------------------------------------------------------------------------------------------


_HOLD = """
import sys
from akool_ui.adapters.local import LocalLeases
leases = LocalLeases(sys.argv[1])
lease = leases.acquire("job/7", ttl=float(sys.argv[2]))
if lease is not None and sys.argv[3] == "keep":
    lease.keep()
print("held" if lease else "refused", flush=True)
if sys.argv[3] == "wait":
    sys.stdin.readline()
    lease.release()
    print("released", flush=True)
"""


@pytest.fixture()
def lease_file(tmp_path) -> Path:
    return tmp_path / "index" / "leases.db"


def test_a_lease_is_exclusive_across_processes_until_released(lease_file):
    holder = _python(_HOLD, str(lease_file), "600", "wait")
    try:
        assert holder.stdout.readline().strip() == "held"
        leases = LocalLeases(lease_file)
        assert isinstance(leases, Leases)
        assert leases.acquire("job/7", ttl=60) is None and leases.held("job/7")
        assert _python(_HOLD, str(lease_file), "600", "exit").communicate(timeout=60)[0].strip() == "refused"
        assert leases.acquire("job/8", ttl=60) is not None  # another name is free
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert holder.wait(30) == 0
        assert leases.acquire("job/7", ttl=60) is not None
    finally:
        holder.kill()
        holder.wait(30)
    assert oct(lease_file.stat().st_mode & 0o777) == "0o600"
    assert oct(lease_file.parent.stat().st_mode & 0o777) == "0o700"


def test_a_killed_holders_lease_is_taken_over_at_once_but_a_kept_one_lasts_its_ttl(lease_file):
    holder = _python(_HOLD, str(lease_file), "600", "wait")
    assert holder.stdout.readline().strip() == "held"
    leases = LocalLeases(lease_file)
    assert leases.acquire("job/7", ttl=60) is None
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    assert not leases.held("job/7")
    taken = leases.acquire("job/7", ttl=60)
    assert taken is not None
    taken.release()
    # a kept lease (a webhook payload accepted) names no process: its holder's exit frees nothing
    kept = _python(_HOLD, str(lease_file), "600", "keep")
    assert kept.communicate(timeout=60)[0].strip() == "held" and kept.returncode == 0
    assert leases.acquire("job/7", ttl=60) is None and leases.held("job/7")


def test_local_leases_expire_renew_and_are_exclusive_across_threads(lease_file):
    clock = [1000.0]
    leases = LocalLeases(lease_file, clock=lambda: clock[0])
    other = LocalLeases(lease_file, clock=lambda: clock[0])  # another connection to the same file
    lease = leases.acquire("download/a", ttl=10)
    assert lease is not None and other.acquire("download/a", ttl=10) is None
    clock[0] += 9
    assert lease.renew()  # ten more seconds from now
    clock[0] += 9
    assert other.acquire("download/a", ttl=10) is None
    clock[0] += 2
    assert not other.held("download/a")
    taker = other.acquire("download/a", ttl=10)
    assert taker is not None and not lease.renew()  # lost: expired and taken
    lease.release()  # a no-op now: it is not ours
    assert other.held("download/a")
    taker.release()
    winners: list[object] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        got = leases.acquire("download/b", ttl=60)
        if got is not None:
            winners.append(got)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    leases.close()
    other.close()


def test_memory_leases_follow_the_same_rules():
    clock = [0.0]
    leases = MemoryLeases(clock=lambda: clock[0])
    assert isinstance(leases, Leases)
    lease = leases.acquire("webhook/x", ttl=5)
    assert lease is not None and leases.acquire("webhook/x", ttl=5) is None and leases.held("webhook/x")
    clock[0] += 4
    assert lease.renew()
    clock[0] += 6
    assert not leases.held("webhook/x") and not lease.renew()
    again = leases.acquire("webhook/x", ttl=5)
    lease.release()  # not ours any more
    assert leases.held("webhook/x")
    again.release()
    assert not leases.held("webhook/x")


def test_a_lease_file_that_cannot_be_opened_is_storage_unavailable(tmp_path):
    (tmp_path / "leases.db").mkdir()  # a folder where the file should be
    with pytest.raises(StorageUnavailable):
        LocalLeases(tmp_path / "leases.db").acquire("x", ttl=1)
