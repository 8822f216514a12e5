"""The image-to-image source box: Gradio's Image on the page, but an upload is judged by its header only.

Stock ``gr.Image(type="filepath")`` opens every upload with Pillow and, when its mode differs from
``image_mode`` (RGB by default), decodes and re-saves it before any handler runs: a 150 KB greyscale PNG
claiming 12000×12000 pixels cost seconds and gigabytes there, and a text file named ``.png`` failed with
a bare "Error". ``SourceImage`` hands handlers the uploaded file untouched, after ``check_upload_header``
(size, format and pixel count from the header); the one decode happens later, bounded, in
``images.validate_upload`` when the source is actually used.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path
from typing import Any

import gradio as gr

from ..service import MAX_UPLOAD_BYTES, ImageValidationError, check_upload_header

__all__ = ["SourceImage"]


class SourceImage(gr.Image):
    """``gr.Image`` for sources: file paths in, never decoded here, every refusal a sentence."""

    is_template = True  # the page draws it with Gradio's own Image component
    # No __init__ of our own: Gradio builds the page config from the constructor's signature. Create it with
    # ``type="filepath"``; ``image_mode`` does not matter, since nothing here converts.

    def preprocess(self, payload: Any) -> str | None:
        if payload is None:
            return None
        try:
            if payload.url and payload.url.startswith("data:"):  # pasted from the clipboard
                path = _data_url_to_file(payload.url, Path(self.GRADIO_CACHE))
            elif payload.path:
                path = Path(payload.path)
            else:
                raise ImageValidationError("The upload did not arrive; please choose the image again.")
            check_upload_header(path)
        except ImageValidationError as exc:
            raise gr.Error(exc.user_message, print_exception=False) from None
        return str(path)


def _data_url_to_file(url: str, folder: Path) -> Path:
    """Write the bytes of a ``data:`` URL to a new file (decoding base64, not the image)."""
    header, _, body = url.partition(",")
    if ";base64" not in header or len(body) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise ImageValidationError("The pasted image could not be read; please upload it as a file.")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ImageValidationError("The pasted image could not be read; please upload it as a file.") from None
    folder = folder / secrets.token_hex(16)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pasted-image"
    path.write_bytes(data)
    return path
