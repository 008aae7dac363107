"""Where webhook messages may go: by default only to public addresses.

A webhook's host is resolved when a message is sent, and the message goes to the address that was
checked (``pinned``), so a name that resolves to a public address at the check and to a private one
at the connect (DNS rebinding) still reaches only the address that was checked. Loopback, private,
link-local (cloud metadata at 169.254.169.254), shared, reserved and multicast addresses are
refused unless the server allows private targets (``NEGOTIATOR_WEBHOOK_PRIVATE_TARGETS``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The target may not be called; the message says why, for the server's log."""


def public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (an IPv4-mapped IPv6 address counts as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def literal(host: str) -> IPAddress | None:
    """The address a host names literally (``10.0.0.1``, ``[::1]``), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _port(parsed: SplitResult) -> int:
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def host_of(url: str) -> str:
    """The host and port a URL reaches: the key of the courier's per-host limit."""
    parsed = urlsplit(url)
    return f"{parsed.hostname}:{_port(parsed)}"


@dataclass(frozen=True)
class Pinned:
    """A URL rewritten to one checked address, with what the request needs to reach the same host."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pinned(url: str, *, private_ok: bool) -> Pinned:
    """The URL with its host replaced by a checked address of it; ``Refused`` if it has none."""
    parsed = urlsplit(url)
    host = parsed.hostname or ""
    try:
        found = socket.getaddrinfo(host, _port(parsed), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as failure:
        raise Refused(f"{host} does not resolve: {failure}") from None
    addresses = [ipaddress.ip_address(str(entry[4][0]).split("%")[0]) for entry in found]
    if not private_ok and (private := [str(a) for a in addresses if not public(a)]):
        raise Refused(f"{host} resolves to a private address ({', '.join(private)})")
    if not addresses:
        raise Refused(f"{host} does not resolve")
    address = addresses[0]
    shown = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{shown}:{parsed.port}" if parsed.port else shown
    userinfo, _, host_header = parsed.netloc.rpartition("@")
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Pinned(urlunsplit(parsed._replace(netloc=netloc)), {"host": host_header}, extensions)
