"""The Studio's visitors: who they are (owners), which client acts for them, what they are counted
under, and their source uploads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...akool.client import AkoolClient
from ..identity.credentials import clean_api_key
from ..identity.owners import derived_key
from ..library.uploads import Upload
from ..quotas.visitors import Visitor

if TYPE_CHECKING:  # pragma: no cover
    from .core import Studio

__all__ = ["VisitorsDoor"]


class VisitorsDoor:
    """Studio methods about visitors (mixed into ``Studio``; ``self`` is the Studio)."""

    def owner_for(self: "Studio", api_key: str | None, browser_id: str | None) -> str:
        """The opaque owner of a visitor: their own key's hash, else their browser's (per credential)."""
        return self.credentials.owner_for(api_key, browser_id)

    def derived_key(self: "Studio", purpose: str) -> bytes:
        """A secret for one purpose of the UI (media links, the browser's encrypted storage), stable across
        restarts and derived from the app's owner key, which never leaves the service."""
        return derived_key(self._owner_key, purpose)

    def client_for(self: "Studio", api_key: str | None) -> AkoolClient:
        """The client that acts for this visitor: their own key, else the server's credentials."""
        return self.credentials.client_for(api_key)

    def remember(self: "Studio", api_key: str | None, owner: str) -> None:
        """A visitor with their own key is here: resume their jobs that lost their poller in a restart."""
        key = clean_api_key(api_key)
        if key:
            self.tracker.resume_owner(owner, self.client_for(key))

    def visitor(self: "Studio", owner: str, client_address: str | None = None) -> Visitor:
        return self.budgets.visitor(owner, client_address)

    def spending_usage(
        self: "Studio", api_key: str | None, owner: str, client_address: str | None = None
    ) -> dict[str, int | None] | None:
        """A visitor on the server's credentials: images this hour and in flight, the app's credits today,
        and the limits on each (None on their own key, or when nothing is limited)."""
        return self.budgets.usage(api_key, owner, client_address)

    def client_address(self: "Studio", peer: str | None, forwarded_for: list[str] | tuple[str, ...] = ()) -> str | None:
        """The address a request from ``peer`` is counted under: the peer itself, or, when the peer is one
        of the proxies this app trusts (``Settings.trusted_proxies``), the client they vouch for."""
        return self.addresses.of(peer, forwarded_for)

    # --- source uploads ------------------------------------------------------------------------------

    def add_upload(self: "Studio", path: str | Path, *, owner: str | None, client_address: str | None = None) -> Upload:
        """Validate and store a source image, within the visitor's and the app's upload budgets.

        Uploads take this server's disk whoever pays Akool, so the budgets apply to every visitor; over the
        total, the oldest uploads are deleted.

        Raises:
            LimitReached: the visitor's budget for the last 24 hours would be passed.
            ImageValidationError, NoPublicUrl: as ``UploadStore.add_file``.
        """
        return self.budgets.add_upload(path, owner=owner, client_address=client_address)

    @property
    def can_upload_sources(self: "Studio") -> bool:
        """Whether an uploaded source can reach Akool (the app has a public address, or it is the demo)."""
        return self.uploads.can_serve

    def upload_url(self: "Studio", upload: Upload) -> str:
        """The URL Akool (or the demo simulator) fetches ``upload`` from."""
        return self.uploads.url_for(upload)

    def upload_for_url(self: "Studio", url: str | None) -> Upload | None:
        """The stored upload one of our own upload URLs names, or None."""
        return self.uploads.resolve_url(url)

    def upload_named(self: "Studio", name: str) -> Upload | None:
        """The stored upload behind ``/uploads/<name>`` (an unguessable token), or None."""
        return self.uploads.resolve(name)

    def is_own_upload(self: "Studio", url: str) -> bool:
        """Whether ``url`` is one of this app's own upload links (vouched for, unlike other URLs)."""
        return self.uploads.is_own_url(url)
