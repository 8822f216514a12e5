"""Share links: a random id that shows one result of one owner's job, read-only, to whoever has it.

One small document (``shares``: ``{share id: {job, index, owner, prompt, created}}``), written with
compare-and-set like the favourites, so links made in two processes on one data folder are both kept and
every link survives a restart. The id is ``secrets.token_urlsafe`` (144 random bits): not derived from the
owner, the job or a Gradio session, so holding one link tells nothing about any other. Revoking removes the
entry: the id then means nothing, exactly like an id that never existed. Bounded per owner, so one visitor
cannot grow the document forever.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ...errors import StudioError
from ..documents import CachedDocument
from ..ports import Documents

__all__ = ["Shares", "Share", "ShareRefused", "SHARES_DOCUMENT", "MAX_PER_OWNER", "is_share_id"]

log = logging.getLogger(__name__)

SHARES_DOCUMENT = "shares"
# Links one owner may keep at once; past it they revoke one first (an old link is never revoked for them).
MAX_PER_OWNER = 100
# 18 random bytes: 144 bits, 24 URL-safe characters (the issue asks for at least 128).
SHARE_ID_BYTES = 18
_SHARE_ID = re.compile(r"[A-Za-z0-9_-]{24}")


def is_share_id(value: object) -> bool:
    """Whether ``value`` has the shape of a share id (checked before any look-up)."""
    return isinstance(value, str) and _SHARE_ID.fullmatch(value) is not None


class ShareRefused(StudioError):
    """A share could not be made or revoked; ``user_message`` says why in one sentence."""


@dataclass(frozen=True)
class Share:
    """One share link: which job (and which of its images) it shows, and whose it is."""

    id: str
    job_id: str
    index: int | None
    """The image shown (0-based result index); None: every image of the job."""
    owner: str = field(repr=False)
    include_prompt: bool = False
    """The owner chose to show the prompt and negative prompt with it."""
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job_id, "index": self.index, "owner": self.owner, "prompt": self.include_prompt,
                "created": self.created}


Entries = dict[str, Share]


class Shares:
    """Share links kept in ``documents``. Thread-safe."""

    def __init__(self, documents: Documents, *, clock=time.time):
        self._lock = threading.Lock()
        self._clock = clock
        self._doc: CachedDocument[Entries] = CachedDocument(documents, SHARES_DOCUMENT, parse=_parse, dump=_dump)

    def __repr__(self) -> str:
        return "Shares()"

    def get(self, share_id: str) -> Share | None:
        """The share behind ``share_id`` (None: never made, revoked, or not a share id at all)."""
        if not is_share_id(share_id):
            return None
        with self._lock:
            return self._doc.get().get(share_id)

    def of_owner(self, owner: str) -> list[Share]:
        """``owner``'s shares, newest first."""
        with self._lock:
            mine = [s for s in self._doc.get().values() if s.owner == owner]
        return sorted(mine, key=lambda s: s.created, reverse=True)

    def create(self, owner: str, job_id: str, index: int | None, *, include_prompt: bool,
               forget: frozenset[str] = frozenset()) -> Share:
        """A link to ``owner``'s ``job_id`` (the caller checked it is theirs). The same job, image and
        prompt choice shared again gives back the link made before. ``forget``: ids of the owner's shares
        whose jobs are gone, dropped before the bound is counted.

        Raises:
            ShareRefused: the owner already keeps ``MAX_PER_OWNER`` links.
            StorageUnavailable: (an ``OSError``) the link could not be saved; it does not exist.
        """
        def change(entries: Entries) -> Share:
            for share_id in forget:
                if share_id in entries and entries[share_id].owner == owner:
                    del entries[share_id]
            mine = [s for s in entries.values() if s.owner == owner]
            for share in mine:
                if (share.job_id, share.index, share.include_prompt) == (job_id, index, include_prompt):
                    return share
            if len(mine) >= MAX_PER_OWNER:
                raise ShareRefused(f"You already have {MAX_PER_OWNER} share links: revoke one you no longer "
                                   "need, then share again.")
            share = Share(_new_id(entries), job_id, index, owner, include_prompt, self._clock())
            entries[share.id] = share
            return share

        with self._lock:
            return self._doc.update(change)

    def revoke(self, owner: str, share_id: str) -> bool:
        """Remove ``owner``'s link ``share_id`` (its id means nothing from now on); False if it is not theirs
        or already gone.

        Raises:
            StorageUnavailable: (an ``OSError``) the change could not be saved; the link still works.
        """
        if not is_share_id(share_id):
            return False

        def change(entries: Entries) -> bool:
            share = entries.get(share_id)
            if share is None or share.owner != owner:
                return False
            del entries[share_id]
            return True

        with self._lock:
            if self._doc.get().get(share_id) is None:
                return False
            return self._doc.update(change)


def _new_id(entries: Entries) -> str:
    while True:  # a collision of 144 random bits will not happen; the loop only makes it impossible
        share_id = secrets.token_urlsafe(SHARE_ID_BYTES)
        if share_id not in entries:
            return share_id


def _dump(entries: Entries) -> dict[str, Any]:
    return {share_id: share.to_json() for share_id, share in entries.items()}


def _parse(data: Any) -> Entries:
    if data is None:
        return {}
    if not isinstance(data, dict):
        log.warning("the shares document is malformed; starting with none")
        return {}
    entries: Entries = {}
    for share_id, raw in data.items():
        share = _share_from(share_id, raw)
        if share is not None:
            entries[share_id] = share
    return entries


def _share_from(share_id: Any, raw: Any) -> Share | None:
    """One entry, or None when any part of it is not what ``create`` writes (skipped, never guessed)."""
    if not is_share_id(share_id) or not isinstance(raw, dict):
        return None
    job, owner, index, created = raw.get("job"), raw.get("owner"), raw.get("index"), raw.get("created")
    if not (isinstance(job, str) and job and isinstance(owner, str) and owner):
        return None
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        return None
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        return None
    return Share(share_id, job, index, owner, raw.get("prompt") is True, float(created))
