"""Fast parsing of IP addresses, networks, host names and ASNs into the keys the asset index uses.

``ipaddress`` objects cost microseconds and hundreds of bytes each; the index needs only ints.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

import idna

V4, V6 = 4, 6
WIDTH = {V4: 32, V6: 128}
_FAMILY = {V4: socket.AF_INET, V6: socket.AF_INET6}


class Network(NamedTuple):
    family: int  # 4 or 6
    address: int  # network address as an int, host bits cleared
    prefix: int  # prefix length

    def text(self) -> str:
        packed = self.address.to_bytes(WIDTH[self.family] // 8, "big")
        host = socket.inet_ntop(_FAMILY[self.family], packed)
        return f"{host}/{self.prefix}"

    def last(self) -> int:
        return self.address | ((1 << (WIDTH[self.family] - self.prefix)) - 1)


def parse_address(text: str) -> tuple[int, int] | None:
    """``(family, int)`` for an IPv4/IPv6 address, or None."""
    family = V6 if ":" in text else V4
    try:
        packed = socket.inet_pton(_FAMILY[family], text)
    except (OSError, ValueError):
        try:
            packed = socket.inet_pton(_FAMILY[family], text.strip().strip("[]"))
        except (OSError, ValueError):
            return None
    return family, int.from_bytes(packed, "big")


def parse_network(text: str) -> Network | None:
    """A CIDR (host bits are cleared) or a single address as /32 or /128; None when it is neither."""
    host, slash, length = text.strip().partition("/")
    parsed = parse_address(host)
    if parsed is None:
        return None
    family, address = parsed
    width = WIDTH[family]
    if not slash:
        return Network(family, address, width)
    if not length.isdigit() or not 0 <= int(length) <= width:
        return None
    prefix = int(length)
    mask = ((1 << prefix) - 1) << (width - prefix)
    return Network(family, address & mask, prefix)


def normalise_host(text: str) -> str | None:
    """Lower-case IDNA (punycode) host name without trailing dot or wildcard; None when empty or invalid."""
    host = text.strip().lower().rstrip(".")
    if host.startswith("*."):
        host = host[2:]
    host = host.lstrip(".")
    if not host:
        return None
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    return host


def parse_asn(text: str) -> int | None:
    """``AS64500`` / ``as64500`` / ``64500`` → 64500."""
    value = text.strip().upper().removeprefix("AS")
    return int(value) if value.isdigit() else None
