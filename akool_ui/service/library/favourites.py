"""Favourites: the jobs an owner starred, kept beside the history so they survive restarts.

One small document (``favourites``: ``{owner: {job id: starred at}}``), written with compare-and-set on
every change, so stars set in two processes on one data folder are both kept. A star on a job that is
later deleted is simply never shown (readers look the job up, as for any id). Bounded per owner so one
visitor cannot grow the document forever.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..documents import CachedDocument
from ..ports import Documents

__all__ = ["Favourites", "FAVOURITES_DOCUMENT", "MAX_PER_OWNER"]

log = logging.getLogger(__name__)

FAVOURITES_DOCUMENT = "favourites"
MAX_PER_OWNER = 500

Stars = dict[str, dict[str, float]]


class Favourites:
    """Starred job ids per owner, kept in ``documents``. Thread-safe."""

    def __init__(self, documents: Documents):
        self._lock = threading.Lock()
        self._doc: CachedDocument[Stars] = CachedDocument(documents, FAVOURITES_DOCUMENT, parse=_parse, dump=dict)

    def __repr__(self) -> str:
        return "Favourites()"

    def is_starred(self, owner: str, job_id: str) -> bool:
        with self._lock:
            return job_id in self._doc.get().get(owner, {})

    def set(self, owner: str, job_id: str, starred: bool) -> bool:
        """Star or unstar ``job_id`` for ``owner``; returns whether it is starred now.

        Raises:
            StorageUnavailable: (an ``OSError``) the change could not be saved; it is not kept.
        """
        def change(all_stars: Stars) -> None:
            stars = all_stars.setdefault(owner, {})
            if starred:
                stars[job_id] = time.time()
                while len(stars) > MAX_PER_OWNER:  # the oldest star goes first
                    del stars[min(stars, key=stars.__getitem__)]
            else:
                stars.pop(job_id, None)
            if not stars:
                all_stars.pop(owner, None)

        with self._lock:
            self._doc.update(change)
        return starred

    def ids(self, owner: str) -> list[str]:
        """``owner``'s starred job ids, most recently starred first."""
        with self._lock:
            stars = dict(self._doc.get().get(owner, {}))
        return sorted(stars, key=stars.__getitem__, reverse=True)


def _parse(data: Any) -> Stars:
    if data is None:
        return {}
    if not isinstance(data, dict):
        log.warning("the favourites document is malformed; starting with none")
        return {}
    return {
        str(owner): {str(j): float(t) for j, t in stars.items() if isinstance(t, (int, float))}
        for owner, stars in data.items() if isinstance(stars, dict)
    }
