"""What the page says about the mode a visitor is in and what their key does: always true for this page.

The banner follows the key box: a key typed in the offline demo sends that visitor's requests to Akool
itself, on their account, and shows that key's history, so the banner says exactly that (and how to go
back). Visitors are never told to set environment variables: set-up advice is the operator's, in the log.
Pure functions of plain values, tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AppMode", "banner_text", "banner_classes", "key_label", "key_placeholder", "empty_history"]


@dataclass(frozen=True)
class AppMode:
    """The app's side of the wording: how it was started, as the Studio reports it."""

    demo: bool
    needs_key: bool = False
    """Akool mode with no account of its own: each visitor brings a key."""
    uploads_work: bool = True
    """Uploaded sources can reach whoever makes the image (Akool needs a public address for this app)."""
    keeps_history: bool = True
    """History and images outlive a restart (False on a Space without persistent storage)."""

    @classmethod
    def of(cls, studio: object) -> "AppMode":
        settings = getattr(studio, "settings", None)  # page tests render with a stand-in studio that has none
        uploads = getattr(studio, "uploads", None)
        demo = getattr(studio, "mode", "demo") == "demo"
        return cls(
            demo=demo,
            needs_key=bool(getattr(studio, "needs_api_key", False)) and not demo,
            uploads_work=demo or bool(getattr(uploads, "can_serve", True)),
            keeps_history=not bool(getattr(settings, "ephemeral_cache", False)),
        )


def banner_text(mode: AppMode, *, own_key: bool) -> str:
    """The banner's Markdown for ``mode`` with (``own_key``) or without a key in the key box."""
    if own_key:
        if mode.demo:
            lines = [
                "**Using your own Akool key** (not the offline demo): your requests go to Akool itself and use "
                "your account's credits, and the history shows this key's jobs. Press **Forget key** to go "
                "back to the demo and its history."
            ]
        elif mode.needs_key:
            lines = ["**Connected to Akool with your key**: requests use your account's credits."]
        else:
            lines = [
                "**Using your own Akool key**: requests use your account's credits (not this app's), and the "
                "history shows this key's jobs. Press **Forget key** to go back to this app's account."
            ]
    elif mode.demo:
        lines = [
            "**Offline demo**: images are synthesised locally by a built-in Akool simulator, not by Akool. "
            "Paste your own Akool API key below to make real images on your account."
        ]
    elif mode.needs_key:
        lines = ["**Connected to Akool.** This app has no Akool account of its own: paste your Akool API key "
                 "below to generate images (it is required here)."]
    else:
        lines = ["**Connected to Akool** with this app's account (or paste your own API key below)."]
    if not mode.uploads_work:
        lines.append("⚠️ Uploaded source images cannot be used on this app yet: paste a public image URL as the "
                     "source instead.")
    if not mode.keeps_history:
        lines.append("⚠️ This app keeps nothing across restarts: download the images you want to keep.")
    return "  \n".join(lines)


def banner_classes(mode: AppMode, *, own_key: bool) -> list[str]:
    return ["own-key"] if own_key else (["demo"] if mode.demo else ["akool"])


def key_label(mode: AppMode) -> str:
    return "Your Akool API key (required on this app)" if mode.needs_key else "Your Akool API key (optional)"


def key_placeholder(mode: AppMode) -> str:
    if mode.needs_key:
        return "Paste your Akool API key"
    if mode.demo:
        return "Paste a key to use Akool itself instead of the demo"
    return "Paste your key (leave empty to use this app's account)"


def empty_history(*, own_key: bool, searching: bool) -> str:
    """The history's line when a page of it is empty."""
    if searching:
        return "No jobs match that search."
    if own_key:
        return "No jobs for your key yet: its results will appear here (Forget key shows this browser's jobs)."
    return "No jobs yet: your results will appear here."
