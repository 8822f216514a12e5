"""User-given URLs, fetched or forwarded without reaching inside: public addresses only, on every hop.

A visitor on a shared link types a source-image URL; whoever fetches it (the demo's simulator here, Akool
in production) must not be steered at loopback, the cloud metadata service (169.254.169.254), private
ranges or the app itself. The rules, written once for the service (checks before sending a URL to Akool)
and the simulator (fetches in demo mode):

* http or https only, a host, no ``user:password@`` (credentials are never forwarded);
* the host is resolved and *every* address must be public (not private, loopback, link-local,
  multicast, reserved, unspecified, shared/CGNAT; IPv4-mapped and 6to4/Teredo IPv6 judged by the IPv4
  inside): one private answer is enough to refuse, so a name cannot mix a public and a private address;
* a fetch connects to the address that was checked (no second lookup a rebinding DNS could change),
  follows at most a few redirects and checks each hop again, and is bounded in bytes and in total time
  (a slow drip cannot hold a worker).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import SplitResult, urljoin, urlsplit

import certifi
import urllib3

__all__ = [
    "UnsafeUrl",
    "FetchFailed",
    "Resolver",
    "check_public_url",
    "check_url_shape",
    "fetch_public",
    "is_public_address",
    "MAX_REDIRECTS",
    "FETCH_DEADLINE_SECONDS",
]

# Enough for a CDN hop or two; a longer chain is a loop or a game.
MAX_REDIRECTS = 3
# Connect and per-read timeouts, and a deadline for the whole fetch, redirects included: a source image is
# a few MB from a CDN; 20 s covers a slow one and stops a slow-drip server from holding a worker longer.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
FETCH_DEADLINE_SECONDS = 20.0
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)

Resolver = Callable[[str, int], Iterable[str]]


class UnsafeUrl(ValueError):
    """A URL we will not fetch or forward; ``user_message`` says why in one sentence."""

    def __init__(self, reason: str, user_message: str):
        super().__init__(reason)
        self.user_message = user_message


class FetchFailed(Exception):
    """A permitted URL could not be fetched (HTTP status, too large, too slow, connection failed)."""


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def is_public_address(address: str) -> bool:
    """True for an address anyone on the internet could reach: the only kind a visitor may name."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(str(embedded))
    # is_global is False for private, loopback, link-local, shared (100.64/10), reserved and unspecified;
    # multicast has to be refused separately (224.0.0.1 counts as "global").
    return bool(ip.is_global) and not ip.is_multicast


def check_url_shape(url: object) -> SplitResult:
    """The parts of an http(s) URL with a host and no credentials; UnsafeUrl otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrl("empty url", "The source image URL is empty.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise UnsafeUrl("malformed url", "The source image URL is not a valid web address.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("not http(s)", "The source image URL must be a web address starting with https:// or http://.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl(
            "credentials in url",
            "The source image URL must not contain a user name or password; use a public link to the image.",
        )
    if port == 0:
        raise UnsafeUrl("port 0", "The source image URL is not a valid web address.")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _public_addresses(parts: SplitResult, resolve: Resolver) -> list[str]:
    host = parts.hostname or ""
    try:
        addresses = list(dict.fromkeys(resolve(host, _port(parts))))
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise UnsafeUrl(
            f"cannot resolve {host[:60]!r}",
            f"The source image URL's host ({host[:60]}) could not be found; please check the address.",
        )
    if not all(is_public_address(a) for a in addresses):
        raise UnsafeUrl(
            f"non-public address for {host[:60]!r}",
            "The source image URL points at a private or local network address; please use a public image URL.",
        )
    return addresses


def check_public_url(url: str, *, resolve: Resolver | None = None) -> str:
    """``url`` stripped, if it is an http(s) URL whose host resolves only to public addresses.

    Raises:
        UnsafeUrl: with a one-sentence ``user_message``.
    """
    parts = check_url_shape(url)
    _public_addresses(parts, resolve or _system_resolver)
    return url.strip()


@dataclass(frozen=True)
class _Target:
    parts: SplitResult
    address: str


def _pool(target: _Target, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked address, speaking to it as the named host (Host, SNI, cert)."""
    parts = target.parts
    host = parts.hostname or ""
    if parts.scheme.lower() == "https":
        return urllib3.HTTPSConnectionPool(
            target.address, _port(parts), timeout=timeout, maxsize=1, retries=False,
            server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        )
    return urllib3.HTTPConnectionPool(target.address, _port(parts), timeout=timeout, maxsize=1, retries=False)


def fetch_public(
    url: str,
    *,
    max_bytes: int,
    trusted: Callable[[str], bool] | None = None,
    allow_private: bool = False,
    resolve: Resolver | None = None,
    deadline: float = FETCH_DEADLINE_SECONDS,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_redirects: int = MAX_REDIRECTS,
    user_agent: str = "akool-studio",
) -> bytes:
    """GET ``url`` under the rules above and return the body (at most ``max_bytes``).

    ``trusted(url)`` may exempt exact URLs from the address check (the app's own upload links in the demo);
    ``allow_private`` turns the address check off (a developer's simulator fetching test fixtures).

    Raises:
        UnsafeUrl: a hop is not allowed (shape or address).
        FetchFailed: anything else (status, size, time, connection).
    """
    resolve = resolve or _system_resolver
    end = time.monotonic() + deadline
    for _ in range(max_redirects + 1):
        parts = check_url_shape(url)
        if allow_private or (trusted is not None and trusted(url)):
            try:
                addresses = list(resolve(parts.hostname or "", _port(parts)))
            except OSError as exc:
                raise FetchFailed(f"cannot resolve host: {type(exc).__name__}") from None
            if not addresses:
                raise FetchFailed("cannot resolve host")
        else:
            addresses = _public_addresses(parts, resolve)
        left = end - time.monotonic()
        if left <= 0:
            raise FetchFailed("took too long")
        timeout = urllib3.Timeout(connect=min(connect_timeout, left), read=min(read_timeout, left))
        pool = _pool(_Target(parts, addresses[0]), timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = parts.netloc.rsplit("@", 1)[-1]
        try:
            response = pool.urlopen(
                "GET", path, headers={"Host": host_header, "User-Agent": user_agent, "Accept": "image/*"},
                redirect=False, retries=False, preload_content=False, assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            pool.close()
            raise FetchFailed(f"connection failed: {type(exc).__name__}") from None
        try:
            if response.status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise FetchFailed(f"HTTP {response.status} without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchFailed(f"HTTP {response.status}")
            return _read_capped(response, max_bytes, end)
        finally:
            response.release_conn()
            pool.close()
    raise FetchFailed("too many redirects")


def _read_capped(response: urllib3.BaseHTTPResponse, max_bytes: int, end: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed("too large")
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = response.read1(_CHUNK)  # returns after one receive: a slow drip still meets the deadline
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise FetchFailed("too large")
            if time.monotonic() > end:
                raise FetchFailed("took too long")
            chunks.append(chunk)
    except urllib3.exceptions.HTTPError as exc:
        raise FetchFailed(f"read failed: {type(exc).__name__}") from None
    return b"".join(chunks)
