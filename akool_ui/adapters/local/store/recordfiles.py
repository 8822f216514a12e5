"""Every job record also kept as a JSON file in the data folder: what the index is rebuilt from.

Layout under the data (cache) directory::

    records/<id[:2]>/<id>.json       the record, exactly as the index keeps it (``JobRecord.to_json``)

The SQLite index may live on local disk that a Space wipes on every restart (see ``location.py``), so the
data folder alone must be enough to get every job back. The store writes a record's file inside the same
transaction as its index row, so two writers of one record never leave the older file last; a failed
file write is logged and retried on the record's next write, never a lost job (``RecordWriter._write``). The
file is removed in the transaction that deletes the job, and a failed removal refuses the delete: a
deleted job never comes back in a rebuild. A write that changes nothing but ``updated_at`` leaves the file
alone; polls of a queued job would otherwise rewrite it every second, an upload each time on a bucket.
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

from ....fileio import write_atomic

__all__ = ["RecordFiles", "RECORDS_DIR", "FILES_COMPLETE_KEY"]

LOG = logging.getLogger(__name__)

RECORDS_DIR = "records"
# Set in the index once every indexed record has its file (after a rebuild, or after writing the files
# that records from before this layout lack): start-up checks that only once per index.
FILES_COMPLETE_KEY = "meta:record-files-complete"
# Each read from a network mount is a round trip; this many at once rebuilds thousands of records in
# seconds without opening an unbounded number of files.
REBUILD_READERS = 16
_FILE_NAME = re.compile(r"([0-9a-f]{24})\.json")


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _content(data: dict[str, Any]) -> str:
    """A record's JSON without ``updated_at``: equal for two writes that changed nothing else."""
    return json.dumps({k: v for k, v in data.items() if k != "updated_at"}, sort_keys=True, allow_nan=False)


class RecordFiles:
    """The ``records/`` folder of one data directory."""

    def __init__(self, data_dir: Path):
        self.root = data_dir / RECORDS_DIR
        self._behind: set[str] = set()
        """Jobs whose last file write failed: their file may be stale, so the next write never skips."""

    def path(self, job_id: str) -> Path:
        """Where a record's file lives (``job_id`` already validated)."""
        return self.root / job_id[:2] / f"{job_id}.json"

    def write(self, job_id: str, data: dict[str, Any], previous: dict[str, Any] | None, *, fsync: bool = True) -> bool:
        """Replace the record's file with ``data`` unless it already says the same as ``previous`` (the
        record's JSON before this write); True if written. ``fsync=False`` only for bulk copies whose
        records the index still holds."""
        path = self.path(job_id)
        if job_id not in self._behind and previous is not None and _content(previous) == _content(data) \
                and path.is_file():
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, _encode(data), fsync=fsync)
        except OSError:
            self._behind.add(job_id)
            raise
        self._behind.discard(job_id)
        return True

    def exists(self, job_id: str) -> bool:
        return self.path(job_id).is_file()

    def remove(self, job_id: str) -> None:
        """Delete the record's file (missing is fine; any other failure propagates, undoing the delete)."""
        self.path(job_id).unlink(missing_ok=True)

    def _paths(self) -> list[tuple[str, Path]]:
        """(job id, path) of every well-named record file; strays, links and temp files are ignored."""
        found = []
        for path in self.root.glob("??/*.json"):
            match = _FILE_NAME.fullmatch(path.name)
            if match and path.parent.name == match.group(1)[:2] and not path.is_symlink():
                found.append((match.group(1), path))
        return sorted(found)

    @staticmethod
    def _read(item: tuple[str, Path]) -> tuple[str, Any]:
        job_id, path = item
        try:
            return job_id, json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            LOG.warning("skipping unreadable record file %s: %s", path.name, exc)
            return job_id, None

    def scan(self) -> Iterator[tuple[str, Any]]:
        """(job id, parsed JSON or None when unreadable) for every record file, in id order."""
        paths = self._paths()
        if not paths:
            return
        with ThreadPoolExecutor(max_workers=min(REBUILD_READERS, len(paths)), thread_name_prefix="records") as pool:
            yield from pool.map(self._read, paths)
