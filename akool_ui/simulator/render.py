"""Pillow renderer: real, distinct, fast images for simulated results.

Every picture is drawn small (long side ``BASE_LONG_SIDE``) and only enlarged to its output size when
encoded, which keeps a 4K result near 100 ms on a slow core. What a picture looks like depends only on
its seed (a hash of prompt, job id and role), so a re-render after a restart gives the same image.

Output sizes (documented choice; Akool publishes none):

* ``1080p``: short side 1080 px; ``4k``: short side 2160 px (16:9 at 4k is 3840x2160). v3 jobs have no
  resolution parameter and use 1080p.
* a 2x2 grid has the same size as one candidate (each cell is half size);
* a U (upscale) result has a long side of at least 3840 px;
* ``Original`` keeps the source's aspect ratio, clamped to 1:4..4:1.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import random
import textwrap
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

__all__ = [
    "RATIOS",
    "SHORT_SIDE",
    "UPSCALE_LONG_SIDE",
    "BASE_LONG_SIDE",
    "output_size",
    "upscale_size",
    "base_size",
    "seed_for",
    "generate",
    "blend_source",
    "vary",
    "grid",
    "badge",
    "encode",
    "load_source",
]

RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "16:9": (16, 9),
    "9:16": (9, 16), "3:2": (3, 2), "2:3": (2, 3),
}
SHORT_SIDE = {"1080p": 1080, "4k": 2160}
UPSCALE_LONG_SIDE = 3840  # "4K": a U result is at least UHD wide (or tall)
# Drawing happens at this size; 512 px keeps the prompt text legible and a render under ~10 ms.
BASE_LONG_SIDE = 512
MAX_ORIGINAL_RATIO = 4.0
# How much of the source shows through in image-to-image: similar=0 -> 25 %, similar=1 -> 90 %.
SOURCE_WEIGHT_MIN, SOURCE_WEIGHT_MAX = 0.25, 0.90
# A variation keeps 60 % of the candidate it came from.
VARIATION_WEIGHT = 0.40
# Above this many output pixels, enlarge in two steps (bilinear to half, then pixel doubling): a third
# of the time of one bilinear pass, and invisible at 4K.
TWO_STEP_PIXELS = 2_500_000
JPEG_QUALITY = 85
MAX_SOURCE_SIDE = 1024  # sources are kept at most this big (they are only blended at base size)


def output_size(scale: str, resolution: str, source_size: Sequence[int] | None = None) -> tuple[int, int]:
    """Pixel size of one candidate for ``scale`` at ``resolution`` (``Original`` uses ``source_size``)."""
    short = SHORT_SIDE.get(resolution, SHORT_SIDE["1080p"])
    if scale == "Original" and source_size and min(source_size) > 0:
        rw, rh = float(source_size[0]), float(source_size[1])
        ratio = max(1 / MAX_ORIGINAL_RATIO, min(MAX_ORIGINAL_RATIO, rw / rh))
        rw, rh = ratio, 1.0
    else:
        rw, rh = RATIOS.get(scale, (1, 1))
    if rw >= rh:
        return _even(short * rw / rh), short
    return short, _even(short * rh / rw)


def upscale_size(size: Sequence[int]) -> tuple[int, int]:
    """The U result size for a candidate of ``size``: long side at least UPSCALE_LONG_SIDE."""
    w, h = size
    factor = max(1.0, UPSCALE_LONG_SIDE / max(w, h))
    return _even(w * factor), _even(h * factor)


def base_size(size: Sequence[int]) -> tuple[int, int]:
    """The small drawing size with the same aspect ratio as ``size``."""
    w, h = size
    factor = BASE_LONG_SIDE / max(w, h)
    return max(8, round(w * factor)), max(8, round(h * factor))


def _even(value: float) -> int:
    return max(2, int(round(value / 2.0)) * 2)


def seed_for(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _colour(rng: random.Random, alpha: int | None = None) -> tuple[int, ...]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0))
    rgb = (int(r * 255), int(g * 255), int(b * 255))
    return rgb if alpha is None else rgb + (alpha,)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def generate(seed: int, size: tuple[int, int]) -> Image.Image:
    """A seeded abstract picture: a three-colour gradient with translucent shapes over it."""
    rng = random.Random(seed)
    w, h = size
    gradient = Image.linear_gradient("L").transpose(rng.choice(
        [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270,
         Image.Transpose.FLIP_LEFT_RIGHT]))
    gradient = Image.blend(gradient, Image.radial_gradient("L"), rng.uniform(0.0, 0.6))
    img = ImageOps.colorize(gradient.resize((w, h), Image.Resampling.BILINEAR),
                            black=_colour(rng), white=_colour(rng), mid=_colour(rng))
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(rng.randint(6, 11)):
        x0, y0 = rng.uniform(-0.2, 0.9) * w, rng.uniform(-0.2, 0.9) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h
        fill = _colour(rng, rng.randint(70, 190))
        shape = rng.random()
        if shape < 0.45:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif shape < 0.75:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            points = [(rng.uniform(x0, x1), rng.uniform(y0, y1)) for _ in range(rng.randint(3, 6))]
            draw.polygon(points, fill=fill)
    return img


def blend_source(img: Image.Image, source: Image.Image, similar: float) -> Image.Image:
    """Image-to-image: mix the source (cropped to fit) in; ``similar`` 1 keeps it closest."""
    fitted = ImageOps.fit(source.convert("RGB"), img.size, Image.Resampling.BILINEAR)
    weight = SOURCE_WEIGHT_MIN + (SOURCE_WEIGHT_MAX - SOURCE_WEIGHT_MIN) * max(0.0, min(1.0, similar))
    return Image.blend(img, fitted, weight)


def vary(img: Image.Image, seed: int) -> Image.Image:
    """A variation of ``img``: the same picture, mixed with a fresh pattern."""
    return Image.blend(img, generate(seed, img.size), VARIATION_WEIGHT)


def badge(img: Image.Image, prompt: str, tag: str) -> Image.Image:
    """Draw the prompt (a dark band at the bottom) and a tag such as ``#2`` or ``U3`` on ``img``."""
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img, "RGBA")
    font = _font(max(10, min(w, h) // 16))
    lines = textwrap.wrap(" ".join(prompt.split()), width=max(12, int(w / (font.size * 0.55))))[:3]
    if lines:
        line_h = int(font.size * 1.25)
        top = h - line_h * len(lines) - font.size // 2
        draw.rectangle((0, top - font.size // 4, w, h), fill=(0, 0, 0, 140))
        for i, line in enumerate(lines):
            draw.text((font.size // 2, top + i * line_h), line, font=font, fill=(255, 255, 255, 235))
    small = _font(max(9, min(w, h) // 22))
    draw.rounded_rectangle((6, 6, 14 + small.size * (len(tag) + 1) * 0.6, 12 + small.size * 1.3),
                           radius=6, fill=(255, 255, 255, 200))
    draw.text((10, 8), tag, font=small, fill=(20, 20, 20, 255))
    draw.text((w - small.size * 5.5, 8), "simulated", font=small, fill=(255, 255, 255, 170))
    return img


def grid(cells: Sequence[Image.Image], size: tuple[int, int]) -> Image.Image:
    """Four pictures as a 2x2 grid of ``size`` (each cell half width, half height)."""
    w, h = size
    out = Image.new("RGB", (w, h))
    cw, ch = w // 2, h // 2
    for i, cell in enumerate(cells[:4]):
        out.paste(cell.resize((cw, ch), Image.Resampling.BILINEAR), ((i % 2) * cw, (i // 2) * ch))
    return out


def encode(img: Image.Image, size: tuple[int, int], quality: int = JPEG_QUALITY) -> bytes:
    """Enlarge ``img`` to ``size`` and encode it as baseline JPEG."""
    w, h = size
    if img.size != (w, h):
        if w * h > TWO_STEP_PIXELS:
            img = img.resize((w // 2, h // 2), Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.NEAREST)
        else:
            img = img.resize((w, h), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def load_source(data: bytes, max_side: int = MAX_SOURCE_SIDE) -> tuple[Image.Image, tuple[int, int]]:
    """Decode a fetched source image; return it (RGB, at most ``max_side``) and its original size.

    Raises ValueError (or a Pillow error) when ``data`` is not a decodable image.
    """
    with Image.open(io.BytesIO(data)) as probe:
        probe.verify()
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation: stored sideways
            w, h = h, w
        img.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb, (w, h)
