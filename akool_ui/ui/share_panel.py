"""The selected result's share link: "Include the prompt", Share, the link (copyable) and Revoke.

Its own small panel beside the results panel: a render (``ShareRender``) is named values the handlers
compute (``handlers/shares.py``); ``SharePanel.updates`` says which component shows which. The link the
server hands back is the page's path (``share/<id>``); the browser makes it whole from its own address
(``ABSOLUTE_LINK_JS``), which is right behind any proxy, tunnel or path prefix the server cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

__all__ = ["SharePanel", "ShareRender", "render_share_panel", "ABSOLUTE_LINK_JS", "SHARE_HELP"]

Updates = dict[Any, Any]

SHARE_HELP = ("Anyone with the link sees this one image, read-only (and its prompt if you include it), "
              "never your other jobs. Revoke it any time.")
# The link box's value made absolute against the page's own URL (the app may live under a path prefix).
ABSOLUTE_LINK_JS = "(v) => (v && !/^https?:/.test(v)) ? new URL(v, window.location.href).href : v"


@dataclass(frozen=True)
class ShareRender:
    """What the share panel shows for the selected image."""

    can_share: bool
    """A finished, stored image is selected."""
    share_id: str | None = None
    """Its link, if one was made (and not revoked)."""
    link: str = ""
    """The link's path, relative to the app (``share/<id>``)."""
    include_prompt: bool | None = None
    """Whether that link shows the prompt (None: no link, the box keeps the visitor's choice)."""


@dataclass(frozen=True, eq=False)
class SharePanel:
    include_prompt: gr.Checkbox
    share: gr.Button
    link: gr.Textbox
    revoke: gr.Button
    state: gr.State
    """{"id": the link shown, or None}: what Revoke revokes."""

    def outputs(self) -> list[Any]:
        return [self.include_prompt, self.share, self.link, self.revoke, self.state]

    def updates(self, render: ShareRender) -> Updates:
        shown = render.share_id is not None
        choice = render.can_share and not shown  # a link on show keeps its choice: revoke it to change that
        return {
            self.include_prompt: gr.update(interactive=choice) if render.include_prompt is None
            else gr.update(value=render.include_prompt, interactive=choice),
            self.share: gr.update(interactive=render.can_share and not shown),
            self.link: gr.update(value=render.link, visible=shown),
            self.revoke: gr.update(visible=shown),
            self.state: {"id": render.share_id},
        }


def render_share_panel() -> SharePanel:
    """The panel's components, inside the current Blocks (below the selected job's actions)."""
    with gr.Group(elem_id="share-panel"):
        with gr.Row(equal_height=True, elem_classes=["stack-on-phone"]):
            include_prompt = gr.Checkbox(False, label="Include the prompt", elem_id="share-include-prompt",
                                         interactive=False, container=False, min_width=160)
            share = gr.Button("Share", size="sm", elem_id="share", interactive=False, min_width=90)
            revoke = gr.Button("Revoke link", size="sm", variant="stop", elem_id="share-revoke", visible=False,
                               min_width=110)
        link = gr.Textbox(label="Share link", info=SHARE_HELP, interactive=False, buttons=["copy"],
                          elem_id="share-link", visible=False, lines=1, max_lines=1)
    return SharePanel(include_prompt=include_prompt, share=share, link=link, revoke=revoke,
                      state=gr.State({"id": None}))
