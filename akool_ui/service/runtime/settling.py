"""Settling an unknown outcome by itself: look at what Akool shows, adopt the job, or say plainly it is not found.

A create or press whose answer was lost may have been carried out (and charged). Without a webhook
(``intents`` adopts the callback when there is one), this is what Akool's lookups allow:

* A press: ``infobymodelid`` on the parent. Its ``used_buttons`` says whether Akool carried the press
  out; nothing in the documented answer names the job the press made. Seen used: said plainly at once
  (after ``webhook_grace`` when the press's callback, carrying the intent's token, may still adopt the
  job); the button stays used, as Akool shows it. Seen free (offered, not used) on two looks: Akool made
  nothing, the button is offered again. Never seen used during the search (unreadable, or not yet free
  twice): the button is offered again too, since Akool itself refuses a second press of a used button
  (1010): a re-press cannot be charged twice.
* A create: Akool has no lookup that lists jobs or finds one by its request. A slow answer is still
  heard (``listening``); a malformed one gives up its ids (``akool.salvage``). Otherwise the search ends
  at once (or after ``webhook_grace`` when a callback may still come) with the plain sentence, and a
  repeat of the same request is asked about first (``Studio.submit``).

Each search runs in its own daemon thread (lost answers are rare) on a bounded schedule.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from ...akool.client import AkoolClient
from ...akool.errors import AkoolError, lost_answer_phrase
from ...jobs import JobRecord, wording
from .intents import Found, Intents, Lost

__all__ = ["Settler", "DEFAULT_SCHEDULE"]

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)
"""Pauses before each look at a press's parent: about a minute in all."""
DEFAULT_WEBHOOK_GRACE = 60.0
"""How long a create's search waits for Akool's callback before it says the images were not found."""


class Settler:
    """Looks for the jobs of unknown outcomes (see the module docstring)."""

    def __init__(self, intents: Intents, *, schedule: Sequence[float] = DEFAULT_SCHEDULE,
                 webhook_grace: float = DEFAULT_WEBHOOK_GRACE):
        self.intents = intents
        self.schedule = tuple(schedule)
        self.webhook_grace = webhook_grace
        self._closed = threading.Event()

    def close(self) -> None:
        """Stop every search at its next pause (the entries stay; a restart looks again)."""
        self._closed.set()

    def _sleep(self, seconds: float) -> None:
        if self._closed.wait(seconds):
            raise _Closed()

    def settle(self, intent: JobRecord, error: BaseException | None, client: AkoolClient, found: Found, *,
               webhook: bool = False) -> threading.Thread:
        """Start the search for ``intent``'s job (``error``: what became of its answer)."""
        target = self._press if intent.kind == "button" else self._create
        thread = threading.Thread(target=self._run, args=(target, intent, error, client, found, webhook),
                                  name=f"settle-{intent.id[-6:]}", daemon=True)
        thread.start()
        return thread

    def finders(self, track: Callable[[str, AkoolClient], None], client: AkoolClient, *,
                webhook: bool) -> tuple[Found, Lost]:
        """For one create or press: what to do with jobs found after the caller stopped waiting (``track``
        them), and with an answer lost for good (look for its job)."""
        def found(records: list[JobRecord]) -> None:
            for record in records:
                track(record.id, client)

        def lost(intent: JobRecord, error: BaseException | None) -> None:
            self.settle(intent, error, client, found, webhook=webhook)

        return found, lost

    def after_restart(self, track: Callable[[str, AkoolClient], None],
                      client_for: "Callable[[JobRecord], AkoolClient | None] | None") -> None:
        """Look again for the jobs of the unknown outcomes a previous run left unsettled."""
        for intent in self.intents.store.intents():
            client = client_for(intent) if client_for else None
            if client is not None and intent.search not in ("gave_up", "resend_offered", "resent"):
                self.settle(intent, InterruptedError(), client, self.finders(track, client, webhook=False)[0])

    def _run(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        except _Closed:
            pass
        except Exception:  # pragma: no cover - a bug here must not leave the entry "searching" unsaid
            log.exception("settling an unknown outcome failed")

    def _still_open(self, intent: JobRecord) -> bool:
        current = self.intents.store.get(intent.id)
        return current is not None and current.is_intent

    def _create(self, intent: JobRecord, error: BaseException | None, client: AkoolClient, found: Found,
                webhook: bool) -> None:
        if webhook and self.webhook_grace > 0:
            self._sleep(self.webhook_grace)  # the callback, carrying the intent's token, adopts the jobs
        if self._still_open(intent):
            log.warning("the jobs of %s could not be found (%s)", intent.id, type(error).__name__)
            self.intents.give_up(intent, wording.not_found("generate", lost_answer_phrase(error)))

    def _press(self, intent: JobRecord, error: BaseException | None, client: AkoolClient, found: Found,
               webhook: bool) -> None:
        button, parent_id = intent.button or "", intent.parent_id or ""
        free_seen = 0
        for pause in self.schedule:
            self._sleep(pause)
            if not self._still_open(intent):
                return  # adopted by a late answer or a callback, or dismissed
            try:
                parent = client.get_job(parent_id)
            except AkoolError as exc:
                log.info("could not look at %s for its lost %s press (%s)", parent_id, button, type(exc).__name__)
                continue
            if button in parent.used_buttons:  # carried out; Akool does not say which job it made
                self._used_at_akool(intent, webhook)
                return
            if parent.can_press(button):
                free_seen += 1
                if free_seen >= 2:
                    self.intents.release(intent, wording.press_released(button))
                    return
        # Never seen used: Akool refuses a second press of a used button (1010), so offering it again
        # cannot be charged twice.
        if self._still_open(intent):
            self.intents.release(intent, wording.not_found("button", lost_answer_phrase(error)))

    def _used_at_akool(self, intent: JobRecord, webhook: bool) -> None:
        """Akool shows the button used: only a callback can say which job the press made."""
        if webhook and self.webhook_grace > 0:
            self._sleep(self.webhook_grace)
        if self._still_open(intent):
            log.warning("the lost %s press on %s was carried out; Akool does not say which job it made",
                        intent.button, intent.parent_id)
            self.intents.give_up(intent, wording.press_carried_out(intent.button or ""))


class _Closed(Exception):
    """The tracker closed during a search."""
