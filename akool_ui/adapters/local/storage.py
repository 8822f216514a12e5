"""LocalStorage: every port of the local adapter on one data folder, opened and closed together.

    records    JobStore (diskcache + SQLite index, a JSON file per record)   store/
    blobs      LocalBlobs (files under the data folder)                      blobs.py
    documents  LocalDocuments (a JSON file each, compare-and-set)            documents.py
    leases     LocalLeases (a small SQLite file beside the index)            leases.py
    events     LocalEvents (subscriptions of this process)                   events.py
    slots      MemorySlots (poll turns, counted in this process)             slots.py

Every process that opens the same data folder builds the same, so they share records, counts, stars,
keys and leases (events and poll turns stay in each process).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .blobs import LocalBlobs
from .documents import LocalDocuments
from .events import LocalEvents
from .leases import LocalLeases
from .slots import MemorySlots
from .store import JobStore

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import Settings

__all__ = ["LocalStorage", "LEASES_FILE", "DOCUMENT_LOCKS"]

# Beside the SQLite index, on local disk (the data folder may be a network mount where locks do not hold).
LEASES_FILE = "leases.db"
DOCUMENT_LOCKS = "document-locks"


class LocalStorage:
    """The ports on ``cache_dir`` (its SQLite index in ``index_dir``, default the same folder)."""

    def __init__(self, records: JobStore, *, legacy: Mapping[str, tuple[str, Callable[[bytes], Any]]] | None = None):
        """``legacy``: documents older versions kept in files of their own (name -> (file, converter))."""
        self.records = records
        self.blobs = LocalBlobs(records.cache_dir)
        lock_folder = records.index_dir / DOCUMENT_LOCKS if records.index_is_local else None
        self.documents = LocalDocuments(records.cache_dir, lock_folder=lock_folder, legacy=dict(legacy or {}))
        self.leases = LocalLeases(records.index_dir / LEASES_FILE)
        self.events = LocalEvents()
        self.slots = MemorySlots()

    @classmethod
    def from_settings(cls, settings: "Settings", **kwargs: Any) -> "LocalStorage":
        """The data folder of ``settings``, its index off a network filesystem (``store.location``)."""
        return cls(JobStore.from_settings(settings), **kwargs)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.records.cache_dir)!r})"

    @property
    def cache_dir(self) -> Path:
        return self.records.cache_dir

    def private_folders(self) -> list[Path]:
        return self.records.private_folders()

    def tidy(self) -> int:
        return self.records.remove_stale_temp_files()

    def close(self) -> None:
        self.leases.close()
        self.records.close()

    def __enter__(self) -> "LocalStorage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
