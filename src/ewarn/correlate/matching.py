"""Which assets an indicator hits: the in-memory index read for each kind of indicator, one match per asset.

Pure: no I/O, no alert; ``engine.build_alerts`` turns the matches into alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import urlsplit

from ewarn.correlate.addresses import Network, normalise_host, parse_address, parse_asn, parse_network
from ewarn.correlate.index import AssetIndex, AssetRef, Entry, records
from ewarn.correlate.matches import Match, Relation
from ewarn.correlate.vulnerability import match_vulnerability
from ewarn.models import Indicator, IndicatorType

D = TypeVar("D")


# --- network and name indicators ---------------------------------------------------------------------------


def _per_provider_first(index: AssetIndex, hits: Iterable[tuple[D, Entry]]) -> list[tuple[D, AssetRef]]:
    """Keep, for each provider, only the first (most specific) asset hit; hits come most specific first."""
    seen: set[str] = set()
    out: list[tuple[D, AssetRef]] = []
    for detail, entry in hits:
        for record in records(entry):
            ref = index.ref(record)
            if ref.provider_id not in seen:
                seen.add(ref.provider_id)
                out.append((detail, ref))
    return out


def _match_address(index: AssetIndex, text: str, indicator_value: str) -> list[Match]:
    parsed = parse_address(text) if "/" not in text else None
    if parsed is None:
        network = parse_network(text)
        return [] if network is None else _match_network(index, network, indicator_value)
    family, address = parsed
    hits = index.networks_containing(family, address)
    if not hits:
        return []
    containing = ((Network(family, net, length).text(), entry) for length, net, entry in hits)
    return [
        Match(ref, Relation.ADDRESS_IN_RANGE, "network", cidr, indicator_value, range=cidr)
        for cidr, ref in _per_provider_first(index, containing)
    ]


def _match_network(index: AssetIndex, network: Network, indicator_value: str) -> list[Match]:
    containing: list[tuple[str, Entry]] = []
    out: list[Match] = []
    for length, net, entry in index.networks_overlapping(network):
        cidr = Network(network.family, net, length).text()
        if length <= network.prefix:
            containing.append((cidr, entry))
            continue
        for record in records(entry):
            out.append(
                Match(index.ref(record), Relation.RANGE_COVERS, "network", cidr, indicator_value, range=cidr)
            )
    inside = [
        Match(ref, Relation.RANGE_IN_RANGE, "network", cidr, indicator_value, range=cidr)
        for cidr, ref in _per_provider_first(index, containing)
    ]
    return inside + out


def _match_host(index: AssetIndex, host: str, indicator_value: str) -> list[Match]:
    out: list[Match] = []
    for domain, ref in _per_provider_first(index, index.domains_covering(host)):
        relation = Relation.SAME_DOMAIN if domain == host else Relation.SUBDOMAIN
        out.append(Match(ref, relation, "domain", domain, indicator_value, range=domain))
    exact = index.hostname(host)
    if exact is not None:
        out.extend(
            Match(index.ref(r), Relation.HOSTNAME, "hostname", host, indicator_value) for r in records(exact)
        )
    mail = index.email_domain(host)
    if mail is not None:
        out.extend(
            Match(index.ref(r), Relation.EMAIL_DOMAIN, "email_domain", host, indicator_value)
            for r in records(mail)
        )
    return out


def _match_ip(indicator: Indicator, index: AssetIndex) -> list[Match]:
    return _match_address(index, indicator.value, indicator.value)


def _match_domain(indicator: Indicator, index: AssetIndex) -> list[Match]:
    host = normalise_host(indicator.value)
    return [] if host is None else _match_host(index, host, indicator.value)


def url_host(indicator: Indicator) -> str | None:
    if indicator.url_host:
        return indicator.url_host
    try:
        return urlsplit(indicator.value).hostname
    except ValueError:
        return None


def _match_url(indicator: Indicator, index: AssetIndex) -> list[Match]:
    raw_host = url_host(indicator)
    if not raw_host:
        return []
    # only a host that starts like an address is tried as one: a failed parse raises, which costs more
    if (raw_host[0].isdigit() or ":" in raw_host) and parse_address(raw_host.strip("[]")) is not None:
        return _match_address(index, raw_host.strip("[]"), indicator.value)
    host = normalise_host(raw_host)
    return [] if host is None else _match_host(index, host, indicator.value)


def _match_email(indicator: Indicator, index: AssetIndex) -> list[Match]:
    domain = normalise_host(indicator.value.rpartition("@")[2])
    entry = index.email_domain(domain) if domain else None
    if entry is None or domain is None:
        return []
    return [
        Match(index.ref(r), Relation.EMAIL_DOMAIN, "email_domain", domain, indicator.value)
        for r in records(entry)
    ]


def _match_asn(indicator: Indicator, index: AssetIndex) -> list[Match]:
    number = parse_asn(indicator.value)
    entry = index.asn(number) if number is not None else None
    if entry is None:
        return []
    return [Match(index.ref(r), Relation.ASN, "asn", f"AS{number}", indicator.value) for r in records(entry)]


def _no_match(indicator: Indicator, index: AssetIndex) -> list[Match]:
    return []  # file hashes: no asset kind holds hashes


_MATCHERS: dict[IndicatorType, Callable[[Indicator, AssetIndex], list[Match]]] = {
    IndicatorType.IPV4: _match_ip,
    IndicatorType.IPV6: _match_ip,
    IndicatorType.DOMAIN: _match_domain,
    IndicatorType.URL: _match_url,
    IndicatorType.EMAIL: _match_email,
    IndicatorType.ASN: _match_asn,
    IndicatorType.VULNERABILITY: match_vulnerability,
    IndicatorType.MD5: _no_match,
    IndicatorType.SHA1: _no_match,
    IndicatorType.SHA256: _no_match,
    IndicatorType.SHA512: _no_match,
}


def match(indicator: Indicator, index: AssetIndex) -> list[Match]:
    """Every asset ``indicator`` hits, one match per asset."""
    return _MATCHERS[indicator.type](indicator, index)
