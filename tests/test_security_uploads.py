"""Uploads are judged by their header before anything decodes them (audit items MEDIUM 3 and LOW 8)."""

from __future__ import annotations

import base64
import io
import struct
import threading
import zlib

import gradio as gr
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from akool_ui.service.results import images
from akool_ui.service.results.images import ImageValidationError, check_upload_header
from akool_ui.ui.source_image import SourceImage


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_bomb_png(width: int = 12000, height: int = 12000, mode: int = 0) -> bytes:
    """A few dozen bytes that claim ``width``×``height`` greyscale pixels (mode 0) and hold almost none."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _chunk(b"IEND", b"")


def _jpeg(size=(40, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 128).save(out, "JPEG")
    return out.getvalue()


BAD_UPLOADS = {
    "text named .png": (b"hello, I am not an image\n", "not a PNG, JPEG or WebP"),
    "empty": (b"", "empty"),
    "greyscale 12000x12000 header": (header_bomb_png(), "too large (12000×12000 pixels)"),
    "30000x30000 header (Pillow's bomb limit)": (header_bomb_png(30000, 30000), "too large"),
    "zero-size header": (header_bomb_png(0, 10), "not a PNG, JPEG or WebP"),
    "GIF": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
            b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", "GIF images are not supported"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_source_box_refuses_bad_uploads_with_a_sentence_before_decoding(tmp_path, name):
    data, expected = BAD_UPLOADS[name]
    path = tmp_path / "upload.png"
    path.write_bytes(data)
    with pytest.raises(gr.Error) as info:
        SourceImage(type="filepath").preprocess(ImageData(path=str(path), orig_name="upload.png"))
    assert expected in info.value.message and info.value.message.endswith(".")


def test_source_box_passes_the_file_through_untouched(tmp_path):
    path = tmp_path / "grey.jpg"
    path.write_bytes(_jpeg(mode="L"))  # greyscale: stock gr.Image would decode and convert it to RGB
    before = path.read_bytes()
    assert SourceImage(type="filepath").preprocess(ImageData(path=str(path), orig_name="grey.jpg")) == str(path)
    assert path.read_bytes() == before
    assert SourceImage(type="filepath").preprocess(None) is None


def test_pasted_data_urls_are_checked_the_same_way(tmp_path):
    box = SourceImage(type="filepath")
    good = "data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode()
    assert open(box.preprocess(ImageData(url=good)), "rb").read() == _jpeg()
    bomb = "data:image/png;base64," + base64.b64encode(header_bomb_png()).decode()
    with pytest.raises(gr.Error, match="too large"):
        box.preprocess(ImageData(url=bomb))
    with pytest.raises(gr.Error, match="could not be read"):
        box.preprocess(ImageData(url="data:image/png;base64,@@@not-base64@@@"))


def test_check_upload_header_reads_no_pixels(tmp_path):
    path = tmp_path / "ok.jpg"
    path.write_bytes(_jpeg((64, 48)))
    assert check_upload_header(path) == ("JPEG", 64, 48)
    with pytest.raises(ImageValidationError, match="did not arrive"):
        check_upload_header(tmp_path / "missing.png")
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 100)
    with pytest.raises(ImageValidationError, match="too large"):
        check_upload_header(big, max_bytes=50)


def test_upload_decodes_are_bounded(monkeypatch):
    """At most UPLOAD_DECODE_SLOTS normalisations run at once, however many uploads arrive together."""
    inside, peak, lock, release = [0], [0], threading.Lock(), threading.Event()
    real = images._normalise_upload

    def counting(data, **kwargs):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        release.wait(5)
        try:
            return real(data, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(images, "_normalise_upload", counting)
    threads = [threading.Thread(target=images.validate_upload, args=(_jpeg(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for _ in range(50):
        with lock:
            if inside[0] == images.UPLOAD_DECODE_SLOTS:
                break
        threading.Event().wait(0.02)
    release.set()
    for t in threads:
        t.join(10)
    assert peak[0] == images.UPLOAD_DECODE_SLOTS
