"""The ports: what the service needs from storage, as ``typing.Protocol``s (the shape of httpx's
``BaseTransport``). The service is written against these; an adapter implements them.

    JobRecords   job records: get / list a page / put / atomic update, filed by owner
    Blobs        image bytes by key: put / open / url / delete
    Documents    small JSON documents by name, with compare-and-set (ledger, durations, favourites, keys)
    Leases       "this one does it": who polls or downloads a job, a webhook payload seen once
    EventBus     job events: publish, and subscribe to some jobs
    Slots        evenly spaced turns at a rate shared by everyone on the store (a credential's polls)

``akool_ui.adapters.local`` is today's engine behind them (diskcache + SQLite for records, files for
blobs, one JSON file per document with a lock file for compare-and-set, leases in a small SQLite file,
in-process events and slots); ``bootstrap`` is the one place that chooses and builds an adapter. Nothing in
``service`` names diskcache, SQLite or a file path.

Errors an adapter raises are the ones below (``RecordNotFound``, ``OwnerMismatch``, ``BlobNotFound``,
``Conflict``, ``StorageUnavailable``), so the service catches the same exceptions whatever is behind the
port.
"""

from __future__ import annotations

import random
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Protocol, TypeVar, runtime_checkable

from ..jobs import JobRecord, Page
from ..jobs.events import JobEvent

__all__ = [
    "Storage", "JobRecords", "Blobs", "BlobInfo", "Documents", "Leases", "Lease", "EventBus", "Subscription", "Slots",
    "Versioned", "StorageError", "RecordNotFound", "OwnerMismatch", "BlobNotFound", "Conflict", "StorageUnavailable",
    "update_document", "updated_record", "backoff", "gcra",
]

T = TypeVar("T")


class StorageError(Exception):
    """A storage adapter could not do what was asked (the message never holds a secret)."""


class RecordNotFound(StorageError, LookupError):
    """No readable record with that id."""


class OwnerMismatch(StorageError, PermissionError):
    """A write would change which owner a job belongs to."""


class BlobNotFound(StorageError, FileNotFoundError):
    """No blob under that key."""


class Conflict(StorageError):
    """A compare-and-set lost: the document changed since it was read."""


class StorageUnavailable(StorageError, OSError):
    """The storage could not be read or written (disk full, permissions, network): nothing was changed.
    An ``OSError`` too, so callers written against files (``except OSError``) still catch it."""


@runtime_checkable
class JobRecords(Protocol):
    """Job records (one per Akool job or write-ahead intent), filed by owner for history pages.

    ``update`` is a read-modify-write that no other writer can interleave with, across threads and
    processes (and machines, for a shared adapter); ``transaction`` groups several writes of this thread
    so they are durable together or not at all."""

    def get(self, job_id: str) -> JobRecord | None: ...
    def get_for_owner(self, job_id: str, owner: str) -> JobRecord | None: ...
    def list_jobs(self, owner: str, *, cursor: str | None = None, limit: int = 20,
                  query: str | None = None) -> Page[JobRecord]: ...
    def count_jobs(self, owner: str, *, query: str | None = None) -> int: ...
    def children(self, job_id: str, *, owner: str | None = None) -> list[JobRecord]: ...
    def unsettled(self) -> list[JobRecord]: ...
    def in_flight(self) -> list[JobRecord]: ...
    def intents(self) -> list[JobRecord]: ...
    def put(self, record: JobRecord) -> JobRecord: ...
    def put_many(self, records: Iterable[JobRecord]) -> list[JobRecord]: ...
    def replace(self, intent_id: str, records: Iterable[JobRecord]) -> None: ...
    def update(self, job_id: str, fn: Callable[[JobRecord], Any]) -> JobRecord: ...
    def delete(self, job_id: str, owner: str) -> bool: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    # What the records say about stored originals (each entry's ``nbytes``), for the size limits.
    def original_bytes(self) -> int: ...
    def owner_bytes(self, owner: str) -> int: ...
    def bytes_by_owner(self) -> dict[str, int]: ...
    def evictable(self, owner: str, cutoff: float) -> list[str]:
        """``owner``'s ids with originals, done at or before ``cutoff``; oldest completion first."""
        ...


@runtime_checkable
class Blobs(Protocol):
    """Bytes by key (``images/<id[:2]>/<id>/<n>.<ext>``, ``uploads/<token>.png``): written whole, never
    appended; a key names one immutable value until it is deleted."""

    def put(self, key: str, data: bytes) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> int:
        """Remove it (gone already is fine); the bytes freed."""
        ...
    def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under ``prefix`` (``images/ab/<id>/``); the bytes freed."""
        ...
    def list(self, prefix: str) -> list["BlobInfo"]:
        """The blobs directly under ``prefix`` (``uploads/``), oldest first."""
        ...
    def url(self, key: str) -> str | None:
        """Where a browser or Akool may fetch it directly (a presigned URL), or None: serve it ourselves."""
        ...
    def local_path(self, key: str) -> Path | None:
        """A file on this machine holding it (the local adapter; None when there is none)."""
        ...


@dataclass(frozen=True)
class BlobInfo:
    """One blob as listed: its key, size and when it was written (epoch seconds)."""

    key: str
    size: int
    modified: float


@dataclass(frozen=True)
class Versioned:
    """A document as read: its JSON value (None when absent) and the version to compare-and-set against.
    The value stays out of the repr: some documents hold keys (``owner-key``, ``demo/account``)."""

    value: Any = field(repr=False)
    version: str | None


@runtime_checkable
class Documents(Protocol):
    """Small JSON documents by name (``limits``, ``durations``, ``favourites``, ``shares``, ``owner-key``,
    ``demo/account``, ``trash``, ``poll-slowdown``), each read and written whole, with compare-and-set so
    two writers (threads, processes) never lose each other's change.

    Names are letters, digits, ``-`` and ``_``, with ``/`` between parts. A value is anything JSON holds
    (bytes go as base64 text). A document an adapter cannot decode reads as absent (``Versioned(None,
    None)``), logged once; writing it again replaces it (the local adapter keeps the damaged one aside)."""

    def read(self, name: str) -> Versioned: ...
    def version(self, name: str) -> str | None:
        """The version ``read`` would return now (None: absent), without decoding the value: cheap, so a
        reader can keep the value it parsed and read again only when this changed."""
        ...
    def write(self, name: str, value: Any, *, expected: str | None) -> str:
        """Write ``value`` if the document is still at version ``expected`` (None: absent); its new version.

        Raises:
            Conflict: someone else wrote it since.
        """
        ...
    def delete(self, name: str) -> None: ...


# After a lost compare-and-set, a random pause (doubling, at most this long) before the next try, so two
# writers that keep colliding fall out of step instead of colliding again.
MAX_BACKOFF_SECONDS = 0.05


def backoff(attempt: int) -> None:
    """Sleep a random while after losing compare-and-set ``attempt`` (0 first): up to 1 ms, doubling."""
    time.sleep(random.uniform(0.0, min(MAX_BACKOFF_SECONDS, 0.001 * 2 ** attempt)))


def update_document(documents: Documents, name: str, fn: Callable[[Any], T], *, attempts: int = 20) -> T:
    """Read-modify-write one document with compare-and-set, again on a conflict: ``fn(value)`` returns the
    new value (``value`` is None when the document is absent)."""
    for attempt in range(max(1, attempts)):
        current = documents.read(name)
        new = fn(current.value)
        try:
            documents.write(name, new, expected=current.version)
            return new
        except Conflict:
            backoff(attempt)
    raise Conflict(f"document {name!r} kept changing; gave up after {attempts} attempts")


@runtime_checkable
class Lease(Protocol):
    """A held lease: renew it while the work goes on, release it when done (or ``keep`` it)."""

    name: str

    def renew(self) -> bool:
        """Start its ttl again; False if it was lost meanwhile (expired and taken)."""
        ...
    def release(self) -> None:
        """Give it up now (a no-op if it was lost meanwhile)."""
        ...
    def keep(self) -> None:
        """The work is done and the name stays taken until the ttl ends, whatever becomes of this holder:
        no takeover when it dies (a webhook payload accepted once stays refused for its window)."""
        ...


@runtime_checkable
class Leases(Protocol):
    """Named leases with an expiry: at most one holder at a time; a holder that dies loses it when it
    expires (or at once, where the adapter can tell)."""

    def acquire(self, name: str, *, ttl: float) -> Lease | None:
        """The lease, or None when someone else holds it."""
        ...
    def held(self, name: str) -> bool: ...


@runtime_checkable
class Subscription(Protocol):
    """Some jobs' events as they happen (starting with one ``Current`` each); close it to stop."""

    job_ids: list[str]

    @property
    def done(self) -> bool: ...
    @property
    def records(self) -> dict[str, JobRecord]: ...
    def get(self, timeout: float | None = None) -> JobEvent | None: ...
    async def aget(self, timeout: float | None = None) -> JobEvent | None: ...
    def close(self) -> None: ...


@runtime_checkable
class EventBus(Protocol):
    """Where job events go: whoever changed a record publishes, every page watching it hears; and pokes,
    a callback heard by a process that does not poll the job, passed to the one that does."""

    def publish(self, events: list[JobEvent]) -> None: ...
    def subscribe(self, job_ids: list[str], *, current: Callable[[str], JobRecord | None]) -> Subscription: ...
    def poke(self, job_id: str, status: int) -> None:
        """Tell the other processes Akool called back about ``job_id`` (``status``: 2 processing, 3 done,
        4 failed) where it is not polled, so the one that polls it looks now."""
        ...
    def on_poke(self, handler: Callable[[str, int], None]) -> None:
        """``handler(job_id, status)`` for each poke from another process (called from a listener thread)."""
        ...


@runtime_checkable
class Slots(Protocol):
    """Turns evenly spaced in time, counted by everyone on the store (GCRA, the generic cell rate
    algorithm): one Akool credential's polls from every replica draw on one rate, as Akool counts them."""

    def take(self, name: str, *, gap: float, burst: float) -> float:
        """Take ``name``'s next turn, ``gap`` seconds after the one before; turns left unused add up to
        ``burst`` seconds' worth (``burst / gap`` turns) that go at once: seconds until it comes (0: now)."""
        ...


def updated_record(record: JobRecord, fn: Callable[[JobRecord], Any]) -> JobRecord:
    """``JobRecords.update``'s rule, for every adapter: ``fn`` changes ``record`` in place (or returns a
    record to store instead), and never its id or owner."""
    job_id, owner = record.id, record.owner
    result = fn(record)
    if isinstance(result, JobRecord):
        record = result
    if record.id != job_id or record.owner != owner:
        raise ValueError("update() must not change a record's id or owner")
    return record


def gcra(due: float | None, now: float, gap: float, burst: float) -> tuple[float, float]:
    """One ``Slots.take`` by GCRA, for adapters that keep the time a name's next turn is ``due`` (None:
    never taken): (seconds until this turn, when the turn after it is due)."""
    due = now if due is None or due < now else due
    wait = due - burst + gap - now
    return (wait if wait > 1e-6 else 0.0), due + gap  # float dust is not a wait


@runtime_checkable
class Storage(Protocol):
    """One adapter's ports together, as bootstrap opens them, closed together."""

    records: JobRecords
    blobs: Blobs
    documents: Documents
    leases: Leases
    events: EventBus
    slots: Slots

    def private_folders(self) -> list[Path]:
        """Folders of this machine that must never be served as files (none for a remote store)."""
        ...
    def tidy(self) -> int:
        """Remove what an interrupted write left behind; how many things."""
        ...
    def close(self) -> None: ...
