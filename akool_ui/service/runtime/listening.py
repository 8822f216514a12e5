"""Listening for an answer longer than the caller waits for it.

A create or press whose answer is slow is not lost: its socket stays open in a thread (for as long as the
client's ``spend_timeout`` allows) while the caller is told "no answer yet" after ``wait`` seconds. When
the answer (or the error) comes, ``late`` gets it; nothing is dropped on the floor.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, TypeVar

__all__ = ["StillListening", "listen"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class StillListening(Exception):
    """The call has not ended within the caller's wait; its outcome goes to ``late``."""


def listen(call: Callable[[], T], *, wait: float, abandon: Callable[[], None],
           late: Callable[[T | None, BaseException | None], None]) -> T:
    """``call()`` in a daemon thread: its result (or its exception, raised here) if it ends within
    ``wait`` seconds. Otherwise ``abandon()`` runs, then StillListening is raised, and the outcome goes
    to ``late(result, error)`` when it comes; ``abandon`` always runs before ``late``."""
    done = threading.Event()
    lock = threading.Lock()
    box: dict[str, object] = {}
    abandoned = False

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to whoever owns the outcome
            box["error"] = exc
        with lock:
            done.set()
            hand_over = abandoned
        if hand_over:
            try:
                late(box.get("result"), box.get("error"))  # type: ignore[arg-type]
            except Exception:  # pragma: no cover - a late handler's bug must not kill silently
                log.exception("handling a late answer failed")

    threading.Thread(target=run, name="akool-listen", daemon=True).start()
    done.wait(max(wait, 0.0))
    with lock:
        if not done.is_set():
            abandoned = True
            abandon()
            raise StillListening()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
