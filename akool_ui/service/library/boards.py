"""Boards: named collections of an owner's jobs (a job can be in several), kept beside the history.

One small document (``boards``: ``{owner: {board id: {"name", "created", "jobs": {job id: added at}}}}``),
written with compare-and-set on every change, exactly as favourites are, so boards changed in two
processes on one data folder keep both changes. Deleting a board never deletes a job; a job deleted for
good is simply never shown (readers look each id up, as for favourites). Bounded per owner (boards) and
per board (jobs) so one visitor cannot grow the document forever.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

from ...errors import StudioError
from ..documents import CachedDocument
from ..ports import Documents

__all__ = ["Board", "Boards", "BoardRefused", "BOARDS_DOCUMENT", "MAX_BOARDS", "MAX_JOBS_PER_BOARD",
           "MAX_NAME_LENGTH", "is_board_id"]

log = logging.getLogger(__name__)

BOARDS_DOCUMENT = "boards"
# Enough boards to sort a demo's worth of work into; a dropdown of more stops being usable.
MAX_BOARDS = 50
# Like favourites' bound: a board is a hand-picked set, not a second history.
MAX_JOBS_PER_BOARD = 500
MAX_NAME_LENGTH = 40
# Letters and digits of any script, spaces and a few marks people put in titles; nothing that reads as markup.
_NAME = re.compile(r"[\w][\w .,'&()!?+#-]*", re.UNICODE)
_BOARD_ID = re.compile(r"b[0-9a-f]{12}")

Owned = dict[str, dict[str, Any]]  # board id -> {"name", "created", "jobs"}
AllBoards = dict[str, Owned]


class BoardRefused(StudioError):
    """A board change that cannot be made (a bad name, too many boards, no such board)."""


@dataclass(frozen=True)
class Board:
    """One board as readers see it (its job ids, most recently added first)."""

    id: str
    name: str
    created: float
    job_ids: tuple[str, ...]


def is_board_id(value: Any) -> bool:
    return isinstance(value, str) and _BOARD_ID.fullmatch(value) is not None


def check_name(name: Any) -> str:
    """The name, trimmed, or BoardRefused with one sentence on what is wrong."""
    text = " ".join(str(name or "").split()) if isinstance(name, str) else ""
    if not text:
        raise BoardRefused("Give the board a name.")
    if len(text) > MAX_NAME_LENGTH:
        raise BoardRefused(f"A board name can be at most {MAX_NAME_LENGTH} characters.")
    if not _NAME.fullmatch(text):
        raise BoardRefused("A board name can use letters, digits, spaces and . , ' & ( ) ! ? + # - only.")
    return text


class Boards:
    """Each owner's boards, kept in ``documents``. Thread-safe."""

    def __init__(self, documents: Documents):
        self._lock = threading.Lock()
        self._doc: CachedDocument[AllBoards] = CachedDocument(documents, BOARDS_DOCUMENT, parse=_parse, dump=dict)

    def __repr__(self) -> str:
        return "Boards()"

    def list(self, owner: str) -> list[Board]:
        """``owner``'s boards, oldest first (the order they were made in)."""
        with self._lock:
            owned = {k: dict(v, jobs=dict(v["jobs"])) for k, v in self._doc.get().get(owner, {}).items()}
        return sorted((_board(k, v) for k, v in owned.items()), key=lambda b: (b.created, b.id))

    def get(self, owner: str, board_id: str) -> Board | None:
        return next((b for b in self.list(owner) if b.id == board_id), None)

    def create(self, owner: str, name: str) -> Board:
        """A new empty board.

        Raises:
            BoardRefused: a bad name, one already used, or ``MAX_BOARDS`` boards already.
            StorageUnavailable: (an ``OSError``) it could not be saved; nothing is kept.
        """
        name = check_name(name)
        board_id = "b" + secrets.token_hex(6)

        def change(all_boards: AllBoards) -> dict[str, Any]:
            owned = all_boards.setdefault(owner, {})
            if len(owned) >= MAX_BOARDS:
                raise BoardRefused(f"You have {MAX_BOARDS} boards already: delete one to make another.")
            _refuse_taken(owned, name)
            owned[board_id] = {"name": name, "created": time.time(), "jobs": {}}
            return dict(owned[board_id])

        with self._lock:
            try:
                entry = self._doc.update(change)
            finally:
                self._drop_empty(owner)
        return _board(board_id, entry)

    def rename(self, owner: str, board_id: str, name: str) -> Board:
        """Raises BoardRefused (bad or taken name, no such board) or StorageUnavailable."""
        name = check_name(name)

        def change(all_boards: AllBoards) -> dict[str, Any]:
            owned = all_boards.get(owner, {})
            entry = _owned_board(owned, board_id)
            _refuse_taken({k: v for k, v in owned.items() if k != board_id}, name)
            entry["name"] = name
            return dict(entry)

        with self._lock:
            return _board(board_id, self._doc.update(change))

    def delete(self, owner: str, board_id: str) -> bool:
        """Remove the board (its jobs stay in the history); False when there was no such board."""
        def change(all_boards: AllBoards) -> bool:
            owned = all_boards.get(owner, {})
            found = owned.pop(board_id, None) is not None
            if not owned:
                all_boards.pop(owner, None)
            return found

        with self._lock:
            if board_id not in self._doc.get().get(owner, {}):
                return False
            return self._doc.update(change)

    def add(self, owner: str, board_id: str, job_ids: Iterable[str]) -> int:
        """Put jobs on the board; how many were new to it.

        Raises:
            BoardRefused: no such board, or it would hold more than ``MAX_JOBS_PER_BOARD`` (nothing added).
        """
        ids = list(dict.fromkeys(job_ids))

        def change(all_boards: AllBoards) -> int:
            jobs = _owned_board(all_boards.get(owner, {}), board_id)["jobs"]
            new = [j for j in ids if j not in jobs]
            if len(jobs) + len(new) > MAX_JOBS_PER_BOARD:
                raise BoardRefused(f"A board holds at most {MAX_JOBS_PER_BOARD} jobs: remove some first.")
            now = time.time()
            for n, job_id in enumerate(new):
                jobs[job_id] = now + n * 1e-6  # keeps the order they were given in
            return len(new)

        with self._lock:
            return self._doc.update(change)

    def remove(self, owner: str, board_id: str, job_ids: Iterable[str]) -> int:
        """Take jobs off the board (the jobs themselves stay); how many were on it."""
        ids = set(job_ids)

        def change(all_boards: AllBoards) -> int:
            jobs = _owned_board(all_boards.get(owner, {}), board_id)["jobs"]
            gone = [j for j in jobs if j in ids]
            for job_id in gone:
                del jobs[job_id]
            return len(gone)

        with self._lock:
            return self._doc.update(change)

    def job_ids(self, owner: str, board_id: str) -> list[str]:
        """The board's job ids, most recently added first ([] for no such board)."""
        board = self.get(owner, board_id)
        return list(board.job_ids) if board else []

    def _drop_empty(self, owner: str) -> None:
        """A refused create may have left an empty entry in the in-memory value (never written)."""
        if self._doc.value.get(owner) == {}:
            self._doc.value.pop(owner, None)


def _refuse_taken(owned: Owned, name: str) -> None:
    if any(entry["name"].casefold() == name.casefold() for entry in owned.values()):
        raise BoardRefused(f"You already have a board called “{name}”.")


def _owned_board(owned: Owned, board_id: str) -> dict[str, Any]:
    entry = owned.get(board_id) if isinstance(board_id, str) else None
    if entry is None:
        raise BoardRefused("That board no longer exists: pick another one.")
    return entry


def _board(board_id: str, entry: dict[str, Any]) -> Board:
    jobs = entry["jobs"]
    return Board(board_id, entry["name"], entry["created"], tuple(sorted(jobs, key=jobs.__getitem__, reverse=True)))


def _parse(data: Any) -> AllBoards:
    if data is None:
        return {}
    if not isinstance(data, dict):
        log.warning("the boards document is malformed; starting with none")
        return {}
    parsed: AllBoards = {}
    for owner, owned in data.items():
        if not isinstance(owned, dict):
            continue
        for board_id, entry in owned.items():
            if not (is_board_id(board_id) and isinstance(entry, dict) and isinstance(entry.get("name"), str)):
                continue
            jobs = entry.get("jobs") if isinstance(entry.get("jobs"), dict) else {}
            created = entry.get("created")
            parsed.setdefault(str(owner), {})[board_id] = {
                "name": entry["name"], "created": float(created) if isinstance(created, (int, float)) else 0.0,
                "jobs": {str(j): float(t) for j, t in jobs.items() if isinstance(t, (int, float))},
            }
    return parsed
