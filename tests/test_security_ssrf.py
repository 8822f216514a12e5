"""Source-image URLs cannot reach inside (audit item HIGH 2): the fetcher, the demo and Akool mode.

Real servers on loopback play the internal targets; a "public" first hop is a URL the fetcher is told to
trust, so that what happens on the *next* hop (a redirect inward) is what the test sees.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from akool_ui.akool.errors import InvalidRequest, JobFailed
from akool_ui.akool.models import ImageRequest
from akool_ui.netguard import FetchFailed, UnsafeUrl, check_public_url, fetch_public, is_public_address
from akool_ui.bootstrap import build_studio
from akool_ui.settings import Settings
from tests.conftest import API_KEY


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        _Handler.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.end_headers()
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif self.path == "/huge":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the cap must hold while reading
            try:
                for _ in range(64):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                return
        else:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)


@pytest.fixture(scope="module")
def internal():
    """An 'internal' image server on 127.0.0.1 (the thing a visitor must not reach)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


INTERNAL_SPELLINGS = [
    "http://127.0.0.1:{port}/secret.png",
    "http://localhost:{port}/secret.png",  # a DNS name that resolves to loopback
    "http://2130706433:{port}/secret.png",  # decimal
    "http://0x7f000001:{port}/secret.png",  # hex
    "http://0177.0.0.1:{port}/secret.png",  # octal
    "http://127.1:{port}/secret.png",
    "http://0.0.0.0:{port}/secret.png",
    "http://[::ffff:127.0.0.1]:{port}/secret.png",  # IPv4-mapped IPv6
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://10.0.0.1/x.png",
    "http://172.16.5.4/x.png",
    "http://192.168.1.1/x.png",
    "http://100.64.0.1/x.png",  # shared address space (CGNAT)
    "http://[fe80::1]/x.png",
    "http://[fc00::1]/x.png",
    "http://224.0.0.1/x.png",  # multicast
    "http://[2002:7f00:1::1]/x.png",  # 6to4 wrapping 127.0.0.1
]
if _ipv6_loopback():
    INTERNAL_SPELLINGS.append("http://[::1]:{port}/secret.png")


@pytest.mark.parametrize("template", INTERNAL_SPELLINGS)
def test_fetch_refuses_internal_addresses(internal, template):
    port = internal.rsplit(":", 1)[1]
    url = template.format(port=port)
    before = len(_Handler.seen)
    with pytest.raises(UnsafeUrl) as info:
        fetch_public(url, max_bytes=10**6)
    assert "private or local" in info.value.user_message
    assert len(_Handler.seen) == before  # nothing was sent


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.com/a.png", "gopher://127.0.0.1/", "javascript:alert(1)",
    "http:///nohost.png", "", "http://example.com:0/a.png",
])
def test_fetch_refuses_what_is_not_a_web_address(url):
    with pytest.raises(UnsafeUrl):
        fetch_public(url, max_bytes=10**6)


def test_credentials_in_a_url_are_refused_never_forwarded(internal):
    before = len(_Handler.seen)
    for url in (f"http://user:pw@{internal[7:]}/secret.png", "https://admin@example.com/a.png"):
        with pytest.raises(UnsafeUrl) as info:
            check_public_url(url)
        assert "user name or password" in info.value.user_message
        with pytest.raises(UnsafeUrl):
            fetch_public(url, max_bytes=10**6, trusted=lambda u: True)
    assert len(_Handler.seen) == before


def test_every_redirect_hop_is_checked_again(internal):
    first_hop = f"{internal}/redirect?to={internal}/secret.png"
    trusted = {first_hop}
    before = len(_Handler.seen)
    with pytest.raises(UnsafeUrl):
        fetch_public(first_hop, max_bytes=10**6, trusted=trusted.__contains__)
    assert [s["path"] for s in _Handler.seen[before:]] == [first_hop[len(internal):]]  # never the target
    # the same chain is fine for a developer's simulator that allows private sources
    assert fetch_public(first_hop, max_bytes=10**6, allow_private=True) == PNG


def test_a_name_resolving_to_loopback_is_refused_even_if_it_also_has_a_public_address(internal):
    resolver = lambda host, port: ["93.184.216.34", "127.0.0.1"]  # noqa: E731 - one private answer is enough
    with pytest.raises(UnsafeUrl):
        check_public_url("http://mixed.example/a.png", resolve=resolver)
    assert check_public_url("http://public.example/a.png", resolve=lambda h, p: ["93.184.216.34"])


def test_an_unknown_host_is_one_sentence():
    with pytest.raises(UnsafeUrl) as info:
        check_public_url("http://no-such-host.invalid/a.png")
    assert "could not be found" in info.value.user_message


def test_slow_drip_and_oversize_bodies_are_cut_off(internal):
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="too long"):
        fetch_public(f"{internal}/drip", max_bytes=10**6, allow_private=True, deadline=1.0, read_timeout=0.5)
    assert time.monotonic() - started < 5  # not the 20 s the drip would take
    with pytest.raises(FetchFailed, match="too large"):
        fetch_public(f"{internal}/huge", max_bytes=100_000, allow_private=True)


def test_public_address_classification():
    assert is_public_address("93.184.216.34") and is_public_address("2606:2800:220:1::1")
    for private in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "0.0.0.0", "::1", "::", "fe80::1%eth0",
                    "::ffff:10.0.0.1", "239.255.255.250", "not an ip"):
        assert not is_public_address(private), private


# --- the app ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_studio(tmp_path_factory):
    settings = Settings.from_env({
        "AKOOL_CACHE_DIR": str(tmp_path_factory.mktemp("ssrf-demo")), "AKOOL_DEMO_SPEED": "25",
        "AKOOL_POLL_INTERVAL": "0.2",
    })
    built = build_studio(settings)
    built.studio.set_local_url("http://127.0.0.1:1")  # where uploads would be served (not needed to refuse)
    try:
        yield built
    finally:
        built.close()


def _creates(built) -> int:
    return built.demo_server.sim.stats()["creates"]


@pytest.mark.parametrize("template", [
    "{internal}/secret.png", "{simulator}/api/open/v3/content/image/infobymodelid?image_model_id=x",
    "http://127.0.0.1:1/healthz", "http://169.254.169.254/latest/meta-data/iam/",
    "http://localhost/secret.png", "http://2130706433/x.png", "http://u:p@example.com/a.png",
])
def test_demo_refuses_internal_source_urls_before_sending(demo_studio, internal, template):
    url = template.format(internal=internal, simulator=demo_studio.demo_server.base_url)
    owner = demo_studio.studio.owner_for(None, "b" * 32)
    before = _creates(demo_studio)
    with pytest.raises(InvalidRequest) as info:
        demo_studio.studio.submit(ImageRequest(prompt="steal", source_images=[url]), api_key=None, owner=owner)
    assert info.value.user_message.endswith(".") and "URL" in info.value.user_message
    assert _creates(demo_studio) == before


def test_demo_simulator_itself_will_not_fetch_internal_urls(demo_studio, internal):
    """Defence in depth: even a request that skips the Studio's check gets no internal image back."""
    client = demo_studio.studio.clients.server
    before = len(_Handler.seen)
    (job,) = client.create_images(ImageRequest(prompt="x", source_images=[f"{internal}/secret.png"]))
    with pytest.raises(JobFailed):
        client.wait_for(job.id, interval=0.1, timeout=30)
    assert _Handler.seen[before:] == []


def test_demo_still_fetches_its_own_upload_links(tmp_path):
    from akool_ui.bootstrap import launch_app as launch

    settings = Settings.from_env({
        "AKOOL_CACHE_DIR": str(tmp_path / "c"), "AKOOL_DEMO_SPEED": "25", "AKOOL_POLL_INTERVAL": "0.2",
    })
    app = launch(settings, host="127.0.0.1", port=None, quiet=True)
    try:
        studio = app.studio
        upload = studio.uploads.add_bytes(PNG)
        url = studio.uploads.url_for(upload)
        assert studio.uploads.is_own_url(url)
        assert not studio.uploads.is_own_url(url + "/../../healthz") and not studio.uploads.is_own_url(url + "?x")
        owner = studio.owner_for(None, "c" * 32)
        (record,) = studio.submit(ImageRequest(prompt="from my upload", source_images=[url]), api_key=None, owner=owner)
        subscription = studio.subscribe([record.id])
        deadline = time.monotonic() + 30
        while not subscription.done and time.monotonic() < deadline:
            subscription.get(timeout=0.5)
        subscription.close()
        assert studio.get(record.id, owner).state.value == "succeeded"
    finally:
        app.close()


def test_akool_mode_refuses_internal_urls_before_sending(simulator, tmp_path, internal):
    settings = Settings.from_env({
        "AKOOL_API_KEY": API_KEY, "AKOOL_BASE_URL": simulator.base_url, "AKOOL_CACHE_DIR": str(tmp_path / "c"),
    })
    built = build_studio(settings)
    studio = built.studio
    try:
        owner = studio.owner_for(None, "d" * 32)
        before = simulator.sim.stats()["creates"]
        for url in (f"{internal}/secret.png", "http://169.254.169.254/", "http://[::1]/a.png"):
            with pytest.raises(InvalidRequest, match="refused source url"):
                studio.submit(ImageRequest(prompt="x", source_images=[url]), api_key=None, owner=owner)
        assert simulator.sim.stats()["creates"] == before
    finally:
        built.close()
