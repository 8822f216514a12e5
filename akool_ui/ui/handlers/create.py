"""Making jobs from the page: Generate, the U/V buttons, Check again, and filling the form (a result as
the next source, or a job's settings reused).

Only the short blocking calls (creating a job, storing an upload) run in a thread; the status stream is
the results panel's (``ResultsHandlers.stream``).
"""

from __future__ import annotations

import html
from typing import Any, AsyncIterator, Callable

import gradio as gr

from ...akool.models import MODELS, RESOLUTIONS, SCALES, ImageRequest
from ...service.image_meta import read_settings
from ...service.uploads import NoPublicUrl
from .. import captions, views
from ..source_url import SourceUrlChecker
from ..panels import AUTO_MODEL, FormFill, FormPanel, Updates, new_view, session_of
from .common import WORK_LANE, StudioAccess, _key, client_address, in_thread, refuse, user_errors
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
        self, prompt: str, negative: str, source_image: str | None, source_url: str, scale: str,
        resolution: str, batch: float, similar: float, model: str | None = AUTO_MODEL, *,
        api_key: str | None = None, owner: str | None = None, address: str | None = None,
    ) -> ImageRequest:
        """Validate the form; store an upload only once everything else is valid and the visitor (``owner``
        from ``address``) may still spend and upload."""
        url = (source_url or "").strip() or None
        fields = dict(
            prompt=prompt, negative_prompt=negative or "", scale=scale, resolution=resolution,
            batch_quantity=1 if batch is None else batch, similar=0.5 if similar is None else similar,
            model_name=None if model in (None, "", AUTO_MODEL) else model,
        )
        if not source_image:
            return ImageRequest(**fields, source_image_url=url)
        studio = self.access.studio
        checked = ImageRequest(**fields, source_image_url=_PLACEHOLDER_SOURCE)  # raises on a bad prompt, ratio, ...
        if not studio.uploads.can_serve:
            raise NoPublicUrl()
        if owner is not None:  # over a spending limit: refuse before the upload takes any disk
            studio.check_spending(checked.batch_quantity, api_key=api_key, owner=owner, client_address=address)
        upload = studio.add_upload(source_image, owner=owner, client_address=address)
        return ImageRequest(**fields, source_image_url=studio.uploads.url_for(upload))

    @user_errors
    async def generate(
        self, prompt: str, negative: str, source_image: str | None, source_url: str, scale: str,
        resolution: str, batch: float, similar: float, model: str, view: dict[str, Any], api_key: str,
        browser_id: str, request: gr.Request,
    ) -> AsyncIterator[Updates]:
        owner = self.access.owner(api_key, browser_id)
        address = client_address(request)
        if (source_url or "").strip() and not source_image:  # a bad URL is refused now, naming what is wrong
            check = await in_thread(self.source_checker.check, source_url, lane=WORK_LANE)
            if check is not None and not check.ok:
                raise refuse(check.sentence)
        image_request = await in_thread(
            self.build_request, prompt, negative, source_image, source_url, scale, resolution, batch, similar, model,
            api_key=_key(api_key), owner=owner, address=address,
        )
        records = await in_thread(
            self.access.studio.submit, image_request, lane=WORK_LANE, api_key=_key(api_key), owner=owner, client_address=address
        )
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
            client_address=client_address(request),
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

    def cost(self, batch: float | None) -> Updates:
        """What Generate will make and probably cost, as the batch slider moves."""
        try:
            jobs = min(4, max(1, int(batch or 1)))
        except (TypeError, ValueError, OverflowError):
            jobs = 1
        return {self.form.cost: captions.cost_line(jobs)}

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
        scale = settings.get("scale")
        resolution = settings.get("resolution")
        model = settings.get("model_name")
        updates = self.form.fill(FormFill(
            prompt=str(settings.get("prompt", "")),
            negative=str(settings.get("negative_prompt", "")),
            source_image=None, source_url="",
            scale=scale if scale in SCALES else "1:1",
            resolution=resolution if resolution in RESOLUTIONS else "1080p",
            batch=1,
            similar=_similar(settings.get("similar")),
            model=model if model in MODELS else AUTO_MODEL,
            has_source=True,
        ))
        updates = {c: updates[c] for c in self.form.restorable()}  # the dropped image stays; the batch is not its
        gr.Info(html.escape(
            f"Settings restored from the image: “{views.short_text(str(settings.get('prompt', '')), 40)}”. It is also "
            "the source image now: clear it for text-to-image.", quote=False))
        return updates

    def source_changed(self, source_image: str | None, source_url: str) -> Updates:
        """``similar`` only means something for image-to-image."""
        return self.form.show_similar(bool(source_image or (source_url or "").strip()))

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
        source_url = request.get("source_image_url") or ""
        upload = self.access.studio.uploads.resolve_url(source_url) if source_url else None
        gr.Info(html.escape(views.reused_sentence(record), quote=False))
        return self.form.fill(FormFill(
            prompt=request.get("prompt", ""),
            negative=request.get("negative_prompt", ""),
            source_image=self.access.link(record, upload.path) if upload else None,
            source_url="" if upload else source_url,
            scale=request.get("scale", "1:1"),
            resolution=request.get("resolution", "1080p"),
            batch=int(request.get("batch_quantity", 1)),
            similar=float(request.get("similar", 0.5)),
            model=request.get("model_name") or AUTO_MODEL,
            has_source=bool(source_url),
        ))


def _similar(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.5
    return number if 0.0 <= number <= 1.0 else 0.5
