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
3. No answer: if Akool surely never got it (no connection, it refused with a code, a gateway answered a
   bare 502) the intent is removed (and a press's button offered again); otherwise it becomes UNKNOWN,
   shown in the owner's history as "outcome unknown" with what happened and the prompt and time,
   dismissable, its press button kept used, and the search for its job begins (``settling``). A slow
   answer is still listened for (``listening``): its jobs are stored when it comes.
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

from ...akool.errors import AkoolError, CannotOperate, OutcomeUnknown, lost_answer_phrase, maybe_accepted
from ...akool.models import ImageRequest, Job
from ...jobs import JobRecord, RecordState, lifecycle, wording
from ...jobs.events import JobEvent, state_event
from ..ports import JobRecords, RecordNotFound
from .listening import StillListening, listen

__all__ = ["Intents", "INTENT_PARAM", "with_intent_token"]

log = logging.getLogger(__name__)

INTENT_PARAM = "intent"
"""The webhook URL's query parameter that carries an intent's token."""

Publish = Callable[[list[JobEvent]], None]
Apply = Callable[[str, Callable[[JobRecord], list[JobEvent]]], JobRecord]
Found = Callable[[list[JobRecord]], None]
"""Jobs found after the caller stopped waiting (a late answer, a search): start tracking them."""
Lost = Callable[[JobRecord, "BaseException | None"], None]
"""An answer lost for good: look for the job the intent may have made."""

DEFAULT_ANSWER_WAIT = 30.0
"""Seconds a caller waits for a create's or press's answer before hearing "no answer yet" (the socket
stays open longer: the client's ``spend_timeout``)."""


def _nobody(*_: object) -> None:
    """No one to tell."""


def with_intent_token(webhook_url: str | None, token: str | None) -> str | None:
    """The webhook URL with the intent's token added (None stays None)."""
    if not webhook_url or not token:
        return webhook_url
    joiner = "&" if urlsplit(webhook_url).query else "?"
    return f"{webhook_url}{joiner}{urlencode({INTENT_PARAM: token})}"


class Intents:
    """Sends creates and presses through write-ahead intents, and reconciles the ones left unanswered."""

    def __init__(self, store: JobRecords, *, apply: Apply, publish: Publish, answer_wait: float = DEFAULT_ANSWER_WAIT):
        """``apply``: the tracker's store update that publishes a transition's events (as ``JobTurns``)."""
        self.store = store
        self.answer_wait = answer_wait
        self._update = apply
        self._publish = publish

    # --- sending --------------------------------------------------------------------------------------

    def create(
        self, request: ImageRequest, *, owner: str, webhook_url: str | None, send: Callable[[ImageRequest], list[Job]],
        found: Found = _nobody, lost: Lost = _nobody,
    ) -> list[JobRecord]:
        """Record the intent, ``send`` the request, store the jobs Akool made; their records (QUEUED...).

        An answer slower than ``answer_wait`` is still listened for: its jobs, when they come, are stored
        and handed to ``found``. An answer that is lost for good goes to ``lost(intent, error)`` (the
        search for the jobs, ``settling``).

        Raises:
            OutcomeUnknown: no usable answer (yet), and Akool may have made the jobs (the intent stays, UNKNOWN).
            AkoolError: Akool surely made nothing (the intent is gone).
        """
        intent = JobRecord.intent(owner, kind="generate", request=request, batch_id=uuid.uuid4().hex)
        self.store.put(intent)  # durable before a byte is sent
        if webhook_url:
            request = replace(request, webhook_url=with_intent_token(webhook_url, intent.intent_token))
        try:
            jobs = self._listen(intent, lambda: send(request), found, lost)
        except OutcomeUnknown:  # still listening: the intent is UNKNOWN, the late answer will settle it
            raise
        except AkoolError as exc:
            jobs = list(getattr(exc, "jobs", None) or [])  # fewer jobs than asked for: keep the ones made
            if not jobs:
                self._unanswered(intent, exc, lost)
                raise
            log.warning("Akool started %d of %d job(s); keeping those", len(jobs), request.batch_quantity)
        except Exception:  # a bug or an interruption after sending: the jobs may exist
            self._apply(intent.id, lifecycle.outcome_unknown)
            raise
        return self._store_answer(intent, jobs)

    def press(
        self, parent_id: str, button: str, *, owner: str, webhook_url: str | None, send: Callable[[str | None], Job],
        found: Found = _nobody, lost: Lost = _nobody,
    ) -> JobRecord:
        """Mark the button used on the parent and record the intent (one transaction, refused if the button
        is not free), ``send`` the press, store the child job; its record. ``found``/``lost`` as ``create``.

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
            job = self._listen(intent, lambda: [send(with_intent_token(webhook_url, intent.intent_token))], found, lost)[0]
        except OutcomeUnknown:  # still listening (see create)
            raise
        except CannotOperate:
            self.store.delete(intent.id, owner)  # Akool refused: no job; the caller re-reads the buttons
            raise
        except AkoolError as exc:
            self._unanswered(intent, exc, lost)  # raises OutcomeUnknown when Akool may have made it
            raise
        except Exception:  # a bug or an interruption after sending: the press may have been made
            self._apply(intent.id, lifecycle.outcome_unknown)
            raise
        return self._store_answer(intent, [job])[0]

    def _listen(self, intent: JobRecord, call: Callable[[], list[Job]], found: Found, lost: Lost) -> list[Job]:
        """``call()``, listened for past ``answer_wait`` (see ``listening``): OutcomeUnknown meanwhile."""
        sentence = wording.outcome_unknown(intent.kind, lost_answer_phrase(None))

        def late(jobs: list[Job] | None, error: BaseException | None) -> None:
            if error is None and jobs:
                found(self._store_answer(intent, jobs))
            elif isinstance(error, AkoolError) and list(getattr(error, "jobs", None) or []):
                found(self._store_answer(intent, list(error.jobs)))  # type: ignore[attr-defined]
            elif isinstance(error, AkoolError) and not maybe_accepted(error):
                self.release(intent, wording.press_released(intent.button or "") if intent.button else None)
            else:
                log.warning("the late answer to %s never came (%s)", intent.id, type(error).__name__)
                lost(intent, error)

        try:
            return listen(call, wait=self.answer_wait, late=late, abandon=lambda: self._apply(
                intent.id, lambda rec: lifecycle.outcome_unknown(rec, message=sentence, searching=True)))
        except StillListening:
            raise OutcomeUnknown(f"no answer to {intent.id} after {self.answer_wait:.0f}s; still listening",
                                 user_message=sentence, intent_id=intent.id) from None

    def _store_answer(self, intent: JobRecord, jobs: list[Job]) -> list[JobRecord]:
        """Akool's answer: the ids durable first, then the intent swapped for the job records."""
        self._answered(intent, [job.id for job in jobs])
        records = []
        for index, job in enumerate(jobs):
            record = intent.adopt(job.id, batch_index=index)
            lifecycle.observe(record, job)
            records.append(record)
        self.store.replace(intent.id, records)
        if intent.kind == "button" and intent.parent_id and intent.button:  # said again: a late answer may follow a release
            self._apply(intent.parent_id, lambda rec, b=intent.button: lifecycle.mark_button_used(rec, b))
        self._publish([state_event(r) for r in records])
        return records

    def _answered(self, intent: JobRecord, job_ids: list[str]) -> None:
        """The answer's job ids, durable before anything else is done with them: one plain write of the
        intent we hold (no read-modify-write: if it was dismissed or adopted meanwhile, the swap that
        follows at once removes it again, and keeps any job already stored)."""
        intent.answered_ids = list(job_ids)
        self.store.put(intent)

    def _unanswered(self, intent: JobRecord, exc: AkoolError, lost: Lost) -> None:
        """Settle an intent whose request raised: UNKNOWN (raising OutcomeUnknown, and the search for the
        job started with ``lost``) if Akool may have made it, else removed and a press's button offered
        again (the caller re-raises ``exc``)."""
        if not maybe_accepted(exc):
            self.release(intent)
            return
        log.warning("no usable answer to a %s (%s): outcome unknown, kept as %s",
                    "press" if intent.kind == "button" else "create", type(exc).__name__, intent.id)
        sentence = wording.outcome_unknown(intent.kind, lost_answer_phrase(exc))
        self._apply(intent.id, lambda rec: lifecycle.outcome_unknown(rec, message=sentence, searching=True))
        lost(intent, exc)
        raise OutcomeUnknown(f"outcome unknown after {type(exc).__name__}: {exc}", user_message=sentence,
                             cause=exc, intent_id=intent.id) from exc

    # --- settling (the search for an unknown outcome's job: ``settling``) ------------------------------

    def adopt_job(self, intent: JobRecord, job: Job) -> JobRecord | None:
        """The job an unknown outcome made, found by looking: stored in the intent's place (None if it is
        known already)."""
        if self.store.get(job.id) is not None:
            self.store.delete(intent.id, intent.owner)
            return None
        return self._store_answer(intent, [job])[0]

    def release(self, intent: JobRecord, message: str | None = None) -> None:
        """Akool surely made nothing for this intent: it goes, and a press's button is offered again."""
        self.store.delete(intent.id, intent.owner)
        if intent.kind == "button" and intent.parent_id and intent.button:
            self._apply(intent.parent_id, lambda rec, b=intent.button: lifecycle.unmark_button_used(rec, b))
        if message:
            log.info("%s", message)

    def give_up(self, intent: JobRecord, message: str) -> None:
        """The search ended without finding the job: said plainly on the entry."""
        self._apply(intent.id, lambda rec: lifecycle.search_ended(rec, message))

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
