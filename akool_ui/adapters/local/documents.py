"""``LocalDocuments``: the ``Documents`` port as one JSON file per document in the data folder.

``limits`` is ``<folder>/limits.json``, ``demo/account`` is ``<folder>/demo/account.json``: the files the
app wrote before this port existed, read as they are. A document's version is a digest of its file's
bytes, so any process computes the same version from the same content and a hand edit counts as a change.

Compare-and-set: ``write`` holds the document's lock file (``fcntl.flock``, exclusive across processes;
a thread lock too) while it reads the file again, compares its digest with ``expected`` and swaps the new
content in with ``write_atomic``. Readers take no lock: a rename swaps the whole file, so they see the
old content or the new. Files are 0600 in 0700 folders.

A file that does not decode reads as absent, with one warning; it is not touched until the document is
written again, and then kept aside (``<name>.json.damaged-<time>``) rather than overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ...fileio import write_atomic
from ...service.ports import Conflict, StorageUnavailable, Versioned

__all__ = ["LocalDocuments", "check_name", "encode", "digest", "LOCK_FOLDER"]

log = logging.getLogger(__name__)

# Lock files live apart from the documents (bootstrap may put them on local disk when the data is not).
LOCK_FOLDER = ".locks"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,3}")
# Digests of contents already decoded (True) or found damaged (False): ``version`` need not parse again.
_CHECKED_MAX = 1024
# flock errors meaning "this filesystem has no locks" (some FUSE and network mounts): thread lock only.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}

Legacy = tuple[str, Callable[[bytes], Any]]
"""A document an older version kept in a file of its own format: (path relative to the folder, a function
from that file's bytes to the document's value, or None when they are unusable)."""


def check_name(name: str) -> str:
    """``name`` if it may name a document (letters, digits, ``-``, ``_``; ``/`` between up to 4 parts)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"not a document name: {name!r}"[:120])
    return name


def encode(value: Any) -> bytes:
    """A value as the bytes of its document (compact JSON; NaN and other non-JSON refused)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a document holds JSON only: {exc}") from None


def digest(raw: bytes) -> str:
    """The version of a document with these bytes."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


class LocalDocuments:
    """Documents as JSON files under ``folder``, compare-and-set across threads and processes on this machine.

    ``lock_folder`` (default ``<folder>/.locks``) holds one lock file per document; every process sharing
    the documents must use the same one. ``legacy`` maps a document name to the file an older version kept
    it in (``Legacy``): read once, when the document is found absent, and left in place (an older version
    run on the same folder still finds it).
    """

    def __init__(self, folder: str | os.PathLike[str], *, lock_folder: str | os.PathLike[str] | None = None,
                 legacy: Mapping[str, Legacy] | None = None):
        self.folder = Path(folder).expanduser().absolute()
        self.lock_folder = Path(lock_folder).expanduser().absolute() if lock_folder else self.folder / LOCK_FOLDER
        self._legacy = {check_name(name): item for name, item in (legacy or {}).items()}
        self._guard = threading.Lock()
        self._thread_locks: dict[str, threading.Lock] = {}
        self._checked: OrderedDict[str, bool] = OrderedDict()
        self._no_flock_warned = False

    def __repr__(self) -> str:
        return f"LocalDocuments({str(self.folder)!r})"

    def path_of(self, name: str) -> Path:
        """The file holding document ``name``."""
        return self.folder / f"{check_name(name)}.json"

    # --- the port ------------------------------------------------------------------------------------

    def read(self, name: str) -> Versioned:
        raw = self._raw_or_legacy(name)
        if raw is None:
            return Versioned(None, None)
        version = digest(raw)
        value = self._decode(name, raw, version)
        return Versioned(None, None) if value is _DAMAGED else Versioned(value, version)

    def version(self, name: str) -> str | None:
        raw = self._raw_or_legacy(name)
        return None if raw is None else self._version_of(name, raw)

    def write(self, name: str, value: Any, *, expected: str | None) -> str:
        data = encode(value)
        path = self.path_of(name)
        with self._locked(name):
            raw = self._raw(path)
            if raw is None and name in self._legacy:
                raw = self._import_legacy(name, path)
            current = None if raw is None else self._version_of(name, raw)
            if current != expected:
                raise Conflict(f"document {name!r} changed since it was read")
            try:
                if raw is not None and current is None:
                    self._keep_aside(name, path)
                _private_dirs(path.parent)
                write_atomic(path, data)
            except OSError as exc:
                raise StorageUnavailable(f"document {name!r} could not be written: {exc.strerror or exc}") from None
        version = digest(data)
        self._remember(version, True)
        return version

    def delete(self, name: str) -> None:
        path = self.path_of(name)
        with self._locked(name):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StorageUnavailable(f"document {name!r} could not be deleted: {exc.strerror or exc}") from None

    # --- reading ------------------------------------------------------------------------------------

    def _raw(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            name = path.relative_to(self.folder).with_suffix("").as_posix()
            raise StorageUnavailable(f"document {name!r} could not be read: {exc.strerror or exc}") from None

    def _raw_or_legacy(self, name: str) -> bytes | None:
        path = self.path_of(name)
        raw = self._raw(path)
        if raw is None and name in self._legacy:
            with self._locked(name):
                raw = self._raw(path)
                if raw is None:
                    raw = self._import_legacy(name, path)
        return raw

    def _import_legacy(self, name: str, path: Path) -> bytes | None:
        """Write the document from its legacy file, if there is a usable one (the caller holds the lock)."""
        relative, convert = self._legacy[name]
        try:
            old = (self.folder / relative).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"document {name!r} could not be read: {exc.strerror or exc}") from None
        value = convert(old)
        if value is None:
            return None
        data = encode(value)
        try:
            _private_dirs(path.parent)
            write_atomic(path, data)
        except OSError as exc:
            raise StorageUnavailable(f"document {name!r} could not be written: {exc.strerror or exc}") from None
        log.info("document %r made from the file an older version kept it in (that file is left as it was)", name)
        return data

    def _decode(self, name: str, raw: bytes, version: str) -> Any:
        try:
            value = json.loads(raw)
        except ValueError:
            self._damaged(name, version)
            return _DAMAGED
        self._remember(version, True)
        return value

    def _version_of(self, name: str, raw: bytes) -> str | None:
        """The version of these bytes, or None when they do not decode (a damaged document reads as absent)."""
        version = digest(raw)
        with self._guard:
            known = self._checked.get(version)
        if known is None:
            known = self._decode(name, raw, version) is not _DAMAGED
        return version if known else None

    def _remember(self, version: str, good: bool) -> None:
        with self._guard:
            self._checked[version] = good
            self._checked.move_to_end(version)
            while len(self._checked) > _CHECKED_MAX:
                self._checked.popitem(last=False)

    def _damaged(self, name: str, version: str) -> None:
        with self._guard:
            seen = self._checked.get(version) is False
        if not seen:
            log.warning("document %r is damaged (not JSON): it reads as absent, and is kept aside when next "
                        "written", name)
        self._remember(version, False)

    def _keep_aside(self, name: str, path: Path) -> None:
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        os.replace(path, aside)
        log.warning("damaged document %r kept aside as %s", name, aside.name)

    # --- locking ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """The document's thread lock and its lock file (``flock``: released by the kernel if we die)."""
        with self._guard:
            thread_lock = self._thread_locks.setdefault(name, threading.Lock())
        with thread_lock:
            lock_path = self.lock_folder / f"{name}.lock"
            try:
                _private_dirs(lock_path.parent)
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            except OSError as exc:
                raise StorageUnavailable(f"document {name!r} could not be locked: {exc.strerror or exc}") from None
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError as exc:
                    if exc.errno not in _NO_LOCKS:
                        raise StorageUnavailable(f"document {name!r} could not be locked: {exc.strerror}") from None
                    self._warn_no_flock()
                yield
            finally:
                os.close(fd)  # closing the last descriptor releases the flock

    def _warn_no_flock(self) -> None:
        if not self._no_flock_warned:
            self._no_flock_warned = True
            log.warning("the filesystem of %s has no file locks: documents are safe across threads, not across "
                        "processes", self.lock_folder)


class _Damaged:
    """What a damaged file decodes to (no JSON value is this object)."""


_DAMAGED = _Damaged()


def _private_dirs(folder: Path) -> None:
    """Make ``folder`` and its missing parents, each mode 0700."""
    missing = []
    current = folder
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # the umask may have taken bits off
