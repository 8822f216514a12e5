"""The share page: ``GET /share/<id>``, a small read-only HTML page of one shared result, no Gradio.

Whoever has the link sees that one result (its image, the prompt if its owner included it, the lineage in
words) and nothing else: the page and its images are served through the share's own URLs
(``/share/<id>/image/<n>`` the web preview, ``/share/<id>/original/<n>`` the full size), never through the
owner's media links, and no job id, owner or other job appears in them. The id is the permission: a revoked
or unknown id, and a deleted job, get a page with one sentence (404, 410). Every text is HTML-escaped, and
the page allows nothing but its own images and inline style (Content-Security-Policy), sends no referrer
(the id would leak to whatever a visitor clicks next) and asks search engines to keep out.
"""

from __future__ import annotations

import datetime as _dt
import html
import mimetypes
from typing import TYPE_CHECKING

from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute

from ..service import SharedResult, ShareGone, ShareNotFound, is_share_id
from .sections import TITLE

if TYPE_CHECKING:  # pragma: no cover
    from ..service import Studio

__all__ = ["SHARE_ROUTE", "share_routes", "share_path", "render_share", "render_refusal"]

SHARE_ROUTE = "/share"
# Revocable: a browser checks again each time instead of keeping a copy it would show after a revoke.
_NO_KEEP = "private, no-cache"
_HEADERS = {
    "Cache-Control": _NO_KEEP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
}

_STYLE = """
:root { color-scheme: light dark; --fg: #1f2937; --muted: #4b5563; --bg: #f8f7fc; --card: #ffffff; --accent: #6d28d9; }
@media (prefers-color-scheme: dark) { :root { --fg: #e5e7eb; --muted: #b6bcc8; --bg: #111118; --card: #1c1b26; --accent: #c4b5fd; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 960px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.25rem; margin: 0 0 12px; }
figure { margin: 0 0 16px; background: var(--card); border-radius: 12px; padding: 8px; }
figure img { display: block; width: 100%; height: auto; border-radius: 8px; }
figcaption { font-size: .9rem; padding: 6px 4px 0; }
a { color: var(--accent); }
.lineage, .options { color: var(--muted); margin: 4px 0; }
.prompt { background: var(--card); border-radius: 8px; padding: 8px 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
footer { margin-top: 24px; font-size: .9rem; color: var(--muted); }
"""


def share_path(share_id: str) -> str:
    """The share page's path (relative to the app's root)."""
    return f"{SHARE_ROUTE}/{share_id}"


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex, nofollow\">"
        f"<title>{html.escape(title)} · {html.escape(TITLE)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}<footer>Made with <a href=\"../\">{html.escape(TITLE)}</a></footer></main></body></html>"
    )


def render_share(view: SharedResult) -> str:
    """The page of one shared result (every text escaped; image URLs relative to ``/share/<id>``)."""
    e, sid = html.escape, html.escape(view.share_id)
    figures = []
    for image in view.images:
        size = f"{image.width}×{image.height}" if image.width and image.height else ""
        ratio = f' style="aspect-ratio: {image.width} / {image.height}"' if image.width and image.height else ""
        full = (f' · <a href="{sid}/original/{image.number}" target="_blank" rel="noopener noreferrer">Full size'
                f"{' (' + size + ')' if size else ''}</a>") if image.original else ""
        alt = "The shared image" if len(view.images) == 1 else f"Shared image {image.number}"
        figures.append(f'<figure id="shared-image-{image.number}"><img src="{sid}/image/{image.number}" '
                       f'alt="{alt}"{ratio}><figcaption>{alt}{full}</figcaption></figure>')
    parts = [f"<h1>{'A shared image' if len(view.images) == 1 else 'Shared images'}</h1>", *figures,
             f'<p class="lineage" id="share-lineage">{e(view.lineage)}</p>']
    if view.prompt:
        parts.append(f'<p><strong>Prompt</strong></p><p class="prompt" id="share-prompt">{e(view.prompt)}</p>')
    if view.negative_prompt:
        parts.append(f'<p><strong>Negative prompt</strong></p><p class="prompt">{e(view.negative_prompt)}</p>')
    options = " · ".join(f"{e(label)}: {e(value)}" for label, value in view.options)
    shared_on = _dt.datetime.fromtimestamp(view.created_at).strftime("%Y-%m-%d")
    parts.append(f'<p class="options" id="share-options">{options} · Shared on {shared_on}</p>')
    return _page("A shared image", "".join(parts))


def render_refusal(sentence: str) -> str:
    """The page for a link that shows nothing: one sentence."""
    return _page("Nothing to see", f'<h1>Nothing to see here</h1><p id="share-refusal">{html.escape(sentence)}</p>')


def share_routes(studio: "Studio") -> list[APIRoute]:
    """``/share/<id>`` and its images. Sync handlers: FastAPI runs them in its threads (they read files)."""

    def resolve(share_id: str) -> SharedResult | Response:
        try:
            if not is_share_id(share_id):
                raise ShareNotFound()
            return studio.resolve_share(share_id)
        except ShareGone as exc:
            return HTMLResponse(render_refusal(exc.user_message), status_code=410, headers=_HEADERS)
        except ShareNotFound as exc:
            return HTMLResponse(render_refusal(exc.user_message), status_code=404, headers=_HEADERS)

    def page(share_id: str) -> Response:
        view = resolve(share_id)
        if isinstance(view, Response):
            return view
        return HTMLResponse(render_share(view), headers=_HEADERS)

    def image_file(share_id: str, number: str, *, original: bool) -> Response:
        view = resolve(share_id)
        if isinstance(view, Response):
            return Response(status_code=view.status_code, headers=_HEADERS)
        image = view.image(int(number)) if number.isdigit() and len(number) < 3 else None
        path = (image.original if original else image.preview) if image is not None else None
        if path is None or not path.is_file():
            return Response(status_code=404, headers=_HEADERS)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if not media_type.startswith("image/") or media_type == "image/svg+xml":
            media_type = "application/octet-stream"
        return FileResponse(path, media_type=media_type, headers=_HEADERS, content_disposition_type="inline",
                            filename=f"akool-shared-{image.number}{path.suffix}")

    def preview(share_id: str, number: str) -> Response:
        return image_file(share_id, number, original=False)

    def full_size(share_id: str, number: str) -> Response:
        return image_file(share_id, number, original=True)

    base = SHARE_ROUTE + "/{share_id}"
    return [
        APIRoute(base, page, methods=["GET", "HEAD"], include_in_schema=False),
        APIRoute(base + "/image/{number}", preview, methods=["GET", "HEAD"], include_in_schema=False),
        APIRoute(base + "/original/{number}", full_size, methods=["GET", "HEAD"], include_in_schema=False),
    ]
