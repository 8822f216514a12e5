"""Write-ahead intents: a credit-spending request is on disk before it is sent, its jobs right after.

A create or a U/V press costs credits the moment Akool accepts it, and the answer can be lost: the app
is killed while the request is in flight, the connection drops, the gateway times out, the answer is
garbled. So, as a database would:

1. Before sending, store an *intent* record (state SENDING, a local id, the owner, the request, the
   parent and button of a press, the time). A press also marks its button used on the parent in the same
   transaction, after checking it is still free there: two clicks cannot both be sent.
2. When the answer comes, first write its job ids into the intent (one small write: the shortest window
   the store allows between "answer received" and "ids durable"), then swap the intent for the job
   records in one transaction (``JobStore.replace``): from then on the tracker owns them. A crash between
   the two is finished at start-up from the stored ids.
3. No answer: if Akool surely never got it (no connection, or it refused with a code) the intent is
   removed (and a press's button offered again); otherwise it becomes UNKNOWN, shown in the owner's
   history as "outcome unknown" with the prompt and time, dismissable, and its press button stays used.
   After a crash, SENDING intents become UNKNOWN at start-up (``settle_after_restart``).
4. When the app has a webhook URL, the intent's unguessable token rides in it (``?intent=…``): Akool's
   callback for a job this app never heard of is *adopted* into the intent owner's history (``adopt``).
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import replace
from typing import Callable
from urllib.parse import urlencode, urlsplit

from ..akool.errors import AkoolError, CannotOperate, OutcomeUnknown, maybe_accepted
from ..akool.models import ImageRequest, Job
from ..jobs import JobRecord, RecordState, lifecycle, wording
from ..jobs.events import JobEvent, state_event
from .store import JobStore, RecordNotFound

__all__ = ["Intents", "INTENT_PARAM", "with_intent_token"]

log = logging.getLogger(__name__)

INTENT_PARAM = "intent"
"""The webhook URL's query parameter that carries an intent's token."""

Publish = Callable[[list[JobEvent]], None]
Apply = Callable[[str, Callable[[JobRecord], list[JobEvent]]], JobRecord]


def with_intent_token(webhook_url: str | None, token: str | None) -> str | None:
    """The webhook URL with the intent's token added (None stays None)."""
    if not webhook_url or not token:
        return webhook_url
    joiner = "&" if urlsplit(webhook_url).query else "?"
    return f"{webhook_url}{joiner}{urlencode({INTENT_PARAM: token})}"


class Intents:
    """Sends creates and presses through write-ahead intents, and reconciles the ones left unanswered."""

    def __init__(self, store: JobStore, *, apply: Apply, publish: Publish):
        """``apply``: the tracker's store update that publishes a transition's events (as ``JobTurns``)."""
        self.store = store
        self._update = apply
        self._publish = publish

    # --- sending --------------------------------------------------------------------------------------

    def create(
        self, request: ImageRequest, *, owner: str, webhook_url: str | None, send: Callable[[ImageRequest], list[Job]]
    ) -> list[JobRecord]:
        """Record the intent, ``send`` the request, store the jobs Akool made; their records (QUEUED...).

        Raises:
            OutcomeUnknown: no usable answer, and Akool may have made the jobs (the intent stays, UNKNOWN).
            AkoolError: Akool surely made nothing (the intent is gone).
        """
        intent = JobRecord.intent(owner, kind="generate", request=request, batch_id=uuid.uuid4().hex)
        self.store.put(intent)  # durable before a byte is sent
        if webhook_url:
            request = replace(request, webhook_url=with_intent_token(webhook_url, intent.intent_token))
        try:
            jobs = send(request)
        except AkoolError as exc:
            jobs = list(getattr(exc, "jobs", None) or [])  # fewer jobs than asked for: keep the ones made
            if not jobs:
                self._unanswered(intent, exc)
                raise
            log.warning("Akool started %d of %d job(s); keeping those", len(jobs), request.batch_quantity)
        except Exception:  # a bug or an interruption after sending: the jobs may exist
            self._apply(intent.id, lifecycle.outcome_unknown)
            raise
        self._answered(intent, [job.id for job in jobs])
        records = []
        for index, job in enumerate(jobs):
            record = intent.adopt(job.id, batch_index=index)
            lifecycle.observe(record, job)
            records.append(record)
        self.store.replace(intent.id, records)
        return records

    def press(
        self, parent_id: str, button: str, *, owner: str, webhook_url: str | None, send: Callable[[str | None], Job]
    ) -> JobRecord:
        """Mark the button used on the parent and record the intent (one transaction, refused if the button
        is not free), ``send`` the press, store the child job; its record.

        Raises:
            CannotOperate: the button is used or not offered (checked here first; nothing is sent), or
                Akool refused it (the intent is gone; the button stays used only if Akool said "used").
            OutcomeUnknown, AkoolError: as ``create`` (a surely refused press frees its button again).
        """
        events: list[JobEvent] = []
        intent: JobRecord | None = None

        def claim(parent: JobRecord) -> None:
            nonlocal intent
            if not parent.can_press(button):
                raise _not_pressable(parent, button, self._pending_press(parent, button))
            events.extend(lifecycle.mark_button_used(parent, button))
            intent = JobRecord.intent(
                owner, kind="button", request=dict(parent.request, batch_quantity=1), parent_id=parent.id,
                button=button,
            )

        with self.store.transaction():
            self.store.update(parent_id, claim)
            assert intent is not None
            self.store.put(intent)
        self._publish(events)
        try:
            job = send(with_intent_token(webhook_url, intent.intent_token))
        except CannotOperate:
            self.store.delete(intent.id, owner)  # Akool refused: no job; the caller re-reads the buttons
            raise
        except AkoolError as exc:
            self._unanswered(intent, exc)
            self._apply(parent_id, lambda rec: lifecycle.unmark_button_used(rec, button))  # surely not sent
            raise
        except Exception:  # a bug or an interruption after sending: the press may have been made
            self._apply(intent.id, lifecycle.outcome_unknown)
            raise
        self._answered(intent, [job.id])
        child = intent.adopt(job.id)
        lifecycle.observe(child, job)
        self.store.replace(intent.id, [child])
        return child

    def _answered(self, intent: JobRecord, job_ids: list[str]) -> None:
        """The answer's job ids, durable before anything else is done with them: one plain write of the
        intent we hold (no read-modify-write: if it was dismissed or adopted meanwhile, the swap that
        follows at once removes it again, and keeps any job already stored)."""
        intent.answered_ids = list(job_ids)
        self.store.put(intent)

    def _unanswered(self, intent: JobRecord, exc: AkoolError) -> None:
        """Settle an intent whose request raised: UNKNOWN (raising OutcomeUnknown) if Akool may have
        made the jobs, else removed (the caller re-raises ``exc``)."""
        if not maybe_accepted(exc):
            self.store.delete(intent.id, intent.owner)
            return
        log.warning("no usable answer to a %s (%s): outcome unknown, kept as %s",
                    "press" if intent.kind == "button" else "create", type(exc).__name__, intent.id)
        self._apply(intent.id, lifecycle.outcome_unknown)
        sentence = wording.PRESS_OUTCOME_UNKNOWN if intent.kind == "button" else OutcomeUnknown.default_user_message
        raise OutcomeUnknown(f"outcome unknown after {type(exc).__name__}: {exc}", user_message=sentence) from exc

    def _pending_press(self, parent: JobRecord, button: str) -> bool:
        """A press of ``button`` on ``parent`` whose outcome is not known yet."""
        return any(c.is_intent and c.button == button for c in self.store.children(parent.id, owner=parent.owner))

    # --- reconciling ----------------------------------------------------------------------------------

    def settle_after_restart(self) -> int:
        """Intents a previous run left: those whose answer had arrived become their jobs (the stored ids);
        those still SENDING belong to requests it never heard back from: UNKNOWN now, their press buttons
        kept used. Returns how many stay unknown."""
        intents = []
        for intent in self.store.intents():
            if intent.answered_ids:
                self._finish_answered(intent)
                continue
            intents.append(intent)
            if intent.state is RecordState.SENDING:
                self._apply(intent.id, lifecycle.outcome_unknown)
            if intent.kind == "button" and intent.parent_id and intent.button:
                self._apply(intent.parent_id, lambda rec, b=intent.button: lifecycle.mark_button_used(rec, b))
        if intents:
            log.warning("%d request(s) sent before a restart have an unknown outcome; Akool may have made "
                        "their images (shown in their owners' history)", len(intents))
        return len(intents)

    def _finish_answered(self, intent: JobRecord) -> None:
        """Make the job records of an intent whose answer was stored but not yet swapped in (QUEUED: the
        tracker's first poll tells where they are)."""
        records = [intent.adopt(job_id, batch_index=i) for i, job_id in enumerate(intent.answered_ids)]
        self.store.replace(intent.id, records)
        if intent.kind == "button" and intent.parent_id and intent.button:
            self._apply(intent.parent_id, lambda rec, b=intent.button: lifecycle.mark_button_used(rec, b))
        log.info("recovered %d job(s) whose answer arrived just before a restart", len(records))

    def adopt(self, job_id: str, token: str) -> JobRecord | None:
        """Akool called back about ``job_id``, unknown here, with an intent's ``token``: store the job as
        one of that intent's, in its owner's history. None if no intent has this token (or the job is
        known already)."""
        intent = next((i for i in self.store.intents() if i.intent_token and hmac.compare_digest(i.intent_token, token)), None)
        if intent is None:
            return None
        with self.store.transaction():  # callbacks for a batch's jobs arrive together: count them in turn
            if self.store.get(job_id) is not None:
                return None
            current = self.store.get(intent.id)
            record = (current or intent).adopt(job_id, batch_index=(current or intent).batch_index)
            if current is None:  # dismissed (or settled) meanwhile: the job is Akool's all the same
                self.store.put(record)
            elif current.batch_index + 1 >= current.expected_jobs:  # the last (or only) job it stood for
                self.store.replace(intent.id, [record])
            else:  # a batch: keep the intent for the jobs still unheard of; count this one
                self.store.update(intent.id, _count_adopted)
                self.store.put(record)
        if record.parent_id and record.button:
            self._apply(record.parent_id, lambda rec: lifecycle.mark_button_used(rec, record.button or ""))
        log.info("adopted job %s (its create's answer was lost)", job_id)
        self._publish([state_event(record)])
        return record

    def _apply(self, job_id: str, transition: Callable[[JobRecord], list[JobEvent]]) -> None:
        """``apply``, where a record gone meanwhile (dismissed, deleted) is simply left alone."""
        try:
            self._update(job_id, transition)
        except RecordNotFound:
            pass


def _count_adopted(intent: JobRecord) -> None:
    """An intent's ``batch_index`` counts the jobs adopted from it so far."""
    intent.batch_index += 1


def _not_pressable(parent: JobRecord, button: str, pending: bool) -> CannotOperate:
    if pending:
        return CannotOperate(f"button {button} on job {parent.id} has a press of unknown outcome",
                             user_message=wording.PRESS_OUTCOME_UNKNOWN)
    used = button in parent.used_buttons
    return CannotOperate(
        f"button {button} {'used' if used else 'not offered'} on job {parent.id}",
        user_message=f"{button} has already been used on this image." if used
        else f"{button} is not available for this image.",
    )
