"""Favourites: the jobs an owner starred, kept beside the history so they survive restarts.

One small JSON file (``favourites.json`` in the data folder: ``{owner: {job id: starred at}}``), written
atomically on every change. A star on a job that is later deleted is simply never shown (readers look the
job up, as for any id); ``forget`` drops it. Bounded per owner so one visitor cannot grow the file forever.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from ..fileio import write_atomic

__all__ = ["Favourites", "FAVOURITES_FILE", "MAX_PER_OWNER"]

log = logging.getLogger(__name__)

FAVOURITES_FILE = "favourites.json"
MAX_PER_OWNER = 500


class Favourites:
    """Starred job ids per owner, persisted in ``folder``."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / FAVOURITES_FILE
        self._lock = threading.Lock()
        self._stars: dict[str, dict[str, float]] = self._load()

    def _load(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("favourites file %s is unreadable; starting with none (the file is kept)", self.path)
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(owner): {str(j): float(t) for j, t in stars.items() if isinstance(t, (int, float))}
            for owner, stars in data.items() if isinstance(stars, dict)
        }

    def _save(self) -> None:
        write_atomic(self.path, json.dumps(self._stars, separators=(",", ":")).encode("utf-8"), fsync=False)

    def is_starred(self, owner: str, job_id: str) -> bool:
        with self._lock:
            return job_id in self._stars.get(owner, {})

    def set(self, owner: str, job_id: str, starred: bool) -> bool:
        """Star or unstar ``job_id`` for ``owner``; returns whether it is starred now.

        Raises:
            OSError: the file could not be written (the change is not kept).
        """
        with self._lock:
            before = dict(self._stars.get(owner, {}))
            stars = self._stars.setdefault(owner, {})
            if starred:
                stars[job_id] = time.time()
                while len(stars) > MAX_PER_OWNER:  # the oldest star goes first
                    del stars[min(stars, key=stars.__getitem__)]
            else:
                stars.pop(job_id, None)
            if not stars:
                self._stars.pop(owner, None)
            try:
                self._save()
            except OSError:
                self._stars[owner] = before
                raise
            return starred

    def ids(self, owner: str) -> list[str]:
        """``owner``'s starred job ids, most recently starred first."""
        with self._lock:
            stars = dict(self._stars.get(owner, {}))
        return sorted(stars, key=stars.__getitem__, reverse=True)
