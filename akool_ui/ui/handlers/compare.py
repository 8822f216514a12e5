"""The compare tray's and view's events: add the selected image, remove one, clear, open the view, switch
its mode. Every one resolves the tray through the visitor's own jobs first (``Studio.stored_images``):
another owner's id shows nothing, and an image whose job was deleted drops out with one sentence.

The view shows the stored originals (what 100 % and 200 % are for; a 4K PNG is a few MB, fine for 2–4
images), and an image's preview only when its original was evicted by the cache limit (its label says
so). Thumbnails in the tray are the previews.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from ..compare_panel import SIDE_BY_SIDE, ZOOMS, ComparePane, ComparePanel, CompareRender, TrayRender
from ..compare_tray import (
    AlreadyInTray, TrayFull, add_to_tray, image_label, keep_resolved, new_tray, pixel_size, remove_from_tray,
    scale_note, tray_pairs,
)
from .common import StudioAccess, refuse, user_errors

if TYPE_CHECKING:  # pragma: no cover
    from ...service import StoredImage

__all__ = ["CompareHandlers"]

Updates = dict[Any, Any]


class CompareHandlers:
    """One page's compare tray and view."""

    def __init__(self, access: StudioAccess, panel: ComparePanel):
        self.access = access
        self.panel = panel

    # --- resolving and rendering -------------------------------------------------------------------

    def resolve(self, tray: Any, owner: str) -> tuple[list[dict[str, Any]], list["StoredImage"], str]:
        """The tray kept to what ``owner`` still has, its images, and the sentence if any dropped out."""
        resolved = self.access.studio.stored_images(owner, tray_pairs(tray))
        kept, sentence = keep_resolved(tray, resolved)
        return kept, [image for image in resolved if image is not None], sentence

    def _label(self, image: "StoredImage") -> str:
        record = image.record
        parent = self.access.studio.get(record.parent_id, record.owner) if record.parent_id else None
        return image_label(record, image.entry.index, parent=parent)

    def render_tray(self, tray: list[dict[str, Any]], images: list["StoredImage"], note: str = "") -> TrayRender:
        thumbs = []
        for image in images:
            preview = self.access.abspath(image.entry.preview) if image.entry.preview else image.path
            link = self.access.link(image.record, preview if preview.is_file() else image.path)
            if link:
                thumbs.append((link, self._label(image)))
        return TrayRender(thumbs=thumbs, tray=tray, note=note)

    def render_view(self, images: list["StoredImage"], mode: Any, zoom: Any, note: str = "") -> CompareRender:
        sizes = [pixel_size(i.record, i.entry.index) for i in images]
        widest = max((s[0] for s in sizes if s), default=0)
        panes = []
        for image, size in zip(images, sizes):
            link = self.access.link(image.record, image.path)
            if link:
                scale = widest / size[0] if size and widest else 1.0
                panes.append(ComparePane(link, self._label(image), size, scale, image.is_original))
        mode = mode if mode in (SIDE_BY_SIDE, "Slider") else SIDE_BY_SIDE
        lines = [note] if note else []
        lines.append(scale_note(sizes))
        if mode == "Slider" and len(panes) > 2:
            lines.append("The slider compares two: it shows the first two of the tray.")
        return CompareRender(open=True, mode=mode, panes=panes, zoom=ZOOMS.get(zoom, "fit"), note="  \n".join(lines))

    def _tray_and_view(self, tray: Any, mode: Any, zoom: Any, owner: str) -> Updates:
        kept, images, sentence = self.resolve(tray, owner)
        out = self.panel.tray_updates(self.render_tray(kept, images, sentence))
        if len(images) < 2:
            out.update(self.panel.view_updates(CompareRender(open=False)))
            gr.Warning(sentence or "Add at least two images to compare.")
            return out
        out.update(self.panel.view_updates(self.render_view(images, mode, zoom, sentence)))
        return out

    # --- events ------------------------------------------------------------------------------------

    @user_errors
    def add(self, tray: Any, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """"Add to compare": the results panel's selected image joins the tray."""
        owner = self.access.owner(api_key, browser_id)
        view = view or {}
        job_id, index = view.get("selected"), view.get("index")
        if not isinstance(job_id, str) or not isinstance(index, int) or isinstance(index, bool):
            raise refuse("Select an image first.")
        if index < 0:
            raise refuse("That image is still coming: add it once it is shown.")
        if self.access.studio.stored_images(owner, [(job_id, index)]) == [None]:
            raise refuse("That image is not stored (any more), so it cannot be compared.")
        kept, _, sentence = self.resolve(tray, owner)
        try:
            kept = add_to_tray(kept, job_id, index)
        except (AlreadyInTray, TrayFull) as exc:
            raise refuse(str(exc)) from None
        kept, images, _ = self.resolve(kept, owner)
        return self.panel.tray_updates(self.render_tray(kept, images, sentence))

    def remove_handler(self, position: int):
        """The ✕ of the tray's image at ``position``."""

        @user_errors
        def remove(tray: Any, api_key: str, browser_id: str) -> Updates:
            owner = self.access.owner(api_key, browser_id)
            kept, images, sentence = self.resolve(remove_from_tray(tray, position), owner)
            return self.panel.tray_updates(self.render_tray(kept, images, sentence))

        remove.__name__ = remove.__qualname__ = f"compare_remove_{position + 1}"
        return remove

    def clear(self) -> Updates:
        return {**self.panel.tray_updates(TrayRender(thumbs=[], tray=new_tray())),
                **self.panel.view_updates(CompareRender(open=False))}

    @user_errors
    def open(self, tray: Any, mode: Any, zoom: Any, api_key: str, browser_id: str) -> Updates:
        """Compare (and a change of mode): the tray's images in the view, side by side or in the slider."""
        owner = self.access.owner(api_key, browser_id)
        return self._tray_and_view(tray, mode, zoom, owner)

    def close(self) -> Updates:
        return self.panel.view_updates(CompareRender(open=False))
