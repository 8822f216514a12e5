"""Making jobs from the page: Generate, the U/V buttons, Check again, and filling the form (a result as
the next source, or a job's settings reused).

Only the short blocking calls (creating a job, storing an upload) run in a thread; the status stream is
the results panel's (``ResultsHandlers.stream``).
"""

from __future__ import annotations

import html
from typing import Any, AsyncIterator, Callable, Mapping

import gradio as gr

from ...akool import fields as request_fields
from ...akool.errors import AkoolError
from ...akool.models import RESOLUTIONS, ImageRequest
from ...errors import StudioError
from ...service import NoPublicUrl, read_settings
from .. import captions, views
from ..source_url import SourceUrlChecker
from ..panels import SOURCE_UPLOAD, FormPanel, Updates, new_view, session_of
from .boards import BOARD_VALUE, file_into_board
from .common import WORK_LANE, StudioAccess, _key, in_thread, refuse, user_errors
from .results import ResultsHandlers

__all__ = ["CreateHandlers"]

_PLACEHOLDER_SOURCE = "https://source.invalid/placeholder.png"  # validates other fields before storing an upload


class CreateHandlers:
    """The form's events and the buttons that make new jobs, for one page."""

    def __init__(self, access: StudioAccess, results: ResultsHandlers, form: FormPanel):
        self.access = access
        self.results = results
        self.form = form
        self.source_checker = SourceUrlChecker(access.studio)

    def build_request(
        self, values: Mapping[str, Any], *, api_key: str | None = None, owner: str | None = None,
        address: str | None = None,
    ) -> ImageRequest:
        """Validate the form's named values; store an upload (``SOURCE_UPLOAD``) only once everything else is
        valid and the visitor (``owner`` from ``address``) may still spend and upload."""
        upload_path = values.get(SOURCE_UPLOAD)
        if not upload_path:
            return request_fields.request_from(values)
        studio = self.access.studio
        checked = request_fields.request_from(request_fields.with_source(values, _PLACEHOLDER_SOURCE))  # a bad prompt, ratio, ...
        if not studio.can_upload_sources:
            raise NoPublicUrl()
        if owner is not None:  # over a spending limit: refuse before the upload takes any disk
            studio.check_spending(checked.batch_quantity, api_key=api_key, owner=owner, client_address=address)
        upload = studio.add_upload(upload_path, owner=owner, client_address=address)
        return request_fields.request_from(request_fields.with_source(values, studio.upload_url(upload)))

    @user_errors
    async def generate(
        self, values: Mapping[str, Any], view: dict[str, Any], api_key: str, browser_id: str, request: gr.Request,
    ) -> AsyncIterator[Updates]:
        """Generate from the form's named values (``FormPanel.named``; a missing one takes its default)."""
        owner = self.access.owner(api_key, browser_id)
        address = self.access.client_address(request)
        source_url = request_fields.source_url(values)
        if source_url and not values.get(SOURCE_UPLOAD):  # a bad URL is refused now, naming what is wrong
            check = await in_thread(self.source_checker.check, source_url, lane=WORK_LANE)
            if check is not None and not check.ok:
                raise refuse(check.sentence)
        image_request = await in_thread(
            self.build_request, values, api_key=_key(api_key), owner=owner, address=address,
        )
        # Over the credit left? Asked once (NotEnoughCredit's sentence); pressing again sends it.
        await in_thread(self.access.studio.check_credit, image_request, api_key=_key(api_key), owner=owner)
        records = await in_thread(
            self.access.studio.submit, image_request, lane=WORK_LANE, api_key=_key(api_key), owner=owner, client_address=address
        )
        await in_thread(file_into_board, self.access, owner, values.get(BOARD_VALUE), records)
        own = _key(api_key) is not None
        made = {r.id: views.session_entry(r, own=own) for r in records}
        view = new_view([r.id for r in records], session={**session_of(view), **made})
        async for update in self.results.stream(view, owner, list(records)):
            yield update

    def press_handler(self, button: str) -> Callable[..., AsyncIterator[Updates]]:
        """The click function of one U/V button (U1..V4: of the selected job)."""

        @user_errors
        async def press(
            view: dict[str, Any], api_key: str, browser_id: str, request: gr.Request
        ) -> AsyncIterator[Updates]:
            async for update in self._press(button, view, api_key, browser_id, request):
                yield update

        press.__name__ = press.__qualname__ = f"press_{button}"
        return press

    def press_this_handler(self, kind: str) -> Callable[..., AsyncIterator[Updates]]:
        """The click function of "Upscale this" (``kind`` "U") or "Vary this" ("V"): the selected candidate's
        button, so the press means the image the person is looking at."""

        @user_errors
        async def press_this(
            view: dict[str, Any], api_key: str, browser_id: str, request: gr.Request
        ) -> AsyncIterator[Updates]:
            index = int((view or {}).get("index") or 0)
            async for update in self._press(f"{kind}{index + 1}", view, api_key, browser_id, request):
                yield update

        press_this.__name__ = press_this.__qualname__ = f"press_this_{kind}"
        return press_this

    async def _press(
        self, button: str, view: dict[str, Any], api_key: str, browser_id: str, request: gr.Request
    ) -> AsyncIterator[Updates]:
        owner = self.access.owner(api_key, browser_id)
        job_id = (view or {}).get("selected")
        if not job_id:
            raise refuse("Select an image first, then press a button.")
        child = await in_thread(
            self.access.studio.press, job_id, button, lane=WORK_LANE, api_key=_key(api_key), owner=owner,
            client_address=self.access.client_address(request),
        )
        made = views.session_entry(child, own=_key(api_key) is not None)
        view = {
            **view, "jobs": views.unique([*view["jobs"], child.id]), "session": {**session_of(view), child.id: made},
            "follow": child.id, "preview": False,  # selected, with the preview open on it, once its image arrives
        }
        records = await in_thread(self.access.records, view["jobs"], owner)
        async for update in self.results.stream(view, owner, records):
            yield update

    @user_errors
    async def check_again(self, view: dict[str, Any], api_key: str, browser_id: str) -> AsyncIterator[Updates]:
        owner = self.access.owner(api_key, browser_id)
        job_id = (view or {}).get("selected")
        if not job_id:
            raise refuse("Select a job first.")
        await in_thread(self.access.studio.check_again, job_id, lane=WORK_LANE, api_key=_key(api_key), owner=owner)
        records = await in_thread(self.access.records, view["jobs"], owner)
        async for update in self.results.stream(view, owner, records):
            yield update

    @user_errors
    def stop(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """Stop watching the selected running job (its stream is cancelled by the button's ``cancels``).

        Akool has no cancel: the job is kept, marked stopped, and "Check again" resumes it."""
        owner = self.access.owner(api_key, browser_id)
        job_id = (view or {}).get("selected")
        if not job_id:
            raise refuse("Select a running job first.")
        self.access.studio.stop(job_id, owner=owner)
        return self.results.updates(view, self.access.records(view["jobs"], owner))

    # --- filling the form --------------------------------------------------------------------------

    def cost(self, batch: float | None, resolution: str | None = None, api_key: str | None = None) -> Updates:
        """What Generate will make and probably cost (learned from what Akool charged here), and the credit
        left when this visitor may see it: as the batch or resolution change, the key is entered, a page
        opens and a job ends (the balance is read again then)."""
        try:
            jobs = min(4, max(1, int(batch or 1)))
        except (TypeError, ValueError, OverflowError):
            jobs = 1
        resolution = resolution if resolution in RESOLUTIONS else request_fields.field("resolution").default
        studio = self.access.studio
        estimate = studio.credit_estimate(jobs, resolution)
        try:
            key = _key(api_key)
            balance = studio.credit_balance(key)
        except (StudioError, AkoolError, gr.Error):  # a key of an impossible shape: no balance
            key, balance = None, None
        demo = key is None and studio.mode == "demo"
        return {self.form.cost: captions.cost_line(estimate, balance, demo=demo)}

    @user_errors
    async def check_source_url(self, source_url: str) -> Updates:
        """The pasted URL, checked as it is entered: a preview beside the field, or what is wrong with it."""
        check = await in_thread(self.source_checker.check, source_url, lane=WORK_LANE)
        return self.form.source.checked(check)

    def source_url_edited(self, source_url: str) -> Updates:
        """An emptied URL box loses its preview and sentence (a new URL is checked when it is entered)."""
        if (source_url or "").strip():
            return {self.form.source.url_preview: gr.skip(), self.form.source.url_check: gr.skip()}
        return self.form.source.checked(None)

    @user_errors
    def restore_from_image(self, source_image: str | None) -> Updates:
        """An image dropped on the source box that carries this app's settings (any download from here)
        fills the form with them, as Fooocus/A1111 do; it stays the source until it is cleared."""
        settings = read_settings(source_image) if source_image else None
        if settings is None:
            return {component: gr.skip() for component in self.form.restorable()}
        restored = request_fields.restorable(settings, request_fields.SAVED_FIELDS)
        updates = self.form.fill(request_fields.with_source(restored, None), has_source=True)
        updates = {c: updates[c] for c in self.form.restorable()}  # the dropped image stays; the batch is not its
        gr.Info(html.escape(
            f"Settings restored from the image: “{views.short_text(str(settings.get('prompt', '')), 40)}”. It is also "
            "the source image now: clear it for text-to-image.", quote=False))
        return updates

    def source_changed(self, values: dict[Any, Any]) -> Updates:
        """A source image came or went: ``similar`` (and choices such as "Original") mean something only for
        image-to-image. Takes the whole form (its inputs as a set: {component: value})."""
        return self.form.for_source(self.form.named(values))

    @user_errors
    def use_as_source(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """Put the selected result into the source box: the next Generate is image-to-image from it."""
        owner = self.access.owner(api_key, browser_id)
        records = self.access.view_records(view, owner)
        record = self.access.selected(view, records)
        index = int(view.get("index") or 0)
        original = self.access.link(record, self.access.original(record, index)) if record else None
        if original is None:
            raise refuse("Select a finished image first.")
        gr.Info("Source image set. Describe the change you want and press Generate.")
        return self.form.use_source(original)

    @user_errors
    def reuse_settings(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """Fill the form with the selected job's parameters (the source too, if we still have it)."""
        owner = self.access.owner(api_key, browser_id)
        records = self.access.view_records(view, owner)
        record = self.access.selected(view or {}, records)
        if record is None:
            raise refuse("Open a job from the history first.")
        request = dict(record.request)
        if not request.get("scale") and record.parent_id:  # a U/V job: its settings are its parent's
            parent = self.access.studio.get(record.parent_id, owner)
            request = {**(parent.request if parent else {}), **request}
        values = request_fields.restorable(request)
        source_url = request_fields.source_url(values)
        upload = self.access.studio.upload_for_url(source_url) if source_url else None
        gr.Info(html.escape(views.reused_sentence(record), quote=False))
        values = request_fields.with_source(values, None if upload else source_url)
        return self.form.fill({**values, SOURCE_UPLOAD: self.access.link(record, upload.path) if upload else None},
                              has_source=bool(source_url))
