"""service/images.py on real Pillow images, checked by size and by pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from akool_ui.service.results import images
from akool_ui.service.results.images import (
    ImageValidationError,
    image_info,
    make_preview,
    prepare_original,
    split_grid,
    validate_upload,
)

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def solid(size, color, mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def halves(size=(40, 20), left=RED, right=BLUE) -> Image.Image:
    """Left half one colour, right half another: shows which way a rotation went."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def grid(size=(200, 200), colors=(RED, GREEN, BLUE, YELLOW)) -> Image.Image:
    width, height = size
    mx, my = width // 2, height // 2
    image = Image.new("RGB", size)
    for color, box in zip(colors, [(0, 0, mx, my), (mx, 0, width, my), (0, my, mx, height), (mx, my, width, height)]):
        image.paste(color, box)
    return image


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x013B] = "Jane Photographer"  # Artist: metadata that must not survive validate_upload
    return encode(image, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


def close_to(actual, expected, tolerance=12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


def open_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- make_preview ------------------------------------------------------------------------------------


def test_preview_is_webp_with_long_side_768_and_keeps_aspect_and_colour():
    data = encode(solid((3000, 1500), GREEN), "PNG")

    preview = open_bytes(make_preview(data))

    assert preview.format == "WEBP"
    assert preview.size == (768, 384)
    assert preview.mode == "RGB"
    assert close_to(preview.getpixel((400, 200)), GREEN)


def test_preview_of_portrait_limits_the_height():
    preview = open_bytes(make_preview(encode(solid((900, 2000), BLUE), "JPEG")))
    assert preview.size == (346, 768)


def test_preview_never_upscales_small_images():
    preview = open_bytes(make_preview(encode(solid((200, 100), RED), "PNG")))
    assert preview.size == (200, 100)
    assert close_to(preview.getpixel((100, 50)), RED)


def test_preview_applies_exif_orientation():
    data = with_orientation(halves((400, 200)), 6)

    preview = open_bytes(make_preview(data))

    assert preview.size == (200, 400)
    assert close_to(preview.getpixel((100, 50)), RED)  # the left half went to the top
    assert close_to(preview.getpixel((100, 350)), BLUE)


def test_preview_flattens_transparency_onto_white():
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 50, 100))

    preview = open_bytes(make_preview(encode(image, "PNG")))

    assert preview.mode == "RGB"
    assert close_to(preview.getpixel((25, 50)), RED)
    assert close_to(preview.getpixel((75, 50)), (255, 255, 255))


def test_preview_from_a_path_and_from_a_decoded_image_leaves_the_source_unchanged(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(encode(solid((1600, 1600), YELLOW), "PNG"))
    assert open_bytes(make_preview(path)).size == (768, 768)

    decoded = prepare_original(path.read_bytes()).image
    assert open_bytes(make_preview(decoded)).size == (768, 768)
    assert decoded.size == (1600, 1600)


# --- split_grid --------------------------------------------------------------------------------------


def test_split_grid_returns_four_quadrants_in_button_order():
    parts = [open_bytes(p) for p in split_grid(encode(grid(), "PNG"))]

    assert [p.format for p in parts] == ["PNG"] * 4
    assert [p.size for p in parts] == [(100, 100)] * 4
    for part, color in zip(parts, (RED, GREEN, BLUE, YELLOW)):
        colors = part.getcolors()
        assert colors == [(100 * 100, color)], "every pixel of the quadrant has its colour"


def test_split_grid_gives_the_extra_pixel_of_odd_sizes_to_the_right_and_bottom():
    parts = [open_bytes(p) for p in split_grid(encode(grid((201, 101)), "PNG"))]

    assert [p.size for p in parts] == [(100, 50), (101, 50), (100, 51), (101, 51)]
    assert parts[0].getpixel((99, 49)) == RED
    assert parts[3].getpixel((0, 0)) == YELLOW


def test_split_grid_can_write_jpeg():
    parts = [open_bytes(p) for p in split_grid(encode(grid(), "PNG"), format="jpeg")]
    assert [p.format for p in parts] == ["JPEG"] * 4
    assert close_to(parts[2].getpixel((50, 50)), BLUE)


def test_split_grid_refuses_non_images_and_unknown_formats():
    with pytest.raises(ImageValidationError):
        split_grid(b"<html>not an image</html>")
    with pytest.raises(ValueError):
        split_grid(encode(grid(), "PNG"), format="GIF")
    with pytest.raises(ImageValidationError):
        split_grid(encode(solid((1, 5), RED), "PNG"))


# --- validate_upload ---------------------------------------------------------------------------------


def test_upload_with_exif_orientation_6_is_rotated_and_stripped():
    data = with_orientation(halves((40, 20)), 6)

    result = validate_upload(data)
    image = open_bytes(result.data)

    assert (result.format, result.source_format, result.mime_type, result.ext) == ("JPEG", "JPEG", "image/jpeg", "jpg")
    assert (result.width, result.height) == image.size == (20, 40)
    assert close_to(image.getpixel((10, 5)), RED)
    assert close_to(image.getpixel((10, 35)), BLUE)
    assert dict(image.getexif()) == {}, "no orientation, no artist: metadata is gone"


def test_upload_png_stays_png_and_keeps_pixels_and_alpha():
    image = Image.new("RGBA", (30, 30), (10, 20, 30, 128))
    result = validate_upload(encode(image, "PNG"))
    out = open_bytes(result.data)

    assert result.format == "PNG" and out.mode == "RGBA"
    assert out.getpixel((5, 5)) == (10, 20, 30, 128)


def test_upload_webp_becomes_jpeg_or_png_with_alpha():
    opaque = validate_upload(encode(solid((64, 48), GREEN), "WEBP", quality=90))
    assert (opaque.format, opaque.source_format, opaque.width, opaque.height) == ("JPEG", "WEBP", 64, 48)
    assert close_to(open_bytes(opaque.data).getpixel((32, 24)), GREEN)

    clear = Image.new("RGBA", (16, 16), (0, 0, 255, 0))
    transparent = validate_upload(encode(clear, "WEBP", lossless=True))
    assert transparent.format == "PNG"
    assert open_bytes(transparent.data).getpixel((3, 3))[3] == 0


def test_upload_cmyk_jpeg_is_converted_to_rgb():
    result = validate_upload(encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG"))
    out = open_bytes(result.data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((10, 10)), RED, tolerance=30)


def _truncated_jpeg() -> bytes:
    noise = Image.effect_noise((256, 256), 64).convert("RGB")
    data = encode(noise, "JPEG", quality=90)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (encode(solid((10, 10), RED), "GIF"), "GIF images are not supported"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not a PNG"),
        (b"<!doctype html><html><body>hello</body></html>", "not a PNG"),
        (encode(solid((10, 10), RED), "BMP"), "BMP images are not supported"),
        (_truncated_jpeg(), "damaged or incomplete"),
    ],
    ids=["empty", "gif", "svg", "html", "bmp", "truncated-jpeg"],
)
def test_upload_refuses_what_is_not_a_whole_png_jpeg_or_webp(data, words):
    with pytest.raises(ImageValidationError) as caught:
        validate_upload(data)
    message = caught.value.user_message
    assert words in message
    assert message == str(caught.value) and message.endswith(".") and "\n" not in message


def test_upload_over_20_mb_is_refused_before_decoding():
    data = encode(solid((8, 8), RED), "PNG") + b"\0" * (20 * 2**20)
    with pytest.raises(ImageValidationError, match="under 20 MB"):
        validate_upload(data)


def test_upload_over_50_megapixels_is_refused():
    bomb = encode(Image.new("1", (8000, 7000)), "PNG")  # 56 MP, a few KB on disk
    assert len(bomb) < 100_000
    with pytest.raises(ImageValidationError, match="under 50 megapixels"):
        validate_upload(bomb)


def test_decompression_bomb_beyond_pillows_own_guard_is_refused():
    bomb = encode(Image.new("1", (13000, 13000)), "PNG")  # 169 MP: Pillow itself raises at open
    with pytest.raises(ImageValidationError, match="too many pixels"):
        validate_upload(bomb)
    with pytest.raises(ImageValidationError, match="too many pixels"):
        prepare_original(bomb)
    with pytest.raises(ImageValidationError):
        image_info(bomb)


def test_pillow_pixel_guard_is_set_deliberately():
    assert Image.MAX_IMAGE_PIXELS == images.MAX_ORIGINAL_PIXELS == 80_000_000


# --- prepare_original / image_info ------------------------------------------------------------------


def test_prepare_original_keeps_the_bytes_and_names_the_extension():
    data = encode(solid((120, 80), RED), "JPEG")
    prepared = prepare_original(data)
    assert (prepared.data, prepared.format, prepared.ext, prepared.width, prepared.height) == (
        data,
        "JPEG",
        "jpg",
        120,
        80,
    )
    assert prepare_original(bytearray(encode(solid((5, 5), RED), "WEBP"))).ext == "webp"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # 81 MP: Pillow warns, we refuse
def test_prepare_original_refuses_truncated_png_and_over_80_megapixels():
    noise = encode(Image.effect_noise((200, 200), 64).convert("RGB"), "PNG")
    with pytest.raises(ImageValidationError, match="damaged or incomplete"):
        prepare_original(noise[: len(noise) * 2 // 3])
    with pytest.raises(ImageValidationError, match="under 80 megapixels"):
        prepare_original(encode(Image.new("1", (10000, 8100)), "PNG"))


def test_image_info_reads_the_header():
    assert image_info(encode(solid((31, 17), RED), "PNG")) == ("PNG", 31, 17)
    assert image_info(encode(solid((31, 17), RED), "GIF")) == ("GIF", 31, 17)
    with pytest.raises(ImageValidationError, match="not an image"):
        image_info(b"plain text")
    with pytest.raises(TypeError):
        image_info("not bytes")  # type: ignore[arg-type]
