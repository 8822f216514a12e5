"""What the tracker does when Akool calls back: poll that job now (or, for "processing", just note it),
adopt a job whose create answer was lost, and tell the job's pacing plan a callback came. A callback for
a job another process polls (its lease is theirs) is passed on as a poke (``EventBus.poke``): the process
that polls it looks now, not at its next planned turn.

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
        if self._hear_tracked(job_id, event.status):
            return True
        record = self.store.get(job_id)
        if record is None and intent_token:
            record = self.intents.adopt(job_id, intent_token)
        if record is None:
            return False
        client = self.client_for(record) if self.client_for else None
        if client is not None and (record.needs_work or record.state is RecordState.TIMED_OUT):
            if self.scheduler.track(job_id, client, 0.0, interval=self.policy.interval):
                self.scheduler.note(job_id, self._heard(event.status, record))  # a callback came: the plan knows
            elif record.needs_work:  # another process polls it: tell it
                self.hub.poke(job_id, event.status)
        return True

    def on_poke(self: "JobTracker", job_id: str, status: int) -> None:
        """Another process heard a callback for a job this one may poll (``EventBus.on_poke``)."""
        self._hear_tracked(job_id, status)

    def _hear_tracked(self: "JobTracker", job_id: str, status: int) -> bool:
        """A callback for a job tracked here: poll it now (for "processing", note it); False if untracked."""
        if self.pacing is not None and status == 2 and self.scheduler.note(job_id, self._heard(status)):
            self._update(job_id, lifecycle.heard_processing)  # nothing to fetch yet: no poll
            return True
        return self.scheduler.poke(job_id, note=self._heard(status))

    def _heard(self: "JobTracker", status: int, record: JobRecord | None = None) -> Callable[[Tracked], None]:
        """Tell the job's pacing plan a callback came (so it knows when the job ended); ``record`` makes
        the plan of a job tracked a moment ago (adopted or resumed by this callback)."""
        def note(tracked: Tracked) -> None:
            if self.pacing is None:
                return
            if tracked.plan is None and record is not None:
                tracked.plan = self.pacing.plan(record, tracked.client, self._clock())
            if tracked.plan is not None:
                self.pacing.heard(tracked.plan, self._clock(), status)
            else:
                self.pacing.webhooks_trusted = True
        return note
