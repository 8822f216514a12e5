"""Whom a request on a shared app is counted under: ``Visitor``, its owner, its client address and network.

A script can mint browser ids and sessions for free, so a visitor is counted under their owner *and* the
client address the app actually trusts (``ClientAddress``): the TCP peer, or, when that peer is one of the
proxies the app is configured to trust, the nearest address those proxies vouch for in X-Forwarded-For.
A header written by the client itself on a direct connection is never believed. On top of the address
comes its network (an IPv4 /24, an IPv6 /48), with a larger allowance, so rotating addresses inside one's
own block buys little. A request that carries no address at all is counted under one shared key: a new
session without a browser id never starts with a fresh allowance.

Raw addresses are never kept: only an HMAC under the app's owner key. An IPv6 address is counted per /64
(what one subscriber is usually given, and can rotate within).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["Visitor", "ClientAddress", "address_bucket", "network_bucket", "visitor_for", "UNKNOWN_ADDRESS_KEY"]

# A client that is not an IP address (a test client, a Unix socket) is still one visitor, by its text.
_MAX_ADDRESS_CHARS = 100
# IPv6 visitors are counted per /64: a home line gets a /64 (or more) and can pick any address in it.
_IPV6_PREFIX = 64
# A network is a /24 of IPv4 (one provider's block, an office) or a /48 of IPv6 (one site's allocation).
_IPV4_NETWORK_PREFIX = 24
_IPV6_NETWORK_PREFIX = 48
# Everyone whose address is unknown shares this one key (and so one allowance).
UNKNOWN_ADDRESS_KEY = "u-unknown-address"
# A proxy chain longer than this is not a real deployment: only its nearest entries are read.
_MAX_HOPS = 20

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Visitor:
    """Whom to count a request under: the owner, and the hashed client address and network (or the shared
    unknown-address key)."""

    owner: str
    address: str | None = None
    """``"a" + HMAC`` of the client address (never the address itself), or None when unknown."""
    network: str | None = None
    """``"n" + HMAC`` of the address's network, or None when unknown or not an IP address."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys counted with the per-visitor limits."""
        return (self.owner, self.address or UNKNOWN_ADDRESS_KEY)

    @property
    def network_keys(self) -> tuple[str, ...]:
        """The keys counted with the per-network limits."""
        return (self.network,) if self.network else ()

    @property
    def all_keys(self) -> tuple[str, ...]:
        return self.keys + self.network_keys


def _ip(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _host_of(hop: str) -> str:
    """An X-Forwarded-For entry without its port (``1.2.3.4:5678``, ``[2001:db8::1]:80``)."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


class ClientAddress:
    """The client address a request can be trusted to come from, given the proxies in front of the app.

    With no trusted proxies it is the TCP peer. When the peer is a trusted proxy, X-Forwarded-For is read
    from the right (each proxy appends the address it was called from) past every trusted hop; the first
    entry that is not a trusted proxy is the client. Entries further left were written by the client and
    are never read.
    """

    def __init__(self, trusted: Iterable[str] = ()):
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)

    def __repr__(self) -> str:
        return f"ClientAddress(trusted={[str(n) for n in self.networks]})"

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one per app, addresses repeat
    def _trusted(self, ip: IPAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in self.networks)

    def of(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str | None:
        """The client's address (text), or None when the request says nothing usable."""
        peer_text = (peer or "").strip()[:_MAX_ADDRESS_CHARS]
        peer_ip = _ip(peer_text)
        if peer_ip is None or not self._trusted(peer_ip):
            return str(peer_ip) if peer_ip is not None else (peer_text or None)
        hops = [h for value in forwarded_for for h in str(value).split(",") if h.strip()][-_MAX_HOPS:]
        for hop in reversed(hops):
            ip = _ip(_host_of(hop))
            if ip is None:
                return None  # a trusted proxy wrote something that is not an address: nothing to go on
            if not self._trusted(ip):
                return str(ip)
        return str(peer_ip)  # every hop is a trusted proxy: the request came from one of them


def address_bucket(address: str) -> str:
    """The part of a client address that stands for one visitor: an IPv4 address, an IPv6 /64."""
    ip = _ip(address[:_MAX_ADDRESS_CHARS])
    if ip is None:
        return address.strip()[:_MAX_ADDRESS_CHARS]
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip)


def network_bucket(address: str) -> str | None:
    """The network ``address`` belongs to for the per-network limits (None when it is not an IP address)."""
    ip = _ip(address[:_MAX_ADDRESS_CHARS])
    if ip is None:
        return None
    prefix = _IPV6_NETWORK_PREFIX if isinstance(ip, ipaddress.IPv6Address) else _IPV4_NETWORK_PREFIX
    return str(ipaddress.ip_network((ip, prefix), strict=False))


def _keyed(address_key: bytes, kind: bytes, text: str) -> str:
    return hmac.new(address_key, kind + b"\x1f" + text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def visitor_for(owner: str, client_address: str | None, *, address_key: bytes) -> Visitor:
    """The keys ``owner`` is counted under; the address and network only as hashes keyed by
    ``address_key`` (an unkeyed hash of an IPv4 address is reversed by trying them all)."""
    if not client_address:
        return Visitor(owner)
    address = "a" + _keyed(address_key, b"address", address_bucket(client_address))
    network = network_bucket(client_address)
    return Visitor(owner, address, "n" + _keyed(address_key, b"network", network) if network else None)
