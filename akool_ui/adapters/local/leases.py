"""``LocalLeases``: the ``Leases`` port in a small SQLite file, exclusive across threads and processes on
this machine (as ``DownloadLock`` is on the store's diskcache).

One row per held lease: its name, the holder's token (``host:pid:random``) and when it expires (epoch
seconds, the same clock in every process). Taking a lease is one ``BEGIN IMMEDIATE`` transaction: the
row is written only if there is none, it has expired, or its holder was a process on this host that has
exited (killed holders are taken over at once, not after their ttl). A kept lease (``Lease.keep``) has a
token naming no process, so it lasts its ttl whoever dies.

The file belongs on local disk (SQLite's locks do not hold on network filesystems): bootstrap puts it
beside the store's index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

from ...service.ports import StorageUnavailable

__all__ = ["LocalLeases"]

log = logging.getLogger(__name__)

_HOST = socket.gethostname()
_KEPT = "kept"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS leases_expires ON leases (expires)",
)


def _holder_is_dead(token: str) -> bool:
    """Whether a token names a process on this host that has exited (never for a kept lease or ourselves)."""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host == _KEPT or host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but is not ours to signal
        return False
    return False


class _LocalLease:
    def __init__(self, leases: "LocalLeases", name: str, token: str, ttl: float):
        self.name, self._leases, self._token, self._ttl = name, leases, token, ttl

    def __repr__(self) -> str:
        return f"Lease({self.name!r})"

    def renew(self) -> bool:
        with self._leases._transaction() as db:
            now = self._leases._clock()
            changed = db.execute("UPDATE leases SET expires = ? WHERE name = ? AND token = ? AND expires > ?",
                                 (now + self._ttl, self.name, self._token, now)).rowcount
        return changed == 1

    def release(self) -> None:
        with self._leases._transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND token = ?", (self.name, self._token))

    def keep(self) -> None:
        kept = f"{_KEPT}:{uuid.uuid4().hex}"
        with self._leases._transaction() as db:
            db.execute("UPDATE leases SET token = ? WHERE name = ? AND token = ?", (kept, self.name, self._token))
        self._token = kept


class LocalLeases:
    """Named leases in the SQLite file ``path`` (made 0600 in a 0700 folder; opened on first use)."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time):
        self.path = Path(path).expanduser().absolute()
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"LocalLeases({str(self.path)!r})"

    def acquire(self, name: str, *, ttl: float) -> _LocalLease | None:
        token = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex}"
        with self._transaction() as db:
            now = self._clock()
            row = db.execute("SELECT token, expires FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[1] > now:
                if not _holder_is_dead(row[0]):
                    return None
                log.info("lease %r was held by a process that has exited; taken over", name)
            db.execute("INSERT OR REPLACE INTO leases (name, token, expires) VALUES (?, ?, ?)",
                       (name, token, now + float(ttl)))
            db.execute("DELETE FROM leases WHERE expires <= ?", (now,))  # by the index: cheap
        return _LocalLease(self, name, token, float(ttl))

    def held(self, name: str) -> bool:
        with self._transaction("BEGIN") as db:
            row = db.execute("SELECT token, expires FROM leases WHERE name = ?", (name,)).fetchone()
        return row is not None and row[1] > self._clock() and not _holder_is_dead(row[0])

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    @contextlib.contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction on the shared connection (``BEGIN IMMEDIATE``: other writers wait for it)."""
        with self._lock:
            try:
                db = self._db or self._open()
                db.execute(begin)
            except (sqlite3.Error, OSError) as exc:
                raise StorageUnavailable(f"the leases file could not be opened: {exc}") from None
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageUnavailable(f"a lease could not be read or written: {exc}") from None
                raise

    def _open(self) -> sqlite3.Connection:
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700)
            os.chmod(folder, 0o700)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives its -wal/-shm the same mode
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            db.execute(statement)
        self._db = db
        return db
