"""SSRF guard: an outbound target (a webhook, a feed) must resolve to public addresses, and we connect to
the address we checked.

Shared by dispatch (webhooks) and ingest (feeds, every redirect hop), so it sits below both. The host is
resolved once through an injectable resolver; every address it returns must be allowed (one
private answer among public ones is how DNS rebinding hides). The request is then sent to the checked IP
("pinned") with the original Host header and TLS server name, so no second lookup can point it elsewhere.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from ewarn.hostaddress import NotAHost, legacy_ipv4

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints, named explicitly even where a broader rule already covers them.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
# Prefixes that embed an IPv4 address which the kernel or a gateway may translate to (RFC 6052, RFC 8215).
_CACHE_SIZE = 10_000
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class SsrfRefused(Exception):
    """The target is not allowed; retrying will not help until an operator changes the allow-list."""


class ResolutionFailed(Exception):
    """The name did not resolve; DNS trouble is usually temporary, so this is retried."""


class Resolver(Protocol):
    """Turns a host name into addresses; tests inject a fixed table so nothing leaves loopback."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo), with a short cache to keep lookups off the hot path.

    Caching is safe here: protection against rebinding comes from pinning the checked address, not from
    looking up again.
    """

    def __init__(self, *, ttl_seconds: float = 30.0) -> None:
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, int], tuple[float, list[IPAddress]]] = {}

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        now = time.monotonic()
        hit = self._cache.get((host, port))
        if hit is not None and hit[0] > now:
            return hit[1]
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        found: list[IPAddress] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        self._cache[(host, port)] = (now + self._ttl, found)
        return found


class StaticResolver:
    """A fixed name → addresses table (tests, and operators who pin names in configuration)."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self._table = {k.lower(): [ipaddress.ip_address(a) for a in v] for k, v in table.items()}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        found = self._table.get(host.lower().rstrip("."))
        if not found:
            raise OSError(f"cannot resolve {host!r}")
        return list(found)


@dataclass(frozen=True)
class PinnedTarget:
    """Where to connect (``address``) for a URL whose Host header and TLS name stay ``host``."""

    url: httpx.URL
    host: str
    port: int
    address: IPAddress
    request_url: httpx.URL  # the URL with the checked address in place of the name: no second lookup
    host_header: str
    request_target: str  # path and query as they go on the request line

    @classmethod
    def of(cls, url: httpx.URL, host: str, port: int, address: IPAddress) -> PinnedTarget:
        default = 443 if url.scheme == "https" else 80
        name = host if ":" not in host else f"[{host}]"
        return cls(
            url=url,
            host=host,
            port=port,
            address=address,
            request_url=url.copy_with(host=str(address)),
            host_header=name if port == default else f"{name}:{port}",
            request_target=url.raw_path.decode("ascii") or "/",
        )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be an outbound target (None when it is a public unicast address)."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata address"
    # An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) goes where the IPv4 one goes.
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = forbidden_reason(embedded)
        return None if inner is None else f"embeds {embedded} ({inner})"
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),  # CGNAT 100.64.0.0/10 lands here
    )
    for hit, why in checks:
        if hit:
            return why
    return None


@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (cached: the same targets come again and again)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the spellings resolvers accept too (2130706433, 0x7f.0.0.1, 127.1): decided here, never resolved
        return legacy_ipv4(host)
    except NotAHost:
        return None


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


class SsrfGuard:
    """Checks outbound targets against the rules above and the operator's allow-list."""

    def __init__(self, *, resolver: Resolver, allowed_networks: Iterable[str] = ()) -> None:
        self._resolver = resolver
        self._allowed = parse_networks(allowed_networks)
        self._urls: dict[str, httpx.URL] = {}
        self._targets: dict[tuple[str, IPAddress], PinnedTarget] = {}

    def allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self._allowed)

    def check_address(self, address: IPAddress) -> None:
        if self.allowed(address):
            return
        why = forbidden_reason(address)
        if why is not None:
            raise SsrfRefused(f"{address} is {why} and not in the allow-list")

    async def check(self, url: str | httpx.URL) -> PinnedTarget:
        """Resolve and check ``url``; return where to connect (``SsrfRefused``, ``ResolutionFailed``)."""
        parsed = url if isinstance(url, httpx.URL) else self._parse(url)
        if parsed.scheme not in ("http", "https"):
            raise SsrfRefused(f"scheme {parsed.scheme!r} is not allowed")
        host = parsed.host
        if not host:
            raise SsrfRefused("URL has no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        literal = _literal(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                addresses = await self._resolver.resolve(host, port)
            except OSError as exc:
                raise ResolutionFailed(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise ResolutionFailed(f"{host} resolves to no address")
        for address in addresses:
            self.check_address(address)
        key = (url if isinstance(url, str) else str(url), addresses[0])
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) > _CACHE_SIZE:
                self._targets.clear()
            target = self._targets[key] = PinnedTarget.of(parsed, host, port, addresses[0])
        return target

    def _parse(self, url: str) -> httpx.URL:
        # Parsing is the costly part of a check on the hot path; the same few targets come again and again.
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) > _CACHE_SIZE:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed
