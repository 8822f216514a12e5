"""A repeated Generate while an earlier identical one has an unknown outcome: held, or asked about first.

Sending the same request again while Akool may already be making it would pay twice. So, for the
owner's UNKNOWN intent with the same request: while its job is still being looked for, a repeat is held
(refused with a sentence); once the search ended without finding it, the first repeat is refused with
the question, and the next one is sent (once, knowingly). Page, API and the app's CLI go through
``Studio.submit``, so all three ask the same way.
"""

from __future__ import annotations

import time

from ...akool.models import ImageRequest
from ...errors import StudioError
from ...jobs import JobRecord, RecordState, wording
from ...jobs.codec import request_to_dict
from ..ports import JobRecords, RecordNotFound

__all__ = ["RepeatGuard", "RepeatUnsettled"]


class RepeatUnsettled(StudioError):
    """The same request has an unknown outcome: nothing was sent. ``asked``: sending it again now goes."""

    def __init__(self, user_message: str, *, asked: bool, intent_id: str):
        super().__init__(user_message)
        self.asked = asked
        self.intent_id = intent_id


class RepeatGuard:
    """Checks a create against the owner's unknown outcomes (see the module docstring)."""

    def __init__(self, store: JobRecords):
        self.store = store

    def check(self, request: ImageRequest, owner: str) -> None:
        """Raise RepeatUnsettled when ``request`` repeats one of the owner's unsettled unknown outcomes."""
        wanted = request_to_dict(request)
        for intent in self.store.intents():
            if intent.owner != owner or intent.kind != "generate" or intent.state is not RecordState.UNKNOWN:
                continue
            if request_to_dict(intent.request) != wanted or intent.search == "resent":
                continue
            if intent.search == "resend_offered":
                self._mark(intent, "resent")  # asked and confirmed: this one goes
                continue
            at = time.strftime("%H:%M", time.localtime(intent.created_at))
            if intent.search == "gave_up":
                self._mark(intent, "resend_offered")
                raise RepeatUnsettled(wording.repeat_asked(at), asked=True, intent_id=intent.id)
            raise RepeatUnsettled(wording.repeat_held(at), asked=False, intent_id=intent.id)

    def _mark(self, intent: JobRecord, search: str) -> None:
        try:
            self.store.update(intent.id, lambda rec: setattr(rec, "search", search))
        except RecordNotFound:
            pass
