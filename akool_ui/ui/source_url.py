"""A pasted source-image URL, checked as it is entered: a preview beside the field, or one sentence that
names the URL and says what is wrong with it (not found, a web page rather than an image, unreachable …).

The same rules as the job itself (``netguard``: public addresses only, every redirect checked, bounded in
bytes and time), so the check cannot be steered at the server's own network either. Generate runs it too,
so a bad URL is refused at once instead of failing at Akool seconds later with vaguer advice.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PIL import Image

from ..akool.errors import AkoolError
from ..errors import StudioError
from ..netguard import FetchFailed, Resolver, UnsafeUrl, fetch_public
from ..service import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, ImageValidationError, image_info, make_preview

if TYPE_CHECKING:  # pragma: no cover
    from ..service import Studio

__all__ = ["SourceCheck", "SourceUrlChecker", "CHECK_DEADLINE_SECONDS"]

# A person is waiting beside the field: a source that takes longer than this is too slow for Akool too.
CHECK_DEADLINE_SECONDS = 8.0
PREVIEW_SIDE = 256
_URL_IN_SENTENCE = 70
_STATUS_WORDS = {
    400: "refused the request (400)", 401: "needs a login (401)", 403: "does not share it (403 Forbidden)",
    404: "has nothing there (404 Not Found)", 410: "has removed it (410 Gone)", 429: "is refusing requests for now (429)",
}
_WEB_PAGE_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<?xml", b"<body")


@dataclass(frozen=True)
class SourceCheck:
    """The outcome of checking one URL: ``ok`` with a preview, or one sentence saying what is wrong."""

    ok: bool
    sentence: str
    preview: Any = None
    """A small PIL image of the source (ok only)."""


def _short(url: str) -> str:
    url = url.strip()
    return url if len(url) <= _URL_IN_SENTENCE else url[: _URL_IN_SENTENCE - 1] + "…"


def _fetch_sentence(url: str, reason: str) -> str:
    """What a ``FetchFailed`` reason means to the person who pasted ``url``."""
    where = _short(url)
    host = urlsplit(url.strip()).hostname or "the site"
    if reason.startswith("HTTP "):
        code = reason.split()[1]
        words = _STATUS_WORDS.get(int(code)) if code.isdigit() else None
        if words is None and code.isdigit() and int(code) >= 500:
            words = f"has a problem of its own ({code})"
        return f"{host} {words or f'answered {code}'} for {where}: check the address, or use another image."
    if "resolve" in reason:
        return f"{host} could not be found (from {where}): check the address for typos."
    if reason.startswith("connection failed") or reason.startswith("read failed"):
        return f"Could not connect to {host} (from {where}): check the address, or try again later."
    if reason == "too large":
        return f"The image at {where} is larger than {MAX_UPLOAD_BYTES // 2**20} MB; please use a smaller one."
    if reason == "took too long":
        return f"{host} took too long to send {where}; please try again or use another image."
    if "redirect" in reason or "Location" in reason:
        return f"{where} redirects too many times; please use the image's own address."
    return f"{where} could not be fetched; please check the address."


def _content_sentence(url: str, data: bytes) -> tuple[str, int, int] | str:
    """``(format, width, height)`` of the fetched bytes, or the sentence saying why they are no image."""
    head = data[:512].lstrip().lower()
    if any(head.startswith(marker) for marker in _WEB_PAGE_MARKERS):
        return (f"{_short(url)} is a web page, not an image: open it, right-click the image and choose "
                "“Copy image address”, then paste that.")
    if not data:
        return f"{_short(url)} is empty; please use another image."
    try:
        fmt, width, height = image_info(data)
    except ImageValidationError as exc:
        return f"{_short(url)}: {exc.user_message}"
    if width * height > MAX_UPLOAD_PIXELS:
        return f"The image at {_short(url)} is too large ({width}×{height} pixels); please use a smaller one."
    return fmt, width, height


class SourceUrlChecker:
    """Checks source URLs for one Studio (``allow_private``/``resolve``: a test's local server only)."""

    def __init__(self, studio: "Studio", *, allow_private: bool = False, resolve: Resolver | None = None,
                 deadline: float = CHECK_DEADLINE_SECONDS):
        self.studio = studio
        self.allow_private = allow_private
        self.resolve = resolve
        self.deadline = deadline

    def check(self, url: str | None) -> SourceCheck | None:
        """None for an empty box; else the check's outcome (never raises for a bad URL)."""
        url = (url or "").strip()
        if not url:
            return None
        own = self.studio.is_own_upload(url)
        try:
            if not (own or self.allow_private):
                self.studio.check_source_url(url)  # shape and public address, as Generate would refuse it
            data = fetch_public(
                url, max_bytes=MAX_UPLOAD_BYTES, trusted=self.studio.is_own_upload,
                allow_private=self.allow_private, resolve=self.resolve, deadline=self.deadline,
            )
        except (UnsafeUrl, StudioError, AkoolError) as exc:  # Studio refuses with InvalidRequest
            message = getattr(exc, "user_message", None) or "That is not a usable web address."
            return SourceCheck(False, f"{_short(url)}: {message}")
        except FetchFailed as exc:
            return SourceCheck(False, _fetch_sentence(url, str(exc)))
        outcome = _content_sentence(url, data)
        if isinstance(outcome, str):
            return SourceCheck(False, outcome)
        fmt, width, height = outcome
        try:
            preview = Image.open(io.BytesIO(make_preview(data, long_side=PREVIEW_SIDE)))
            preview.load()
        except Exception:  # noqa: BLE001 - a header that decodes to nothing: say so, never crash
            return SourceCheck(False, f"The image at {_short(url)} could not be read; please use another.")
        return SourceCheck(True, f"✓ A {fmt} image, {width}×{height} pixels.", preview)
