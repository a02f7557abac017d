"""The IP address a URL host names by itself, in every spelling resolvers and browsers accept.

``getaddrinfo`` (through ``inet_aton``) and the WHATWG URL parser read ``2130706433``, ``0x7f.0.0.1``,
``0177.0.0.1`` and ``127.1`` all as 127.0.0.1, while ``ipaddress`` refuses them; so a guard that asks only
``ipaddress`` lets them through to a resolver that turns them into loopback. This module decides on the
literal without any lookup. Names reserved for loopback by RFC 6761 (``localhost``, ``*.localhost``) are
literal too.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK_NAME_ADDRESSES: tuple[IPAddress, ...] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)
_NUMBER = re.compile(r"^(?:0[xX][0-9A-Fa-f]*|[0-9]+)$")


class NotAHost(ValueError):
    """The host looks like an IPv4 address (its last label is a number) but is not a valid one."""


def _ipv4_part(text: str) -> int:
    if text[:2] in ("0x", "0X"):
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text.startswith("0"):
        if not set(text) <= set("01234567"):
            raise NotAHost(f"{text!r} is not an octal number")
        return int(text, 8)
    return int(text, 10)


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in the forms of ``inet_aton`` / WHATWG (1 to 4 parts; decimal, hex or octal)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # one trailing dot, as WHATWG allows
    if not parts or not _NUMBER.match(parts[-1]):
        return None
    if len(parts) > 4 or any(not _NUMBER.match(p) for p in parts):
        raise NotAHost(f"{host!r} ends in a number but is not an IPv4 address")
    numbers = [_ipv4_part(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise NotAHost(f"{host!r} is out of the IPv4 range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def host_addresses(host: str) -> tuple[IPAddress, ...] | None:
    """The addresses ``host`` stands for without DNS (None: a name that needs resolving).

    ``NotAHost`` when it is neither a name nor a valid address.
    """
    text = unquote(host).strip().lower().removeprefix("[").removesuffix("]")
    bare = text.split("%", 1)[0]  # an IPv6 zone id ("fe80::1%eth0") does not change where it goes
    if ":" in bare:
        try:
            return (ipaddress.IPv6Address(bare),)
        except ValueError as exc:
            raise NotAHost(f"{host!r} is not an IPv6 address") from exc
    name = bare.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return LOOPBACK_NAME_ADDRESSES
    address = legacy_ipv4(bare)
    return None if address is None else (address,)
