"""UploadStore: validated sources on disk under unguessable tokens, and the URLs Akool fetches them from."""

from __future__ import annotations

import re

import io
import os
import stat

import pytest
from PIL import Image

from akool_ui.service.results.images import ImageValidationError
from akool_ui.service.library.uploads import NoPublicUrl, UploadStore
from akool_ui.adapters.local import LocalBlobs

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 256 bits as base64url


def _png(width: int = 40, height: int = 30, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_rotated() -> bytes:
    """A 40x20 JPEG whose EXIF says 'rotate 90°' (orientation 6): upright it is 20x40."""
    image = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def test_upload_is_stored_under_a_random_token_readable_only_by_owner(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path), demo=True, local_url="http://127.0.0.1:9")
    first = store.add_bytes(_png())
    second = store.add_bytes(_png())
    assert TOKEN.fullmatch(first.token) and TOKEN.fullmatch(second.token) and first.token != second.token
    assert first.path.parent == tmp_path / "uploads" and first.path.suffix == ".png"
    assert stat.S_IMODE(os.stat(first.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "uploads").st_mode) == 0o700
    with Image.open(first.path) as img:
        assert img.size == (40, 30) and img.getpixel((5, 5)) == (200, 30, 30)


def test_exif_rotation_is_applied_and_jpeg_kept_as_jpeg(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path), demo=True, local_url="http://127.0.0.1:9")
    upload = store.add_bytes(_jpeg_rotated())
    assert upload.path.suffix == ".jpg" and upload.media_type == "image/jpeg"
    with Image.open(upload.path) as img:
        assert img.size == (20, 40)
        assert not img.getexif().get(0x0112)


def test_non_images_and_oversized_files_are_refused_with_a_sentence(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path), demo=True, max_bytes=1000)
    with pytest.raises(ImageValidationError) as exc:
        store.add_bytes(b"%PDF-1.4 not an image")
    assert exc.value.user_message.endswith(".")
    big = tmp_path / "big.png"
    big.write_bytes(_png(400, 400, (1, 2, 3)) + b"\0" * 2000)
    with pytest.raises(ImageValidationError, match="too large"):
        store.add_file(big)
    assert [p.name for p in (tmp_path).iterdir() if p.suffix in (".png", ".jpg")] == ["big.png"]


def test_resolve_accepts_only_token_shaped_names(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path / "u"), demo=True)
    upload = store.add_bytes(_png())
    assert store.resolve(upload.name).path == upload.path
    (tmp_path / "secret.png").write_bytes(_png())
    for name in ("../secret.png", "secret.png", upload.token, upload.token + ".gif", "", upload.name + "/"):
        assert store.resolve(name) is None
    missing = "A" * 43 + ".png"
    assert store.resolve(missing) is None


def test_resolve_url_finds_our_upload_on_any_host(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path), demo=True, local_url="http://127.0.0.1:1234")
    upload = store.add_bytes(_png())
    url = store.url_for(upload)
    assert url == f"http://127.0.0.1:1234/uploads/{upload.name}"
    # the local port changes between runs; the token is what matters
    assert store.resolve_url(f"http://127.0.0.1:999/uploads/{upload.name}").token == upload.token
    assert store.resolve_url("https://example.com/cat.png") is None
    assert store.resolve_url(None) is None


def test_akool_mode_needs_a_public_url(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path), demo=False, local_url="http://127.0.0.1:1234")
    upload = store.add_bytes(_png())
    with pytest.raises(NoPublicUrl) as exc:
        store.url_for(upload)
    assert "paste a public image URL" in exc.value.user_message
    public = UploadStore(LocalBlobs(tmp_path), demo=False, public_url="https://studio.example.org/")
    assert public.url_for(upload) == f"https://studio.example.org/uploads/{upload.name}"


def test_prune_removes_only_old_uploads(tmp_path):
    store = UploadStore(LocalBlobs(tmp_path), demo=True)
    old = store.add_bytes(_png())
    new = store.add_bytes(_png())
    os.utime(old.path, (1_000, 1_000))
    assert store.prune(max_age=3600) == 1
    assert store.resolve(old.name) is None and store.resolve(new.name) is not None
