"""Event functions: thin adapters from widget values to the Studio, and from records back to widgets.

Every function takes plain values (what the browser sent), calls the service, and returns updates as a
dict keyed by component (``panels.py``). By area:

    common.py     errors as one sentence, worker threads, raw-value checks, the client's address (for the
                  spending limits), StudioAccess (owner, records, per-owner media links)
    results.py    rendering and streaming the results panel; select, delete
    shares.py     the selected image's share link: show, make, revoke
    compare.py    the compare tray (add, remove, clear) and view (side by side, slider)
    downloads.py  the original and the zip a person downloads
    create.py     Generate, U/V, Check again; Use as source, Reuse settings
    history.py    history pages, search, reopening a job; page load, Forget key
    boards.py     boards, the history's view and filters, Select mode's bulk actions
    api.py        /generate, /press_button, /job for gradio_client
    agent_tools.py  the MCP tools for agents (generate, press, job_status ...; served by ../agents.py)

The API key arrives as an ordinary input from the browser (it lives in that browser's localStorage via
``gr.BrowserState``) and is passed straight to the Studio; it is never stored, logged or returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..media import MediaLinks
from ..panels import Page
from .api import API_WAIT_LIMIT, ApiHandlers
from .common import (
    API_CONCURRENCY, QUICK_CONCURRENCY, STREAM_CONCURRENCY, TICK_SECONDS, USER_ERRORS, StudioAccess, in_thread,
    user_errors,
)
from .boards import BoardHandlers
from .compare import CompareHandlers
from .create import CreateHandlers
from .downloads import Downloads, download_name
from .history import HISTORY_PAGE_SIZE, HistoryHandlers
from .results import ResultsHandlers
from .shares import ShareHandlers

if TYPE_CHECKING:  # pragma: no cover
    from ...service import Studio

__all__ = [
    "StudioHandlers", "StudioAccess", "ApiHandlers", "CreateHandlers", "HistoryHandlers", "ResultsHandlers", "ShareHandlers", "BoardHandlers",
    "Downloads", "download_name", "user_errors", "in_thread", "USER_ERRORS", "API_CONCURRENCY",
    "QUICK_CONCURRENCY", "STREAM_CONCURRENCY", "TICK_SECONDS", "HISTORY_PAGE_SIZE", "API_WAIT_LIMIT",
]


class StudioHandlers:
    """The event functions of one page, by area, bound to one Studio and that page's panels."""

    def __init__(self, studio: "Studio", page: Page, media: MediaLinks | None = None):
        self.access = StudioAccess(studio, media or MediaLinks.for_studio(studio))
        self.results = ResultsHandlers(self.access, page.results)
        self.create = CreateHandlers(self.access, self.results, page.form)
        self.history = HistoryHandlers(self.access, page.history, page.keys, self.results)
        self.api = ApiHandlers(self.access)
        self.shares = ShareHandlers(self.access, page.share)
        self.boards = BoardHandlers(self.access, page.boards)
        self.compare = CompareHandlers(self.access, page.compare) if page.compare is not None else None
