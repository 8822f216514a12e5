"""Settings inside downloaded files (``service/image_meta.py``): written into PNG text chunks and JPEG
EXIF/comments without touching the pixels, read back from the header, and never trusted blindly."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from akool_ui.service.results.image_meta import read_settings, settings_of, tag_image

REQUEST = {"prompt": "A lighthouse, “watercolour” ✓", "negative_prompt": "blurry", "scale": "16:9",
           "resolution": "4k", "similar": 0.5, "model_name": None, "source_image_url": "https://x.example/a.png",
           "batch_quantity": 2}


def _image(fmt: str, **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, fmt, **save)
    return out.getvalue()


def test_settings_are_the_requests_own_fields_no_urls():
    settings = settings_of(REQUEST, job_id="6650a1b2c3d4e5f6a7b8c9d0", button="U2")
    assert settings == {"prompt": REQUEST["prompt"], "negative_prompt": "blurry", "scale": "16:9",
                        "resolution": "4k", "similar": 0.5, "job_id": "6650a1b2c3d4e5f6a7b8c9d0", "button": "U2"}


@pytest.mark.parametrize("fmt, save", [("PNG", {}), ("JPEG", {"quality": 90}), ("JPEG", {"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"})])
def test_a_tagged_file_reads_back_with_the_same_pixels(tmp_path, fmt, save):
    data = _image(fmt, **save)
    settings = settings_of(REQUEST, job_id="j1")
    tagged = tag_image(data, settings)
    assert len(tagged) > len(data)
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(tagged)
    assert read_settings(path) == settings
    with Image.open(io.BytesIO(data)) as before, Image.open(path) as after:
        assert before.tobytes() == after.tobytes()  # nothing re-encoded


def test_the_png_also_carries_a1111_style_parameters(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(tag_image(_image("PNG"), settings_of(REQUEST, job_id="j1")))
    with Image.open(path) as image:
        text = image.info["parameters"]
    assert text.startswith("A lighthouse, “watercolour” ✓\nNegative prompt: blurry\nGenerator: Akool Image Studio")


def test_files_without_our_settings_or_with_junk_give_none(tmp_path):
    plain = tmp_path / "plain.png"
    plain.write_bytes(_image("PNG"))
    assert read_settings(plain) is None
    text = tmp_path / "text.png"
    text.write_bytes(b"not an image")
    assert read_settings(text) is None
    junk = tmp_path / "junk.png"
    junk.write_bytes(tag_image(_image("PNG"), {"prompt": 5}))  # not a string prompt: not ours
    assert read_settings(junk) is None
    assert tag_image(b"GIF89a....", {"prompt": "x"}) == b"GIF89a...."
