"""A pasted source URL is checked as it is entered (``ui/source_url.py``): a preview when it is an image,
else one sentence naming the URL and what is wrong, for each way a URL goes wrong. Served by a real local
HTTP server (the checker is told to allow this machine's address; the app's own never is)."""

from __future__ import annotations

import http.server
import io
import threading
from types import SimpleNamespace

import pytest
from PIL import Image

from akool_ui.ui.source_url import SourceUrlChecker


def _png(size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


ROUTES = {
    "/cat.png": (200, "image/png", _png()),
    "/page": (200, "text/html", b"<!DOCTYPE html><html><body><img src='/cat.png'></body></html>"),
    "/text.png": (200, "image/png", b"hello, I am text\n" * 10),
    "/forbidden.png": (403, "text/plain", b"no"),
    "/broken.png": (500, "text/plain", b"oops"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        status, kind, body = ROUTES.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _studio(refuse: Exception | None = None):
    def check_source_url(url):
        if refuse is not None:
            raise refuse

    return SimpleNamespace(is_own_upload=lambda url: False, check_source_url=check_source_url)


@pytest.fixture()
def checker():
    return SourceUrlChecker(_studio(), allow_private=True)


def test_an_image_url_gets_a_preview_and_its_size(checker, server):
    check = checker.check(f"  {server}/cat.png ")
    assert check.ok and check.sentence == "✓ A PNG image, 640×480 pixels."
    assert max(check.preview.size) <= 256


@pytest.mark.parametrize("path, expected", [
    ("/missing.png", "has nothing there (404 Not Found) for http://127.0.0.1:"),
    ("/forbidden.png", "does not share it (403 Forbidden)"),
    ("/broken.png", "has a problem of its own (500)"),
    ("/page", "is a web page, not an image: open it, right-click the image"),
    ("/text.png", "That file is not an image"),
])
def test_each_bad_url_is_one_sentence_naming_it(checker, server, path, expected):
    check = checker.check(server + path)
    assert not check.ok and check.preview is None
    assert expected in check.sentence
    assert path in check.sentence or "127.0.0.1" in check.sentence  # the sentence names the URL


def test_an_unreachable_host_and_an_unknown_one_are_named(server):
    closed = SourceUrlChecker(_studio(), allow_private=True)
    port = int(server.rsplit(":", 1)[1])
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    assert free != port
    check = closed.check(f"http://127.0.0.1:{free}/cat.png")
    assert not check.ok and check.sentence.startswith("Could not connect to 127.0.0.1")
    nowhere = SourceUrlChecker(_studio(), allow_private=True, resolve=lambda host, port: [])
    check = nowhere.check("https://no-such-host.example/cat.png")
    assert not check.ok and check.sentence.startswith("no-such-host.example could not be found")


def test_the_studio_refusal_comes_first_and_an_empty_box_says_nothing(server):
    from akool_ui.netguard import UnsafeUrl

    refusing = SourceUrlChecker(_studio(UnsafeUrl("private", "The source image URL points at a private or local "
                                                  "network address; please use a public image URL.")))
    check = refusing.check(server + "/cat.png")
    assert not check.ok and check.sentence.startswith("http://127.0.0.1:") and "private or local" in check.sentence
    assert refusing.check("   ") is None


def test_the_real_rules_refuse_this_machine(server):
    """Without the test's permission, the checker follows netguard: loopback is never fetched."""
    check = SourceUrlChecker(_studio()).check(server + "/cat.png")
    assert not check.ok and "private or local network" in check.sentence
