"""The poisoning guards: what must never become a blocklist entry, whoever reports it.

A sector blocklist is a weapon against the sector if anyone can put a hospital's own address on it. So an
observable is held back (stored and counted with the reason, never relayed to blocklists) when it is

- in a private or reserved range (RFC 1918, loopback, link-local, documentation, multicast, CGNAT …);
- on the operator's allow-list (major public resolvers, the sector's own services): an address, a network that
  overlaps a listed one, or a domain at or under a listed domain;
- a network wider than the configured minimum prefix;
- inside (or covering) any provider's registered network, or at, under or above any provider's domain,
  hostname or e-mail domain: such a sighting is still correlated, so that hospital learns it may be
  compromised, but nobody blocks it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from ewarn.correlate.engine import match
from ewarn.correlate.index import AssetIndex
from ewarn.ingest.normalise import Observable
from ewarn.models import Asset, AssetKind, IndicatorType
from ewarn.models.indicator import Indicator, SourceRef
from ewarn.models.sighting import HeldReason
from ewarn.settings import SightingSettings

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PROTECTED_KINDS = (AssetKind.NETWORK, AssetKind.DOMAIN, AssetKind.HOSTNAME, AssetKind.EMAIL_DOMAIN)


def _network(value: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _suffixes(domain: str) -> Iterable[str]:
    labels = domain.split(".")
    return (".".join(labels[i:]) for i in range(len(labels)))


def is_private_or_reserved(network: IpNetwork) -> bool:
    """True when any part of ``network`` is not globally routable (``ipaddress``'s registry of special ranges)."""
    if network.version == 6 and isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return not mapped.is_global
    first, last = network.network_address, network.broadcast_address
    return not (first.is_global and last.is_global) or first.is_multicast or network.overlaps(_SHARED)


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # CGNAT: not global, but ``is_global`` differs by version


@dataclass(frozen=True)
class AllowList:
    """The operator's allow-list, read once from settings."""

    networks: tuple[IpNetwork, ...] = ()
    domains: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, entries: Iterable[str]) -> AllowList:
        networks: list[IpNetwork] = []
        domains: set[str] = set()
        for entry in entries:
            network = _network(entry.strip())
            if network is not None:
                networks.append(network)
            elif entry.strip():
                domains.add(entry.strip().lower().rstrip("."))
        return cls(tuple(networks), frozenset(domains))

    def network_listed(self, network: IpNetwork) -> bool:
        return any(listed.version == network.version and listed.overlaps(network) for listed in self.networks)

    def domain_listed(self, domain: str) -> bool:
        return any(suffix in self.domains for suffix in _suffixes(domain))


@dataclass
class ProtectedAssets:
    """Every provider's registered networks and names, as the guards need them."""

    index: AssetIndex = field(default_factory=AssetIndex)
    domain_suffixes: frozenset[str] = frozenset()  # each protected name and every parent domain of it

    @classmethod
    def build(cls, assets: Iterable[Asset]) -> ProtectedAssets:
        kept = [a for a in assets if a.kind in PROTECTED_KINDS]
        names = {
            (a.value or "").lower().rstrip(".") for a in kept if a.kind is not AssetKind.NETWORK and a.value
        }
        return cls(AssetIndex.build(kept), frozenset(s for n in names for s in _suffixes(n) if "." in s))

    def hit(self, observed: Observable) -> bool:
        """Whether the observable lies in, covers or names a provider's asset."""
        probe = Indicator(
            key=observed.key,
            type=observed.type,
            value=observed.value,
            url_host=observed.url_host,
            source=SourceRef(feed_id="guard", feed_kind="guard", record="guard"),
        )
        if match(probe, self.index):
            return True
        host = observed.value if observed.type is IndicatorType.DOMAIN else observed.url_host
        return host is not None and host in self.domain_suffixes


@dataclass(frozen=True)
class Guards:
    """The poisoning guards with their settings."""

    allow: AllowList
    min_ipv4_prefix: int
    min_ipv6_prefix: int

    @classmethod
    def from_settings(cls, settings: SightingSettings) -> Guards:
        return cls(
            AllowList.from_settings(settings.allow_list), settings.min_ipv4_prefix, settings.min_ipv6_prefix
        )

    def held_reason(self, observed: Observable, protected: ProtectedAssets) -> HeldReason | None:
        """Why ``observed`` must not become a blocklist entry; None when it may."""
        network = (
            _network(observed.value) if observed.type in (IndicatorType.IPV4, IndicatorType.IPV6) else None
        )
        if network is None and observed.url_host is not None:
            network = _network(observed.url_host)
        if network is not None:
            if is_private_or_reserved(network):
                return HeldReason.PRIVATE_OR_RESERVED
            if self.allow.network_listed(network):
                return HeldReason.ALLOW_LISTED
            minimum = self.min_ipv4_prefix if network.version == 4 else self.min_ipv6_prefix
            if network.prefixlen < minimum:
                return HeldReason.TOO_WIDE
        else:
            host = observed.value if observed.type is IndicatorType.DOMAIN else observed.url_host
            if host is not None and self.allow.domain_listed(host):
                return HeldReason.ALLOW_LISTED
        if protected.hit(observed):
            return HeldReason.PROVIDER_ASSET
        return None
