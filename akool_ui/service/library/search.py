"""History search beyond the prompt: negative prompt, model, ratio, resolution, date, and a view (all
jobs, favourites, one board), applied page by page over the store's own history pages.

The store's index can filter by prompt only (``JobRecords.list_jobs(query=...)``: a substring of the
casefolded prompt, in SQL on both adapters), so that part goes to the store; every other field is read
from the records the store hands back, one store page at a time, until a page of matches is full. The
cursor handed out is the store's own (of the last record looked at), so paging stays exact: no job is
shown twice or skipped. A search that matches rarely is bounded per request (``MAX_SCANNED`` records
looked at); the page then comes back short, with a cursor to look further ("Older"). Because history is
newest first, a ``date_from`` ends the scan at the first older record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

from ...errors import StudioError
from ...jobs import JobRecord, Page

__all__ = ["HistoryFilter", "SearchRefused", "filtered_page", "parse_day", "PERIODS", "MAX_SCANNED", "AUTO"]

# Records looked at for one page of a narrow search: a few store pages' worth of reading, bounded.
MAX_SCANNED = 600
# How many store pages one request may read (a page of one record each, in the worst case).
MAX_FETCHES = 60
AUTO = "Auto"  # the model filter's value for jobs sent without a model_name (Akool chose)
# The date choices of the page: seconds back from now (a rolling window: the server cannot know the
# visitor's time zone, so "today" would be a guess).
PERIODS = {"Last 24 hours": 86400.0, "Last 7 days": 7 * 86400.0, "Last 30 days": 30 * 86400.0}

Fetch = Callable[[str | None, int], Page[JobRecord]]


class SearchRefused(StudioError):
    """A search value that cannot be used (a date that is not one)."""


def parse_day(text: Any, *, end: bool = False) -> float | None:
    """A ``YYYY-MM-DD`` date (UTC) as epoch seconds: its start, or with ``end`` the start of the next day;
    None for empty. SearchRefused for anything else."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        day = dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise SearchRefused("Dates are written YYYY-MM-DD, for example 2026-12-03.") from None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()


@dataclass(frozen=True)
class HistoryFilter:
    """What a history page must match besides the prompt (empty fields match everything).

    ``only``: the job ids of the view (favourites, a board); None for all jobs."""

    negative_prompt: str = ""
    model: str = ""
    scale: str = ""
    resolution: str = ""
    date_from: float | None = None
    date_to: float | None = None
    only: Collection[str] | None = field(default=None, compare=False)

    @property
    def is_empty(self) -> bool:
        return (not (self.negative_prompt or self.model or self.scale or self.resolution)
                and self.date_from is None and self.date_to is None and self.only is None)

    def matches(self, record: JobRecord) -> bool:
        request = record.request or {}
        if self.only is not None and record.id not in self.only:
            return False
        if self.negative_prompt and self.negative_prompt.casefold() not in str(
                request.get("negative_prompt") or "").casefold():
            return False
        if self.model and (request.get("model_name") or AUTO) != self.model:
            return False
        if self.scale and request.get("scale") != self.scale:
            return False
        if self.resolution and request.get("resolution") != self.resolution:
            return False
        if self.date_to is not None and record.created_at >= self.date_to:
            return False
        return self.date_from is None or record.created_at >= self.date_from


def filtered_page(fetch: Fetch, cursor: str | None, limit: int, keep: Callable[[JobRecord], bool],
                  date_from: float | None = None) -> Page[JobRecord]:
    """Up to ``limit`` records that ``keep`` accepts, read from ``fetch(cursor, n)`` (the store's history,
    newest first) page after page; the next cursor is the store's. Short (maybe empty) with a cursor when
    ``MAX_SCANNED`` records were looked at first."""
    items: list[JobRecord] = []
    scanned = 0
    for _ in range(MAX_FETCHES):
        # Never ask for more than the page still needs: the store's cursor then always sits right after
        # the last record looked at, whatever ``keep`` decided.
        page = fetch(cursor, limit - len(items))
        for record in page.items:
            if date_from is not None and record.created_at < date_from:
                return Page(items, None)  # newest first: everything further is older still
            scanned += 1
            if keep(record):
                items.append(record)
        cursor = page.next_cursor
        if cursor is None or len(items) >= limit or scanned >= MAX_SCANNED:
            return Page(items, cursor)
    return Page(items, cursor)
