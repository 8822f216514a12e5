"""The root of this app's own refusals (a bad upload, no public address for it): ``StudioError``.

Akool's errors have their own root, ``akool.errors.AkoolError`` (that package could be published alone);
everything the app itself refuses derives from ``StudioError``. The page catches exactly these two roots
and shows ``user_message``; anything else is a bug and reaches the page as a generic sentence.
"""

from __future__ import annotations

__all__ = ["StudioError"]


class StudioError(Exception):
    """Something the app refused; ``user_message`` is one plain sentence for the page (never a secret)."""

    user_message: str = "That could not be done. Please check what you entered and try again."

    def __init__(self, user_message: str | None = None):
        if user_message is not None:
            self.user_message = user_message
        super().__init__(self.user_message)
