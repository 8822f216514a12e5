"""The results panel: render a view of jobs, stream it while they run, select an image, delete a job.

A render is named values (``panels.ResultsRender``); ``ResultsPanel.updates`` turns it into a dict keyed
by component. Status streams are async generators that ``await`` the tracker's subscription, so a
watching browser costs no worker thread.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Sequence

import gradio as gr

from ...jobs import JobRecord
from ...jobs.events import Current
from .. import captions, progress, views
from ..panels import ResultsPanel, ResultsRender, Updates, new_view, session_of
from .common import TICK_SECONDS, WORK_LANE, StudioAccess, in_thread, refuse, user_errors
from .downloads import Downloads

__all__ = ["ResultsHandlers"]


def _follow(view: dict[str, Any], by_id: dict[str, JobRecord]) -> None:
    """A U/V result the page is waiting for (``view["follow"]``) becomes the selection, with the gallery's
    preview open on it, as soon as its image is in the gallery; a press that ends without one stops waiting."""
    follow = view.get("follow")
    if not follow:
        return
    position = next((i for i, (job_id, index) in enumerate(view["items"]) if job_id == follow and index >= 0), None)
    if position is not None:
        view.update(selected=follow, index=view["items"][position][1], follow=None, preview=True)
    elif follow not in by_id or by_id[follow].is_final:
        view["follow"] = None


def _preview_position(view: dict[str, Any]) -> int | None:
    """The gallery position of the selected image (where an open preview should stay)."""
    wanted = [view.get("selected"), int(view.get("index") or 0)]
    return next((i for i, item in enumerate(view["items"]) if list(item) == wanted), None)


class ResultsHandlers:
    """Renders and streams views into one page's results panel; its own events: select and delete."""

    def __init__(self, access: StudioAccess, panel: ResultsPanel):
        self.access = access
        self.panel = panel
        self.downloads = Downloads(access)

    # --- rendering ---------------------------------------------------------------------------------

    def render(self, view: dict[str, Any], records: Sequence[JobRecord], *, note: str | None = None) -> ResultsRender:
        """What the panel shows for ``view`` (updates ``view``: gallery order, selection, zip)."""
        studio = self.access.studio
        by_id = {r.id: r for r in records}
        items = [
            (item, link)
            for item in views.gallery_items(records, self.access.abspath, expected=progress.expected_images)
            if (link := self._tile_link(by_id[item.job_id], item)) is not None
        ]
        view["items"] = [[item.job_id, item.index] for item, _ in items]
        _follow(view, by_id)
        selected = self.access.selected(view, records)
        index = int(view.get("index") or 0)
        if selected is not None:
            view["selected"] = selected.id
        parent = studio.get(selected.parent_id, selected.owner) if selected and selected.parent_id else None
        session = view.get("session")
        if isinstance(session, dict):  # what the page made: its cost as Akool says now (a failure is refunded)
            for record in records:
                if isinstance(session.get(record.id), dict):
                    session[record.id] = views.session_entry(record, own=bool(session[record.id].get("own")))
        details = "\n\n".join(p for p in (views.job_details(selected, parent=parent), views.session_line(session)) if p)
        buttons = views.button_views(selected, index if selected is not None else None)
        original = self.downloads.original(selected, index)
        label = views.record_labels(records).get(selected.id, "") if selected is not None else ""
        return ResultsRender(
            status=self.status(records, note=note),
            gallery=[(link, item.caption) for item, link in items],
            view=view,
            details=details,
            original=original,
            starred=self.access.studio.is_favourite(selected.owner, selected.id) if selected is not None else None,
            prompt=(selected.prompt or "") if selected is not None else "",
            full_size=captions.full_size_link(original, selected, index),
            compare=self._before_after(selected, parent),
            zip=self.downloads.zip(view, records),
            buttons=buttons,
            selection=captions.selection_line(selected, label, index, len(records)),
            upscale_this=captions.this_button("U", selected, index, buttons),
            vary_this=captions.this_button("V", selected, index, buttons),
            gallery_selected=_preview_position(view) if view.get("preview") else None,
            final=selected is not None and selected.is_final,
            running=selected is not None and selected.is_in_flight,
            resumable=selected is not None and selected.can_check_again,
            undo=bool((view.get("deleted") or {}).get("id")) and self.access.studio.is_deleted(view["deleted"]["id"]),
        )

    def status(self, records: Sequence[JobRecord], *, note: str | None = None) -> str:
        """The status lines, each running job with its progress bar."""
        return views.status_markdown(
            records, note=note,
            suffix=lambda r: progress.progress_text(r, progress.typical_seconds(r, self.access.studio.typical_duration(r))),
        )

    def _tile_link(self, record: JobRecord, item: views.GalleryItem) -> str | None:
        """A stored image goes out as its owner's media link; a placeholder (a public asset) as it is."""
        return str(item.path) if item.index < 0 else self.access.link(record, item.path)

    def _before_after(self, record: JobRecord | None, parent: JobRecord | None) -> tuple[str, str] | None:
        """For a U result: (its parent's candidate, the upscale), both originals, for the before/after slider."""
        candidate = captions.upscale_parent_index(record)
        if record is None or parent is None or candidate is None:
            return None
        before = self.access.link(parent, self.access.original(parent, candidate))
        after = self.access.link(record, self.access.original(record, 0))
        return (before, after) if before and after else None

    def updates(self, view: dict[str, Any], records: Sequence[JobRecord]) -> Updates:
        return self.panel.updates(self.render(view, records))

    async def stream(self, view: dict[str, Any], owner: str, records: list[JobRecord]) -> AsyncIterator[Updates]:
        """Render ``view`` now, then on every tracker event (and once a second) until its jobs are final.

        Waiting is ``await subscription.aget``: no thread sleeps per watcher. Renders that read the store
        or write a zip run in the work lane (a burst of finishing jobs re-renders many panels at once, and
        quick events keep their own lane); the per-second status tick is pure and runs inline."""
        yield await in_thread(self.updates, view, records, lane=WORK_LANE)
        watching = [r.id for r in records if r.is_in_flight]
        if not watching:
            return
        by_id = {r.id: r for r in records}
        subscription = await in_thread(self.access.studio.subscribe, watching)  # reads records: not on the loop
        try:
            while not subscription.done:
                event = await subscription.aget(timeout=TICK_SECONDS)
                current = by_id.get(event.job_id) if event is not None else None
                if event is not None and current is not None:
                    by_id[event.job_id] = event.record
                    # Every event is a change (the tracker publishes only those), except the Current
                    # snapshots a new subscription starts with: those matter only if they moved on.
                    if not isinstance(event, Current) or event.record.state is not current.state:
                        yield await in_thread(self.updates, view, [by_id[r.id] for r in records], lane=WORK_LANE)
                        continue
                yield self.panel.status_update(self.status([by_id[r.id] for r in records]))
        finally:
            subscription.close()
        # The subscription is done: re-read so buttons/used_buttons written after the last event show.
        final = await in_thread(self.access.records, [r.id for r in records], owner)
        yield await in_thread(self.updates, view, final or [by_id[r.id] for r in records], lane=WORK_LANE)

    # --- events ------------------------------------------------------------------------------------

    @user_errors
    def select(self, view: dict[str, Any], api_key: str, browser_id: str, evt: gr.SelectData) -> Updates:
        """A gallery tile was clicked: it becomes the selected job/image (buttons follow)."""
        owner = self.access.owner(api_key, browser_id)
        items = (view or {}).get("items") or []
        if isinstance(evt.index, int) and 0 <= evt.index < len(items):
            view = {**view, "selected": items[evt.index][0], "index": items[evt.index][1], "follow": None,
                    "preview": False}  # the person chose: later renders leave the gallery's preview to them
        render = self.render(view, self.access.view_records(view, owner))
        return self.panel.updates(render, gallery=False)  # re-sending the gallery would close its preview

    @user_errors
    def delete(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """Take the selected job out of the history now; its files go when the undo period ends."""
        owner = self.access.owner(api_key, browser_id)
        job_id = (view or {}).get("selected")
        if not job_id:
            raise refuse("Select a job first.")
        if not self.access.studio.delete(job_id, owner):
            raise refuse("That job is no longer in your history.")
        self.access.media.revoke(owner, job_id)
        minutes = round(self.access.studio.undo_seconds / 60)
        gr.Info(f"Deleted from your history. Its files are removed in {minutes} minutes: press “Undo delete” "
                "to bring it back.")
        remaining = [j for j in view["jobs"] if j != job_id]
        view = {**new_view(remaining, session=session_of(view)), "deleted": {"id": job_id, "jobs": view["jobs"]}}
        return self.updates(view, self.access.records(remaining, owner))

    @user_errors
    def toggle_favourite(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """Star the selected job (or take its star away): favourites have their own filter in the history."""
        owner = self.access.owner(api_key, browser_id)
        records = self.access.view_records(view, owner)
        record = self.access.selected(view or {}, records)
        if record is None:
            raise refuse("Select a job first.")
        starred = not self.access.studio.is_favourite(owner, record.id)
        try:
            self.access.studio.set_favourite(owner, record.id, starred)
        except OSError:
            raise refuse("The favourite could not be saved; please try again.") from None
        return self.updates(view, records)

    @user_errors
    def undo_delete(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """Bring back the job deleted last on this page, as it was shown before."""
        owner = self.access.owner(api_key, browser_id)
        deleted = (view or {}).get("deleted") or {}
        job_id = deleted.get("id")
        if not job_id or not self.access.studio.undo_delete(job_id, owner):
            raise refuse("That job can no longer be brought back.")
        gr.Info("The job is back in your history.")
        view = new_view(deleted.get("jobs") or [job_id], selected=job_id, session=session_of(view))
        return self.updates(view, self.access.records(view["jobs"], owner))
