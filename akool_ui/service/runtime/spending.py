"""The tracker's two calls that spend credits, a create and a U/V press, and the re-read of a parent's
buttons after Akool refused a press. Each goes through a write-ahead intent (``intents``); a lost answer
starts the search for its job (``settling``).

Mixed into ``JobTracker`` (``self`` is the tracker).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...akool.client import AkoolClient
from ...akool.errors import AkoolError, CannotOperate
from ...akool.models import ImageRequest, validate_button
from ...jobs import JobRecord, lifecycle
from ..ports import RecordNotFound

if TYPE_CHECKING:  # pragma: no cover
    from .tracker import JobTracker

__all__ = ["Spending"]

log = logging.getLogger(__name__)


class Spending:
    """``JobTracker``'s create, press and button re-read."""

    def submit(
        self: "JobTracker", request: ImageRequest, *, client: AkoolClient, owner: str, webhook_url: str | None = None
    ) -> list[JobRecord]:
        """Create the images on Akool (one job per batch item), store a record each, start tracking.

        The request is recorded before it is sent and its jobs the moment the answer arrives (``intents``).

        Raises:
            OutcomeUnknown: no usable answer; Akool may have made the jobs (kept as "outcome unknown").
            AkoolError: from the create call; nothing was made.
        """
        found, lost = self.settler.finders(self.track, client, webhook=bool(webhook_url))
        records = self.intents.create(request, owner=owner, webhook_url=webhook_url, send=client.create_images,
                                      found=found, lost=lost)
        found(records)
        log.info("submitted %d job(s): %s", len(records), ", ".join(r.id for r in records))
        return records

    def press(
        self: "JobTracker", job_id: str, button: str, *, client: AkoolClient, owner: str, webhook_url: str | None = None
    ) -> JobRecord:
        """Press U1-U4 / V1-V4 on the owner's finished job; returns the new child job's record.

        Raises JobNotFound if the job is not the owner's, CannotOperate if the button is not offered or
        already used (checked here first, so no credit is spent on a sure refusal; after Akool's own
        refusal the parent's buttons are re-read), OutcomeUnknown / AkoolError as ``submit``.
        """
        button = validate_button(button)  # a bad button is refused before anything is looked up
        parent = self._owned(job_id, owner)
        found, lost = self.settler.finders(self.track, client, webhook=bool(webhook_url))
        try:
            child = self.intents.press(
                parent.id, button, owner=owner, webhook_url=webhook_url,
                send=lambda url: client.press_button(parent.id, button, webhook_url=url), found=found, lost=lost,
            )
        except CannotOperate as exc:
            if exc.code is not None:  # Akool's refusal: our copy of the buttons is stale
                self.refresh_buttons(parent.id, client)
            raise
        self.track(child.id, client)
        return child

    def refresh_buttons(self: "JobTracker", job_id: str, client: AkoolClient) -> JobRecord | None:
        """Re-read a finished job's buttons from Akool (after a refused press); None if Akool cannot say."""
        try:
            job = client.get_job(job_id)
        except AkoolError as exc:
            log.info("could not re-read the buttons of job %s (%s)", job_id, type(exc).__name__)
            return None
        try:
            return self._update(job_id, lambda rec: lifecycle.refresh_buttons(rec, job))
        except RecordNotFound:
            return None
