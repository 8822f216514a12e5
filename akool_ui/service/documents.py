"""``CachedDocument``: one ``Documents`` document kept parsed in memory and read again only when its
version changed, so a check that happens on every request costs a version look-up, not a parse.

Changes go through ``update``: the change is applied to the current value and written with
compare-and-set; when another process wrote first, the document is read again and the change applied
again. Without a ``Documents`` (``None``) the value lives in this process only.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Generic, TypeVar

from .ports import Conflict, Documents, backoff

__all__ = ["CachedDocument"]

S = TypeVar("S")
R = TypeVar("R")

_UNREAD = object()  # a version no document has: the next look reads it again


class CachedDocument(Generic[S]):
    """The parsed value of one document. Not locked by itself: its owner holds a lock around ``get`` and
    ``update`` (the value is changed in place)."""

    def __init__(self, documents: Documents | None, name: str, *, parse: Callable[[Any], S],
                 dump: Callable[[S], Any], max_age: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 attempts: int = 20):
        """``parse(value)`` makes the state from the document's JSON value (None when absent; it must cope
        with anything); ``dump(state)`` the other way. ``max_age``: seconds a look at the version is good for
        (0: look every time)."""
        self.documents = documents
        self.name = name
        self._parse, self._dump = parse, dump
        self._max_age = max_age
        self._clock = clock
        self._attempts = max(1, attempts)
        self._version: Any = _UNREAD if documents is not None else None
        self._looked = float("-inf")
        self._value: S = parse(None)
        self.changes = 0
        """Grows whenever the value changed (read anew or updated): owners cache what they derive by it."""

    def __repr__(self) -> str:
        return f"CachedDocument({self.name!r})"

    @property
    def value(self) -> S:
        """The value as last read or updated, without looking at the document (after a ``get``)."""
        return self._value

    def get(self) -> S:
        """The value, read again first if the document changed (looked at most every ``max_age`` seconds)."""
        if self.documents is None:
            return self._value
        now = self._clock()
        if self._version is not _UNREAD and now - self._looked < self._max_age:
            return self._value
        version = self.documents.version(self.name)
        self._looked = now
        if version != self._version or self._version is _UNREAD:
            current = self.documents.read(self.name)
            self._value, self._version = self._parse(current.value), current.version
            self.changes += 1
        return self._value

    def update(self, change: Callable[[S], R], *, keep_on_failure: bool = False) -> R:
        """Apply ``change`` (which changes the value in place) and write the result; its return value.

        Raises:
            StorageUnavailable: the document could not be written. The change stays in this process's value
                with ``keep_on_failure`` (written with the next change), else it is dropped.
            Conflict: other writers won ``attempts`` times in a row.
        """
        for attempt in range(self._attempts):
            self._looked = float("-inf")
            value = self.get()
            result = change(value)
            self.changes += 1
            if self.documents is None:
                return result
            try:
                self._version = self.documents.write(self.name, self._dump(value), expected=self._version)
                self._looked = self._clock()
                return result
            except Conflict:
                self._version = _UNREAD
                backoff(attempt)
            except Exception:
                if not keep_on_failure:
                    self._version = _UNREAD
                raise
        raise Conflict(f"document {self.name!r} kept changing; gave up after {self._attempts} attempts")

    def forget(self) -> None:
        """Read the document again at the next ``get`` (after a failure left the value in doubt)."""
        if self.documents is not None:
            self._version = _UNREAD
