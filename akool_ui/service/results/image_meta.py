"""A job's prompt and parameters inside the image files people download, and read back from a dropped one.

As Fooocus and A1111 users expect: a PNG carries them as text chunks (``parameters``: readable text, and
``akool-studio``: JSON), a JPEG as its EXIF ImageDescription (JSON, ASCII-escaped) and a comment. The
pixels are never re-encoded: the chunks/segments are inserted into Akool's bytes as they are, so the
download stays Akool's original. Reading looks at the header only (nothing is decoded).
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any, Mapping

from PIL import Image

from ...akool.fields import SAVED_FIELDS

__all__ = ["SETTINGS_KEY", "FIELDS", "settings_of", "tag_image", "read_settings"]

SETTINGS_KEY = "akool-studio"
# What a file carries (and what a drop may restore): the request's ``saved`` fields (akool/fields.py), no
# URLs, no ids of others.
FIELDS = SAVED_FIELDS
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_TEXT = 16 * 1024  # a prompt is at most a few KB; a bigger "settings" chunk is not ours
_IMAGE_DESCRIPTION = 0x010E


def settings_of(request: Mapping[str, Any], *, job_id: str, button: str | None = None) -> dict[str, Any]:
    """What goes into a file: the request's settings (those set), which job, which button."""
    settings = {k: request[k] for k in FIELDS if request.get(k) not in (None, "")}
    settings["job_id"] = job_id
    if button:
        settings["button"] = button
    return settings


def _readable(settings: Mapping[str, Any]) -> str:
    """A1111-style text: the prompt, then "Negative prompt: …", then the other settings on one line."""
    lines = [str(settings.get("prompt", ""))]
    if settings.get("negative_prompt"):
        lines.append(f"Negative prompt: {settings['negative_prompt']}")
    rest = [f"{k.replace('_', ' ').capitalize()}: {settings[k]}"
            for k in (*FIELDS, "button", "job_id") if k in settings and k not in ("prompt", "negative_prompt")]
    lines.append(", ".join(["Generator: Akool Image Studio", *rest]))
    return "\n".join(lines)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _itxt(keyword: str, text: str) -> bytes:
    # keyword, null, compression flag 0, method 0, empty language tag, null, empty translated keyword, null
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def _tag_png(data: bytes, settings: Mapping[str, Any]) -> bytes:
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4  # signature, IHDR length/type, body, CRC
    chunks = _itxt("parameters", _readable(settings)) + _itxt(SETTINGS_KEY, json.dumps(settings))
    return data[:ihdr_end] + chunks + data[ihdr_end:]


def _jpeg_segment(marker: int, payload: bytes) -> bytes | None:
    if len(payload) + 2 > 0xFFFF:
        return None
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _tag_jpeg(data: bytes, settings: Mapping[str, Any]) -> bytes:
    text = json.dumps(settings)  # ASCII (json escapes the rest): what EXIF's ImageDescription allows
    segments = b""
    if b"Exif\x00\x00" not in data[:64 * 1024]:  # never a second EXIF block next to Akool's own
        exif = Image.Exif()
        exif[_IMAGE_DESCRIPTION] = text
        segments += _jpeg_segment(0xE1, exif.tobytes()) or b""
    segments += _jpeg_segment(0xFE, f"{SETTINGS_KEY}:{text}".encode("ascii")) or b""
    start = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF's APP0 first, as its readers expect
        start = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:start] + segments + data[start:]


def tag_image(data: bytes, settings: Mapping[str, Any]) -> bytes:
    """``data`` with ``settings`` written into it (PNG and JPEG; other formats come back unchanged)."""
    try:
        if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR":
            return _tag_png(data, settings)
        if data.startswith(b"\xff\xd8"):
            return _tag_jpeg(data, settings)
    except (struct.error, ValueError):  # a file we cannot parse is downloaded as it is
        pass
    return data


def _parsed(text: object) -> dict[str, Any] | None:
    if not isinstance(text, (str, bytes)) or len(text) > _MAX_TEXT:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.removeprefix(f"{SETTINGS_KEY}:")
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("prompt"), str):
        return None
    return {k: value[k] for k in (*FIELDS, "job_id", "button") if k in value}


def read_settings(path: str | Path) -> dict[str, Any] | None:
    """The settings an image carries (written by ``tag_image``), or None (not ours, none, unreadable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                info = dict(image.info)
                description = image.getexif().get(_IMAGE_DESCRIPTION) if image.format == "JPEG" else None
    except Exception:  # noqa: BLE001 - any file may be dropped; not an image means no settings
        return None
    for candidate in (info.get(SETTINGS_KEY), description, info.get("comment")):
        settings = _parsed(candidate)
        if settings is not None:
            return settings
    return None
