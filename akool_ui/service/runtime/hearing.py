"""What the tracker does when Akool calls back: poll that job now (or, for "processing", just note it),
adopt a job whose create answer was lost, and tell the job's pacing plan a callback came.

Mixed into ``JobTracker`` (``self`` is the tracker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ...akool.errors import AkoolError
from ...akool.models import validate_job_id
from ...akool.webhook import WebhookEvent
from ...jobs import JobRecord, RecordState, lifecycle
from .scheduler import Tracked

if TYPE_CHECKING:  # pragma: no cover
    from .tracker import JobTracker

__all__ = ["WebhookHearing"]


class WebhookHearing:
    """``JobTracker``'s handling of verified webhooks."""

    def on_webhook(self: "JobTracker", event: WebhookEvent, *, intent_token: str | None = None) -> bool:
        """A verified Akool callback: poll that job now instead of at its next turn.

        A job this app does not know is adopted if the callback carries the token of one of its intents
        (the create's answer was lost); otherwise returns False. The poll (not the callback) updates the
        record, because only ``infobymodelid`` carries the buttons and candidate URLs.
        """
        try:
            job_id = validate_job_id(event.job_id)
        except AkoolError:
            return False
        if self.pacing is not None and event.status == 2 and self.scheduler.note(job_id, self._heard(event)):
            self._update(job_id, lifecycle.heard_processing)  # nothing to fetch yet: no poll
            return True
        if self.scheduler.poke(job_id, note=self._heard(event)):
            return True
        record = self.store.get(job_id)
        if record is None and intent_token:
            record = self.intents.adopt(job_id, intent_token)
        if record is None:
            return False
        client = self.client_for(record) if self.client_for else None
        if client is not None and (record.needs_work or record.state is RecordState.TIMED_OUT):
            self.track(job_id, client, delay=0.0)
            self.scheduler.note(job_id, self._heard(event, record))  # a callback came: the plan knows
        return True

    def _heard(self: "JobTracker", event: WebhookEvent, record: JobRecord | None = None) -> Callable[[Tracked], None]:
        """Tell the job's pacing plan a callback came (so it knows when the job ended); ``record`` makes
        the plan of a job tracked a moment ago (adopted or resumed by this callback)."""
        def note(tracked: Tracked) -> None:
            if self.pacing is None:
                return
            if tracked.plan is None and record is not None:
                tracked.plan = self.pacing.plan(record, tracked.client, self._clock())
            if tracked.plan is not None:
                self.pacing.heard(tracked.plan, self._clock(), event.status)
            else:
                self.pacing.webhooks_trusted = True
        return note
