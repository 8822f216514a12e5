"""The share panel's events: show the selected image's link, make one, revoke it (owner-scoped, like
every other handler: the Studio checks the job is the visitor's)."""

from __future__ import annotations

from typing import Any

from ...jobs import JobRecord
from ..share_page import share_path
from ..share_panel import SharePanel, ShareRender
from .common import StudioAccess, refuse, user_errors

__all__ = ["ShareHandlers"]

Updates = dict[Any, Any]


class ShareHandlers:
    """Renders one page's share panel for the results panel's selection."""

    def __init__(self, access: StudioAccess, panel: SharePanel):
        self.access = access
        self.panel = panel

    def _selected(self, view: dict[str, Any] | None, owner: str) -> tuple[JobRecord | None, int]:
        view = view or {}
        record = self.access.selected(view, self.access.view_records(view, owner))
        index = view.get("index") if record is not None and view.get("selected") == record.id else 0
        return record, index if isinstance(index, int) and not isinstance(index, bool) else 0

    def render(self, view: dict[str, Any] | None, owner: str) -> ShareRender:
        record, index = self._selected(view, owner)
        if record is None:
            return ShareRender(can_share=False)
        can_share = record.is_final and any(e.index == index and e.is_stored for e in record.images)
        link = next((s for s in self.access.studio.shares_of(owner, record.id) if s.index == index), None)
        if link is None:
            return ShareRender(can_share=can_share)
        return ShareRender(can_share=can_share, share_id=link.id, link=share_path(link.id).lstrip("/"),
                           include_prompt=link.include_prompt)

    @user_errors
    def show(self, view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """The selection changed: its link if it has one, else Share (if it can be shared)."""
        return self.panel.updates(self.render(view, self.access.owner(api_key, browser_id)))

    def hide(self) -> Updates:
        """While a new job is made or opened: no link of the previous selection stays on show."""
        return self.panel.updates(ShareRender(can_share=False))

    @user_errors
    def create(self, view: dict[str, Any], include_prompt: Any, api_key: str, browser_id: str) -> Updates:
        """Make the selected image's link (the same one again if it was shared with this choice before)."""
        owner = self.access.owner(api_key, browser_id)
        record, index = self._selected(view, owner)
        if record is None:
            raise refuse("Select an image first.")
        try:
            self.access.studio.share(owner, record.id, index, include_prompt=include_prompt is True)
        except OSError:
            raise refuse("The link could not be saved; please try again.") from None
        return self.panel.updates(self.render(view, owner))

    @user_errors
    def revoke(self, state: dict[str, Any], view: dict[str, Any], api_key: str, browser_id: str) -> Updates:
        """End the link on show: it stops working at once, for everyone who has it."""
        owner = self.access.owner(api_key, browser_id)
        share_id = (state or {}).get("id")
        if not isinstance(share_id, str) or not share_id:
            raise refuse("There is no link to revoke.")
        try:
            if not self.access.studio.revoke_share(owner, share_id):
                raise refuse("That link was already revoked.")
        except OSError:
            raise refuse("The link could not be revoked; please try again.") from None
        return self.panel.updates(self.render(view, owner))
