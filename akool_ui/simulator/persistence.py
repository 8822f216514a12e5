"""The simulator's ``--state-dir``: what survives a restart, and nothing when no directory is given.

Layout (mode 0700): ``jobs/<id>.json`` (one file per job, rewritten on change), ``files/<name>``
(rendered JPEGs, written by files.FileCache), ``sources/<key>.jpeg`` (fetched sources),
``tokens.json`` (token digests only) and ``clock.json`` (the ``advance`` offset). Accounts and keys
are never written.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .files import write_atomic
from .jobs import SimJob

__all__ = ["StateDir"]

log = logging.getLogger(__name__)


class StateDir:
    """Reads and writes under ``root``; with ``root`` None every save is skipped and every load is empty."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None
        if self.root is not None:
            for sub in ("", "jobs", "sources"):
                (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return self.root is not None

    @property
    def files_dir(self) -> Path | None:
        """Where rendered files are kept (FileCache makes it)."""
        return self.root / "files" if self.root is not None else None

    # --- small JSON documents ---------------------------------------------------------------------

    def load_json(self, name: str, default: Any) -> Any:
        if self.root is None:
            return default
        try:
            return json.loads((self.root / name).read_text("utf-8"))
        except (OSError, ValueError):
            return default

    def _save_json(self, path: Path, data: Any) -> None:
        write_atomic(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))

    def clock_offset(self) -> float:
        """The ``advance`` offset saved by the last run (0 without one)."""
        return self.load_json("clock.json", {}).get("offset", 0.0)

    def save_clock(self, offset: float) -> None:
        if self.root is not None:
            self._save_json(self.root / "clock.json", {"offset": offset})

    def load_tokens(self) -> dict[str, Any]:
        return self.load_json("tokens.json", {})

    def save_tokens(self, tokens: dict[str, Any]) -> None:
        if self.root is not None:
            self._save_json(self.root / "tokens.json", tokens)

    # --- jobs and sources -------------------------------------------------------------------------

    def save_job(self, job: SimJob) -> None:
        if self.root is not None:
            self._save_json(self.root / "jobs" / f"{job.id}.json", job.to_json())

    def load_jobs(self) -> list[SimJob]:
        """Every readable job file, in file-name order; unreadable ones are logged and skipped."""
        if self.root is None:
            return []
        jobs = []
        for path in sorted((self.root / "jobs").glob("*.json")):
            try:
                jobs.append(SimJob.from_json(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable job file %s: %s", path.name, type(exc).__name__)
        return jobs

    def save_source(self, key: str, data: bytes) -> None:
        if self.root is not None:
            write_atomic(self.root / "sources" / f"{key}.jpeg", data)

    def read_source(self, key: str) -> bytes | None:
        if self.root is None:
            return None
        try:
            return (self.root / "sources" / f"{key}.jpeg").read_bytes()
        except OSError:
            return None
