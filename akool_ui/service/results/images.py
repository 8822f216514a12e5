"""Pillow helpers: check downloaded results, normalise uploads, split 2x2 grids, make web previews.

Everything here takes bytes (or a path) and returns bytes or small dataclasses; nothing touches the
network or the store. Hostile input is expected (uploads come from browsers, results from URLs), so every
decoder is limited to PNG/JPEG/WebP, sizes are checked from the header before any pixel is decoded, and
any decoder failure becomes an ``ImageValidationError`` whose message is one sentence for the page.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Union

from PIL import Image, ImageFile, ImageOps

from ...errors import StudioError

__all__ = [
    "ImageValidationError",
    "NormalizedImage",
    "PreparedOriginal",
    "ACCEPTED_FORMATS",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "MAX_ORIGINAL_BYTES",
    "MAX_ORIGINAL_PIXELS",
    "PREVIEW_LONG_SIDE",
    "PREVIEW_QUALITY",
    "check_upload_header",
    "image_info",
    "prepare_original",
    "make_preview",
    "split_grid",
    "validate_upload",
]

# What we decode at all. Other Pillow plugins (EPS calls Ghostscript, for one) never see our input.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
# Only used to name a refused format in the error message; these parsers just read a header.
_SNIFF_FORMATS = ACCEPTED_FORMATS + ("GIF", "BMP", "TIFF", "ICO")
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

# Uploads are sources for image-to-image: Akool itself refuses files over ~20 MB, and 50 MP is far beyond
# any useful source (Akool reroutes anything over 1500 px anyway).
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_UPLOAD_PIXELS = 50_000_000
# Results: a 4K upscale is ~17 MP; 80 MP leaves headroom for larger grids while refusing bombs whose
# decoded size (4 bytes a pixel) would run into gigabytes.
MAX_ORIGINAL_PIXELS = 80_000_000
MAX_ORIGINAL_BYTES = 100 * 2**20
# Gallery tiles are at most ~400 CSS px wide; 768 px stays sharp on 2x screens at a fraction of the size.
PREVIEW_LONG_SIDE = 768
PREVIEW_QUALITY = 80
# WebP effort 0-6: 2 encodes previews several times faster than the default 4 for ~2 % more bytes,
# and every result passes through here once, right when the person is waiting for it.
PREVIEW_WEBP_METHOD = 2
PREVIEW_REDUCING_GAP = 3.0

# Deliberate process-wide guard: Pillow warns above this many pixels and refuses twice as many in
# Image.open, before decoding. We set it to our largest allowance (a little under Pillow's ~89 MP default)
# so no other code path in the app (Gradio's upload handling included) decodes anything bigger; our own
# functions check their tighter limits explicitly below. Never None.
Image.MAX_IMAGE_PIXELS = MAX_ORIGINAL_PIXELS
# Truncated files must fail, not decode half grey (this is Pillow's default; we rely on it).
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Uploads decoded at once: a 50 MP source costs ~150 MB while normalised; a burst of them must queue
# rather than take the process's memory with it (results have their own bounded pools in the tracker).
UPLOAD_DECODE_SLOTS = 2
_upload_decodes = threading.BoundedSemaphore(UPLOAD_DECODE_SLOTS)

Source = Union[bytes, bytearray, memoryview, str, "PathLike[str]", Image.Image]


class ImageValidationError(StudioError, ValueError):
    """An image was refused; ``str(exc)`` (also ``user_message``) is one sentence for the page."""

    def __init__(self, user_message: str):
        self.user_message = user_message
        super().__init__(user_message)


@dataclass(frozen=True)
class NormalizedImage:
    """An upload made safe to send: EXIF rotation applied, metadata stripped, re-encoded."""

    data: bytes
    format: str
    """``"PNG"`` or ``"JPEG"``."""
    width: int
    height: int
    source_format: str
    """What the upload really was (``"PNG"``, ``"JPEG"`` or ``"WEBP"``)."""

    @property
    def mime_type(self) -> str:
        return _MIME[self.format]

    @property
    def ext(self) -> str:
        return _EXTENSIONS[self.format]


@dataclass(frozen=True)
class PreparedOriginal:
    """A downloaded result that decodes completely: the bytes to keep and what they are."""

    data: bytes
    """The original bytes, unchanged."""
    format: str
    ext: str
    """``"jpg"``, ``"png"`` or ``"webp"``: the file extension to store it under."""
    width: int
    height: int
    image: Image.Image
    """The decoded image (reuse it for the preview instead of decoding twice)."""


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected image bytes, got {type(data).__name__}")
    return bytes(data)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}"


def _open(data: bytes, *, max_pixels: int, max_bytes: int, what: str = "image") -> Image.Image:
    """Open and fully decode ``data`` (first frame), refusing anything outside our limits."""
    if not data:
        raise ImageValidationError(f"The {what} file is empty; please choose another.")
    if len(data) > max_bytes:
        raise ImageValidationError(
            f"The {what} is too large ({len(data) / 2**20:.1f} MB); please use one under {max_bytes // 2**20} MB."
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageValidationError(
            f"The {what} has too many pixels; please use one under {_megapixels(max_pixels)} megapixels."
        ) from None
    except Exception:  # UnidentifiedImageError, or whatever a parser raises on hostile headers
        kind = _sniff(data)
        if kind:
            raise ImageValidationError(
                f"{kind} images are not supported; please use a PNG, JPEG or WebP image."
            ) from None
        raise ImageValidationError(f"That file is not a PNG, JPEG or WebP {what}; please choose another.") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageValidationError(f"The {what} has no pixels; please choose another.")
    if width * height > max_pixels:
        raise ImageValidationError(
            f"The {what} is too large ({width}×{height} pixels); "
            f"please use one under {_megapixels(max_pixels)} megapixels."
        )
    try:
        image.load()  # decodes everything now: truncated or corrupt data fails here, not later
    except Exception:  # decoders raise OSError, SyntaxError, ValueError, struct.error... on bad data
        raise ImageValidationError(f"The {what} file is damaged or incomplete; please choose another.") from None
    return image


def _sniff(data: bytes) -> str | None:
    """The name of a raster format we refuse (for the message), or None if it is not an image."""
    try:
        with Image.open(io.BytesIO(data), formats=_SNIFF_FORMATS) as image:
            return image.format
    except Exception:
        return None


def _transposed(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phones store portraits sideways); tolerate broken EXIF."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _flatten_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white (dropping alpha would show black)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def image_info(data: bytes | bytearray | memoryview) -> tuple[str, int, int]:
    """``(format, width, height)`` read from the header only (no decoding); ImageValidationError if unknown."""
    data = _as_bytes(data)
    try:
        with Image.open(io.BytesIO(data), formats=_SNIFF_FORMATS) as image:
            return str(image.format), image.width, image.height
    except Image.DecompressionBombError:
        raise ImageValidationError("The image has too many pixels; please choose another.") from None
    except Exception:
        raise ImageValidationError("That file is not an image; please choose another.") from None


def check_upload_header(path: str | PathLike[str], *, max_bytes: int = MAX_UPLOAD_BYTES,
                        max_pixels: int = MAX_UPLOAD_PIXELS) -> tuple[str, int, int]:
    """``(format, width, height)`` of an uploaded file, judged from its size and header alone.

    Runs before anything decodes a pixel, so a tiny file that claims 12000×12000 pixels (or a text file
    named ``.png``) costs a header read, not gigabytes. Raises ImageValidationError with a sentence."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        raise ImageValidationError("The upload did not arrive; please choose the image again.") from None
    if size == 0:
        raise ImageValidationError("The image file is empty; please choose another.")
    if size > max_bytes:
        raise ImageValidationError(
            f"The image is too large ({size / 2**20:.1f} MB); please use one under {max_bytes // 2**20} MB."
        )
    try:
        with warnings.catch_warnings():  # Pillow warns about big headers; we refuse them just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=ACCEPTED_FORMATS) as image:
                fmt, (width, height) = str(image.format), image.size
    except Image.DecompressionBombError:
        fmt, width, height = "", max_pixels, max_pixels  # far over the limit: refused just below
    except Exception:  # not one of ours; say what it is if we can tell
        with open(path, "rb") as fh:
            kind = _sniff(fh.read(64 * 1024))
        if kind:
            raise ImageValidationError(f"{kind} images are not supported; please use a PNG, JPEG or WebP image.") from None
        raise ImageValidationError("That file is not a PNG, JPEG or WebP image; please choose another.") from None
    if width < 1 or height < 1:
        raise ImageValidationError("The image has no pixels; please choose another.")
    if width * height > max_pixels:
        raise ImageValidationError(
            f"The image is too large ({width}×{height} pixels); please use one under {_megapixels(max_pixels)} megapixels."
        )
    return fmt, width, height


def prepare_original(data: bytes | bytearray | memoryview) -> PreparedOriginal:
    """Check a downloaded result: a PNG/JPEG/WebP that decodes completely, at most 80 MP and 100 MB."""
    data = _as_bytes(data)
    image = _open(data, max_pixels=MAX_ORIGINAL_PIXELS, max_bytes=MAX_ORIGINAL_BYTES, what="result image")
    fmt = str(image.format)
    return PreparedOriginal(
        data=data, format=fmt, ext=_EXTENSIONS[fmt], width=image.width, height=image.height, image=image
    )


def _load_source(source: Source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, PathLike)):
        data = Path(source).read_bytes()
    else:
        data = _as_bytes(source)
    return _open(data, max_pixels=MAX_ORIGINAL_PIXELS, max_bytes=MAX_ORIGINAL_BYTES)


def make_preview(source: Source, *, long_side: int = PREVIEW_LONG_SIDE, quality: int = PREVIEW_QUALITY) -> bytes:
    """A web preview: WebP, EXIF-transposed, RGB, long side at most ``long_side`` px (never upscaled)."""
    image = _transposed(_load_source(source))
    if max(image.size) > long_side:
        image = image.copy() if image is source else image
        # reducing_gap: shrink by whole factors first (cheap), then Lanczos the last step; same look.
        image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=PREVIEW_REDUCING_GAP)
    image = _flatten_rgb(image)
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=PREVIEW_WEBP_METHOD)
    return out.getvalue()


def split_grid(source: Source, *, format: str = "PNG") -> list[bytes]:
    """Cut a 2x2 grid into its four images, in button order: top-left, top-right, bottom-left, bottom-right.

    PNG by default so the quadrants lose nothing more; odd sizes give the right/bottom halves the extra
    pixel."""
    fmt = format.upper()
    if fmt not in ACCEPTED_FORMATS:
        raise ValueError(f"format must be one of {ACCEPTED_FORMATS}")
    image = _transposed(_load_source(source))
    width, height = image.size
    if width < 2 or height < 2:
        raise ImageValidationError("The result image is too small to be a 2×2 grid.")
    mx, my = width // 2, height // 2
    boxes = [(0, 0, mx, my), (mx, 0, width, my), (0, my, mx, height), (mx, my, width, height)]
    if fmt == "JPEG":
        image = _flatten_rgb(image)
    parts = []
    for box in boxes:
        out = io.BytesIO()
        kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        image.crop(box).save(out, format=fmt, **kwargs)
        parts.append(out.getvalue())
    return parts


def validate_upload(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_UPLOAD_PIXELS,
) -> NormalizedImage:
    """Make an image-to-image source safe to send, or raise ImageValidationError with a sentence.

    PNG/JPEG/WebP only (judged by content, not name), at most 20 MB and 50 MP, fully decodable. The EXIF
    rotation is applied and the result re-encoded without metadata (no GPS, no camera data): as PNG when
    it has transparency or was a PNG, else as JPEG (quality 95). Only the first frame of an animation is
    kept."""
    data = _as_bytes(data)
    with _upload_decodes:
        return _normalise_upload(data, max_bytes=max_bytes, max_pixels=max_pixels)


def _normalise_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> NormalizedImage:
    image = _open(data, max_pixels=max_pixels, max_bytes=max_bytes)
    source_format = str(image.format)
    icc = image.info.get("icc_profile")  # colour, not metadata: keep it so colours stay right
    image = _transposed(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    out = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    if has_alpha or source_format == "PNG":
        fmt = "PNG"
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if has_alpha else "RGB")
        image.save(out, format="PNG", **extra)
    else:
        fmt = "JPEG"
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
            extra = {}  # a CMYK profile does not describe the converted RGB pixels
        image.save(out, format="JPEG", quality=95, **extra)
    return NormalizedImage(
        data=out.getvalue(), format=fmt, width=image.width, height=image.height, source_format=source_format
    )
