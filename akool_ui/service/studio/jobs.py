"""The Studio's jobs: make them (generate, press U/V, check again), read them, watch them, delete them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ...akool.errors import InvalidRequest
from ...akool.models import ImageRequest
from ...errors import StudioError
from ...jobs import ImageEntry, ImageState, JobRecord, Page
from ...netguard import UnsafeUrl, check_public_url
from ..runtime.tracker import Subscription

if TYPE_CHECKING:  # pragma: no cover
    from ..library.search import HistoryFilter
    from .core import Studio

__all__ = ["JobsDoor", "StoredImage"]


@dataclass(frozen=True)
class StoredImage:
    """One image of an owner's job as it is on disk now: the original when it is kept, else the preview
    (an original evicted by the cache limit keeps its preview; ``is_original`` says which it is)."""

    record: JobRecord
    entry: ImageEntry
    path: Path
    is_original: bool


class JobsDoor:
    """Studio methods about jobs (mixed into ``Studio``; ``self`` is the Studio)."""

    def check_source_url(self: "Studio", url: str | None) -> None:
        """Refuse a source URL that is not public before anything is sent (Akool, or the demo simulator,
        would fetch it on the visitor's behalf). Our own upload links are ours to vouch for.

        Raises:
            InvalidRequest: with the one sentence netguard gives.
        """
        if not url or self.uploads.is_own_url(url):
            return
        try:
            check_public_url(url)
        except UnsafeUrl as exc:
            raise InvalidRequest(f"refused source url: {exc}", user_message=exc.user_message) from None

    def submit(
        self: "Studio", request: ImageRequest, *, api_key: str | None, owner: str, client_address: str | None = None
    ) -> list[JobRecord]:
        """Create the request's images. On the server's credentials the spending limits are checked first.

        Raises:
            LimitReached: a limit would be passed (nothing is sent to Akool).
            RepeatUnsettled: the same request has an unknown outcome still unsettled (held, or asked about
                first: the next repeat is sent; see ``runtime/repeats``).
        """
        client = self.client_for(api_key)
        for url in request.source_urls:  # each one Akool might fetch
            self.check_source_url(url)
        self.tracker.repeats.check(request, owner)
        with self.budgets.spending(api_key, owner, client_address, "generate", request.batch_quantity,
                                   resolution=request.resolution) as spending:
            records = self.tracker.submit(request, client=client, owner=owner, webhook_url=self.webhook_url(api_key))
            spending.accepted(records)
        return records

    def press(
        self: "Studio", job_id: str, button: str, *, api_key: str | None, owner: str, client_address: str | None = None
    ) -> JobRecord:
        """Press U/V on the owner's job (a new job that spends credits: limited like ``submit``)."""
        client = self.client_for(api_key)
        with self.budgets.spending(api_key, owner, client_address, "button", 1, button=button) as spending:
            child = self.tracker.press(job_id, button, client=client, owner=owner, webhook_url=self.webhook_url(api_key))
            spending.accepted([child])
        return child

    def check_spending(
        self: "Studio", images: int, *, api_key: str | None, owner: str, client_address: str | None = None
    ) -> None:
        """Refuse now what ``submit`` would refuse for its limits (before a source upload is stored)."""
        self.budgets.check_spending(images, api_key=api_key, owner=owner, client_address=client_address)

    def check_again(self: "Studio", job_id: str, *, api_key: str | None, owner: str) -> JobRecord:
        """Look again at the owner's timed-out or stopped job, or downloads that gave up."""
        return self.tracker.check_again(job_id, client=self.client_for(api_key), owner=owner)

    def check_again_as_operator(self: "Studio", job_id: str) -> JobRecord:
        """Check again any owner's job made on the server's credentials (the CLI, on the app's own cache).

        Raises:
            StudioError: no such job, or it was made with a visitor's own key (not ours to use).
        """
        record = self.store.get(job_id)
        if record is None:
            raise StudioError("There is no such job in this app's history.")
        client = self.credentials.client_for_record(record)
        if client is None:
            raise StudioError("made with a visitor's own key; check it again from the page with that key.")
        return self.tracker.check_again(record.id, client=client, owner=record.owner)

    def stop(self: "Studio", job_id: str, *, owner: str) -> JobRecord:
        """Stop watching the owner's running job (Akool has no cancel; "check again" resumes it)."""
        return self.tracker.stop(job_id, owner=owner)

    def get(self: "Studio", job_id: str, owner: str) -> JobRecord | None:
        """The owner's job, or None (someone else's job, and a job deleted with undo pending, look missing)."""
        if self.trash.is_hidden(job_id):
            return None
        return self.tracker.get(job_id, owner)

    def record(self: "Studio", job_id: str) -> JobRecord | None:
        """Any owner's record (the operator's CLI)."""
        return self.store.get(job_id)

    def unsettled(self: "Studio") -> list[JobRecord]:
        """Every owner's records the app still owes something (the operator's CLI)."""
        return self.store.unsettled()

    def children(self: "Studio", job_id: str, owner: str) -> list[JobRecord]:
        """The owner's U/V jobs made from ``job_id`` (those deleted with undo pending left out)."""
        return [c for c in self.store.children(job_id, owner=owner) if not self.trash.is_hidden(c.id)]

    def history(
        self: "Studio", owner: str, *, cursor: str | None = None, limit: int = 20, query: str | None = None,
        filters: "HistoryFilter | None" = None, view: str | None = None,
    ) -> Page[JobRecord]:
        """The owner's jobs, newest first, ``limit`` a page (``cursor``: a previous page's ``next_cursor``);
        a job deleted with undo pending is left out (the page is one shorter). ``view`` (all, favourites, a
        board id) and ``filters`` narrow it (``BoardsDoor.filtered_history``)."""
        narrowed = self.view_filter(owner, view, filters)
        if not narrowed.is_empty:
            return self.filtered_history(owner, narrowed, cursor=cursor, limit=limit, query=query)
        page = self.tracker.history(owner, cursor=cursor, limit=limit, query=query)
        return Page([r for r in page.items if not self.trash.is_hidden(r.id)], page.next_cursor)

    def subscribe(self: "Studio", job_ids: str | Iterable[str]) -> Subscription:
        """These jobs' events as they happen, starting with where each is now."""
        return self.tracker.subscribe(job_ids)

    def typical_duration(self: "Studio", record: JobRecord) -> float | None:
        """Seconds a job like ``record``'s typically takes here, learned from the jobs seen finishing
        (None with the steady poll schedule): the page's progress bar."""
        if self.pacing is None:
            return None
        return self.pacing.typical_seconds(record, self.credentials.client_for_record(record))

    def stored_images(self: "Studio", owner: str, pairs: Sequence[tuple[str, int]]) -> list[StoredImage | None]:
        """Each (job id, image index) of ``owner`` resolved to its file, in order; None where the job is not
        the owner's, is deleted (undo pending too), or that image has no file any more."""
        return [self._stored_image(owner, job_id, index) for job_id, index in pairs]

    def _stored_image(self: "Studio", owner: str, job_id: str, index: int) -> StoredImage | None:
        record = self.get(job_id, owner)
        entry = next((e for e in record.images if e.index == index), None) if record is not None else None
        if record is None or entry is None or entry.state not in (ImageState.STORED, ImageState.EVICTED):
            return None
        candidates = ([(entry.original, True)] if entry.is_stored and entry.original else []) + [(entry.preview, False)]
        for relative, is_original in candidates:
            if relative and (path := self.image_path(relative)).is_file():
                return StoredImage(record, entry, path, is_original=is_original)
        return None

    def image_path(self: "Studio", relative: str) -> Path:
        """Absolute path of a record's image (``ImageEntry.preview`` / ``.original``)."""
        return self.results.local_path(relative)

    # --- delete, with undo -------------------------------------------------------------------------

    @property
    def undo_seconds(self: "Studio") -> float:
        """How long a deleted job can be brought back."""
        return self.trash.grace_seconds

    def delete(self: "Studio", job_id: str, owner: str) -> bool:
        """Take the owner's job out of their history now; its record and files go when the undo period
        ends (``undo_delete`` brings it back whole). False when it is not theirs or already deleted."""
        if self.trash.is_hidden(job_id) or self.tracker.get(job_id, owner) is None:
            return False
        self.trash.hide(job_id, owner)
        return True

    def undo_delete(self: "Studio", job_id: str, owner: str) -> bool:
        """Bring back the owner's job deleted within the undo period (False when it is too late)."""
        return self.trash.restore(job_id, owner)

    def is_deleted(self: "Studio", job_id: str) -> bool:
        """Deleted with undo still possible: hidden from every page."""
        return self.trash.is_hidden(job_id)

    def delete_now(self: "Studio", job_id: str, owner: str) -> bool:
        """Remove the owner's job from history and disk at once (what the undo period ends in)."""
        return self.tracker.delete(job_id, owner)
