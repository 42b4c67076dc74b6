"""Which partner addresses this node will call: the guard against being used as a proxy.

A partner *declares* its address (``contract/apply``, ``node/update``), and the node calls
it later (the confirm, jobs, transport), so an address is input from outside that turns
into requests from inside: pointed at ``http://169.254.169.254/`` it would make the node
fetch its own cloud credentials; at ``http://127.0.0.1:8102`` its own admin API. The
guarantee, kept before outgoing calls (``PeerClient``; a verdict holds 30 s per address)
and checked early wherever an address is recorded (so that bad input is refused before
anything is stored):

* only ``http`` and ``https``, with a host, no credentials, no query, no fragment;
* never an unspecified (``0.0.0.0``, ``::``), multicast or reserved address;
* never a link-local address (169.254/16, fe80::/10) nor a cloud metadata endpoint
  (169.254.169.254, fd00:ec2::254, 100.100.100.200, ``metadata.google.internal``...),
  unless ``peer.allow_link_local``;
* loopback and private (RFC 1918, ULA, CGNAT) addresses only while ``peer.allow_loopback``
  and ``peer.allow_private`` say so. Both default to true: partners in one institution's
  network are often private, and the test harness runs every node on 127.0.0.1. An
  internet-facing node should turn both off.

A host name is checked as a name (metadata names) and, at call time, by every address it
resolves to. Redirects are never followed (``PeerClient``), so a partner cannot bounce a
call elsewhere. Out of scope: DNS rebinding between our resolution and httpx's (pin the
partner by IP address, or use TLS pinning, to close it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from isthmus.wire.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud instance-metadata endpoints (AWS, GCP, Azure, Alibaba, Oracle, Tencent...).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata", "metadata.tencentyun.com", "instance-data"}
)


class AddressRefused(ValidationFailed):
    """An address this node will not call (or record), with the rule it breaks."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_loopback: bool = True
    allow_private: bool = True
    allow_link_local: bool = False

    def parse(self, address: str) -> SplitResult:
        """The address as a URL (``host:port`` means ``http://host:port``), checked for
        everything but DNS: scheme, shape, a literal IP's kind, metadata names."""
        try:
            url = urlsplit(address if "://" in address else f"http://{address}")
            host, _ = url.hostname, url.port
        except ValueError as exc:
            raise AddressRefused(f"address {address!r}: {exc}") from None
        if url.scheme not in ("http", "https"):
            raise AddressRefused(f"address {address!r}: only http and https are called")
        if not host:
            raise AddressRefused(f"address {address!r}: no host")
        if url.username is not None or url.password is not None:
            raise AddressRefused(f"address {address!r}: credentials in an address")
        if url.query or url.fragment:
            raise AddressRefused(f"address {address!r}: a query or fragment in an address")
        name = host.rstrip(".").lower()
        if name in METADATA_NAMES and not self.allow_link_local:
            raise AddressRefused(f"address {address!r}: a cloud metadata endpoint")
        if name == "localhost" or name.endswith(".localhost"):
            self.check_ip(ipaddress.ip_address("127.0.0.1"), address)
        literal = _literal(name)
        if literal is not None:
            self.check_ip(literal, address)
        return url

    def check_ip(self, ip: IPAddress, address: str) -> None:
        """Refuse ``ip`` (one of ``address``'s) if the policy does not allow its kind."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        kind = _kind(ip)
        allowed = {
            "metadata": self.allow_link_local,
            "link-local": self.allow_link_local,
            "loopback": self.allow_loopback,
            "private": self.allow_private,
            "public": True,
        }.get(kind, False)
        if not allowed:
            raise AddressRefused(
                f"address {address!r}: {ip} is {kind}, which this node does not call"
                + ("" if kind in ("unusable",) else " (see the peer.allow_* options)")
            )

    async def check(self, address: str) -> None:
        """The full check before a call: shape, then every address the host resolves to
        (a name that does not resolve is left to the connection attempt to fail)."""
        url = self.parse(address)
        host = (url.hostname or "").rstrip(".")
        if _literal(host) is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, url.port or 0, type=socket.SOCK_STREAM)
        except UnicodeError:
            raise AddressRefused(f"address {address!r}: not a valid host name") from None
        except OSError:
            return
        for info in infos:
            self.check_ip(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]), address)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _kind(ip: IPAddress) -> str:
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "unusable"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if not ip.is_global:
        return "private"
    return "public"
