"""Reading what is left of a garbled answer: the job ids in a cut-off body, and a batch's siblings.

A create or press whose answer arrives malformed (cut off, not JSON) was carried out by Akool; the
ids it made are often still in the part that arrived. A v4 batch's jobs are made one after another, so
their ids are consecutive MongoDB ObjectIds (4-byte time, 5 bytes per process, 3-byte counter; see
Akool's own batch example ``…c9d0``, ``…c9d1``): the ids missing from the cut-off part are the next
counters, at the same second or the next one. Each is confirmed by asking Akool for it.
"""

from __future__ import annotations

import re

__all__ = ["ids_in_partial", "next_ids"]

_ID_FIELD = re.compile(r'"_id"\s*:\s*"([0-9a-fA-F]{24})"')


def ids_in_partial(text: str) -> tuple[str, ...]:
    """Every complete ``"_id": "<24 hex>"`` in a (possibly cut-off) JSON text, in order, without repeats."""
    return tuple(dict.fromkeys(match.lower() for match in _ID_FIELD.findall(text or "")))


def next_ids(job_id: str) -> tuple[str, ...]:
    """The ids the job made right after ``job_id`` by the same process would have: counter + 1, stamped
    the same second or the next."""
    stamp, process, counter = int(job_id[:8], 16), job_id[8:18], int(job_id[18:], 16)
    following = f"{(counter + 1) & 0xFFFFFF:06x}"
    return tuple(f"{(stamp + s) & 0xFFFFFFFF:08x}{process}{following}" for s in (0, 1))
