"""Whom a request on a shared app is counted under: ``Visitor``, its owner and its hashed client address.

A visitor is counted under two keys: their owner (a hash of their browser id) and a keyed hash of their
client address, so clearing the browser's storage does not hand them a fresh hour. Raw addresses are never
kept: only an HMAC under the app's owner key, and an IPv6 address is first cut to its /64 (what one
subscriber is usually given, and can rotate within).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

__all__ = ["Visitor", "address_bucket", "visitor_for"]

# A client that is not an IP address (a test client, a Unix socket) is still one visitor, by its text.
_MAX_ADDRESS_CHARS = 100
# IPv6 visitors are counted per /64: a home line gets a /64 (or more) and can pick any address in it.
_IPV6_PREFIX = 64


@dataclass(frozen=True)
class Visitor:
    """Whom to count a request under: the owner and (when known) the hashed client address."""

    owner: str
    address: str | None = None
    """``"a" + HMAC`` of the client address (never the address itself), or None when unknown."""

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.owner,) if self.address is None else (self.owner, self.address)


def address_bucket(address: str) -> str:
    """The part of a client address that stands for one visitor: an IPv4 address, an IPv6 /64."""
    text = address.strip().strip("[]").split("%", 1)[0][:_MAX_ADDRESS_CHARS]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip)


def visitor_for(owner: str, client_address: str | None, *, address_key: bytes) -> Visitor:
    """The keys ``owner`` is counted under; the address only as a hash keyed by ``address_key`` (an unkeyed
    hash of an IPv4 address is reversed by trying them all)."""
    if not client_address:
        return Visitor(owner)
    digest = hmac.new(
        address_key, b"address\x1f" + address_bucket(client_address).encode("utf-8"), hashlib.sha256
    ).hexdigest()[:32]
    return Visitor(owner, "a" + digest)
