"""The pure core of correlation: which assets an indicator hits, why, and the alert that says so.

No I/O here: ``match`` reads the in-memory index, ``build_alert`` turns one match into an ``Alert``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from ewarn.correlate import products, versions
from ewarn.correlate.addresses import Network, normalise_host, parse_address, parse_asn, parse_network
from ewarn.correlate.index import PRODUCT_KINDS, AssetIndex, AssetRef, Entry, Record, records
from ewarn.correlate.score import score
from ewarn.ids import alert_id
from ewarn.models import (
    AffectedProduct,
    Alert,
    AssetKind,
    Indicator,
    IndicatorType,
    MatchDetail,
    ProductStatus,
    VersionRange,
)

D = TypeVar("D")


class Relation(StrEnum):
    """How the indicator relates to the asset; selects the sentence of the explanation."""

    ADDRESS_IN_RANGE = "address_in_range"
    RANGE_IN_RANGE = "range_in_range"  # the indicator's network lies inside the asset's
    RANGE_COVERS = "range_covers"  # the asset's network lies inside the indicator's
    SAME_DOMAIN = "same_domain"
    SUBDOMAIN = "subdomain"
    HOSTNAME = "hostname"
    EMAIL_DOMAIN = "email_domain"
    ASN = "asn"
    VERSION_IN_RANGE = "version_in_range"
    ALL_VERSIONS = "all_versions"
    VERSION_UNKNOWN = "version_unknown"
    PRODUCT_NAMED = "product_named"  # the advisory names the product but no versions (KEV)


@dataclass(frozen=True, slots=True)
class Match:
    """One asset an indicator hits, with what matched and the range that made it match."""

    asset: AssetRef
    relation: Relation
    field: str  # network, domain, hostname, email_domain, asn, cpe, purl, vendor+product
    asset_value: str
    indicator_value: str
    range: str | None = None
    fix_available: bool = False


def is_active(indicator: Indicator, now: datetime) -> bool:
    """False once the source revoked the indicator or its validity ended: its alerts are then resolved."""
    return not indicator.revoked and (indicator.valid_until is None or indicator.valid_until > now)


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


def _url_host(indicator: Indicator) -> str | None:
    if indicator.url_host:
        return indicator.url_host
    try:
        return urlsplit(indicator.value).hostname
    except ValueError:
        return None


def _match_url(indicator: Indicator, index: AssetIndex) -> list[Match]:
    raw_host = _url_host(indicator)
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


# --- vulnerability indicators ------------------------------------------------------------------------------

_FIELD_RANK = {"cpe": 0, "purl": 1, "vendor+product": 2}
_FIX_WORDS = (
    "vendor_fix",
    "update to",
    "upgrade to",
    "fixed in",
    "firmware update",
    "install version",
)


@dataclass(frozen=True, slots=True)
class _Lookup:
    field: str
    entry: Entry
    display: str  # the product as the advisory names it
    implied: VersionRange | None  # a version carried inside the CPE or PURL itself


def _display(product: AffectedProduct) -> str:
    return " ".join(p for p in (product.vendor, product.product) if p) or product.cpe or product.purl or ""


def _lookups(index: AssetIndex, product: AffectedProduct) -> list[_Lookup]:
    """Every index entry an advisory's product names; most advisories name products nobody has: keep it lean."""
    out: list[_Lookup] = []
    if product.cpe and (cpe := products.parse_cpe(product.cpe)) is not None:
        implied = VersionRange(exact=cpe.version, raw=f"= {cpe.version}") if cpe.version else None
        if (entry := index.by_cpe(products.cpe_key(cpe))) is not None:
            out.append(_Lookup("cpe", entry, product.cpe, implied))
        implied_name = products.cpe_name_key(cpe)
        if implied_name and (entry := index.by_name(implied_name)) is not None:
            out.append(_Lookup("vendor+product", entry, _display(product), implied))
    if product.purl and (purl := products.parse_purl(product.purl)) is not None:
        implied = (
            VersionRange(exact=purl.version, scheme=purl.type, raw=f"= {purl.version}")
            if purl.version
            else None
        )
        if (entry := index.by_purl(purl.key)) is not None:
            out.append(_Lookup("purl", entry, product.purl, implied))
    key = products.name_key(product.vendor, product.product)
    if key and (entry := index.by_name(key)) is not None:
        out.append(_Lookup("vendor+product", entry, _display(product), None))
    return out


def _ranges(product: AffectedProduct, lookup: _Lookup) -> list[VersionRange]:
    if product.versions:
        return list(product.versions)
    return [lookup.implied] if lookup.implied is not None else []


def _verdict(ranges: list[VersionRange], version: str | None, scheme: str) -> tuple[Relation | None, str]:
    """Does the asset's version fall in ``ranges`` (empty: all versions)? Returns relation and range text."""
    if not ranges:
        return Relation.PRODUCT_NAMED, "versions not given"
    if any(versions.is_all(part) for vr in ranges for part in versions.expand(vr)):
        return Relation.ALL_VERSIONS, "all versions"
    if version is None:
        return Relation.VERSION_UNKNOWN, " or ".join(
            versions.describe(p) for r in ranges for p in versions.expand(r)
        )
    for vr in ranges:
        part = versions.matching_part(vr, version, None if scheme == "generic" else scheme)
        if part is not None:
            return Relation.VERSION_IN_RANGE, versions.describe(part)
    return None, ""


def _asset_display(asset: AssetRef) -> str:
    parts = [p for p in (asset.vendor, asset.product) if p]
    if not parts and asset.cpe:
        cpe = products.parse_cpe(asset.cpe)
        parts = [cpe.vendor, cpe.product] if cpe else [asset.cpe]
    if not parts and asset.purl:
        parts = [asset.purl.split("@")[0]]
    return " ".join(parts)


def _fix_in_remediations(indicator: Indicator) -> bool:
    vuln = indicator.vulnerability
    return vuln is not None and any(word in r.lower() for r in vuln.remediations for word in _FIX_WORDS)


def indicator_cves(indicator: Indicator) -> set[str]:
    cves = {c.upper() for c in indicator.cves}
    if indicator.vulnerability is not None:
        cves |= {c.upper() for c in indicator.vulnerability.cves}
    if indicator.value.upper().startswith("CVE-"):
        cves.add(indicator.value.upper())
    return cves


def _better(current: Match | None, candidate: Match) -> bool:
    return current is None or _FIELD_RANK[candidate.field] < _FIELD_RANK[current.field]


def _match_vulnerability(indicator: Indicator, index: AssetIndex) -> list[Match]:
    vuln = indicator.vulnerability
    if vuln is None or not vuln.affected:
        return []
    suppressed: set[Record] = set()
    fixed_for: set[Record] = set()
    # Entries that give versions decide for an asset; an entry that names the product without any version
    # (KEV does) only counts when no entry of the same advisory says which versions of it are affected.
    ranged: dict[Record, Match | None] = {}
    versionless: dict[Record, Match] = {}
    refs: dict[Record, AssetRef] = {}

    for product in vuln.affected:
        status = product.status
        if status is ProductStatus.UNDER_INVESTIGATION:
            continue
        for lookup in _lookups(index, product):
            ranges = _ranges(product, lookup)
            for record in records(lookup.entry):
                asset = refs.get(record) or refs.setdefault(record, index.ref(record))
                if asset.kind not in PRODUCT_KINDS:
                    continue
                relation, range_text = _verdict(ranges, asset.effective_version, asset.version_scheme)
                if status is not ProductStatus.AFFECTED:
                    # known_not_affected and fixed versions never match; a fixed entry tells a fix exists
                    if status is ProductStatus.FIXED:
                        fixed_for.add(record)
                    if relation in (Relation.VERSION_IN_RANGE, Relation.ALL_VERSIONS, Relation.PRODUCT_NAMED):
                        suppressed.add(record)
                    continue
                candidate = None
                if relation is not None:
                    candidate = Match(
                        asset=asset,
                        relation=relation,
                        field=lookup.field,
                        asset_value=" ".join(
                            p for p in (_asset_display(asset), asset.effective_version) if p
                        ),
                        indicator_value=lookup.display,
                        range=range_text,
                    )
                if relation is Relation.PRODUCT_NAMED:
                    assert candidate is not None
                    if _better(versionless.get(record), candidate):
                        versionless[record] = candidate
                elif candidate is None:
                    ranged.setdefault(record, None)
                elif _better(ranged.get(record), candidate):
                    ranged[record] = candidate
    decided = {**{r: m for r, m in versionless.items() if r not in ranged}, **ranged}
    if not decided:
        return []
    cves = indicator_cves(indicator)
    fix_by_remediation = _fix_in_remediations(indicator)
    out: list[Match] = []
    for record, found in decided.items():
        if found is None or record in suppressed:
            continue
        if cves and cves <= found.asset.not_affected:  # a VEX statement: not affected by any of its CVEs
            continue
        fix = fix_by_remediation or record in fixed_for
        out.append(found if not fix else _with_fix(found))
    return out


def _with_fix(found: Match) -> Match:
    return Match(
        found.asset,
        found.relation,
        found.field,
        found.asset_value,
        found.indicator_value,
        found.range,
        fix_available=True,
    )


def _no_match(indicator: Indicator, index: AssetIndex) -> list[Match]:
    return []  # file hashes: no asset kind holds hashes


_MATCHERS: dict[IndicatorType, Callable[[Indicator, AssetIndex], list[Match]]] = {
    IndicatorType.IPV4: _match_ip,
    IndicatorType.IPV6: _match_ip,
    IndicatorType.DOMAIN: _match_domain,
    IndicatorType.URL: _match_url,
    IndicatorType.EMAIL: _match_email,
    IndicatorType.ASN: _match_asn,
    IndicatorType.VULNERABILITY: _match_vulnerability,
    IndicatorType.MD5: _no_match,
    IndicatorType.SHA1: _no_match,
    IndicatorType.SHA256: _no_match,
    IndicatorType.SHA512: _no_match,
}


def match(indicator: Indicator, index: AssetIndex) -> list[Match]:
    """Every asset ``indicator`` hits, one match per asset."""
    return _MATCHERS[indicator.type](indicator, index)


# --- explaining and alerting -------------------------------------------------------------------------------


def _advisory(indicator: Indicator) -> str:
    """The CVE, with the advisory that reported it (a CSAF tracking id such as ICSMA-20-296-02)."""
    record = indicator.source.record
    if indicator.source.feed_kind == "csaf" and record and record.upper() != indicator.value.upper():
        return f"{indicator.value} ({record})"
    return indicator.value


_NOUN = {AssetKind.MEDICAL_DEVICE: "device", AssetKind.INFRASTRUCTURE: "equipment"}


def _version_word(asset: AssetRef) -> str:
    return "version" if asset.kind is AssetKind.SOFTWARE else "firmware"


def _owner_phrase(asset: AssetRef) -> str:
    noun = _NOUN.get(asset.kind, "software")
    phrase = f"your {noun} '{asset.name}'"
    return f"{phrase} (part of '{asset.parent_name}')" if asset.parent_name else phrase


def explain(indicator: Indicator, found: Match) -> str:
    """The plain-language reason: the asset, the field that matched and the range."""
    asset, value, name = found.asset, found.indicator_value, f"'{found.asset.name}'"
    relation = found.relation
    if relation is Relation.ADDRESS_IN_RANGE:
        subject = (
            value if indicator.type is not IndicatorType.URL else f"{value} (host {_url_host(indicator)})"
        )
        return f"{subject} is inside your range {found.range} {name}"
    if relation is Relation.RANGE_IN_RANGE:
        return f"the range {value} is inside your range {found.range} {name}"
    if relation is Relation.RANGE_COVERS:
        return f"the range {value} covers your range {found.range} {name}"
    if relation in (Relation.SAME_DOMAIN, Relation.SUBDOMAIN, Relation.HOSTNAME, Relation.EMAIL_DOMAIN):
        host = normalise_host(_url_host(indicator) or "") if indicator.type is IndicatorType.URL else None
        subject = f"{value} is hosted on {host}, which" if host else value
        if relation is Relation.SUBDOMAIN:
            return f"{subject} is a subdomain of your domain {found.range} {name}"
        if relation is Relation.SAME_DOMAIN:
            return f"{subject} is your domain {found.range} {name}"
        if relation is Relation.HOSTNAME:
            return f"{subject} is your host {found.asset_value} {name}"
        if indicator.type is IndicatorType.EMAIL:
            return f"{value} sends from your e-mail domain {found.asset_value} {name}"
        return f"{subject} is your e-mail domain {found.asset_value} {name}"
    if relation is Relation.ASN:
        return f"{value} is your autonomous system {found.asset_value} {name}"
    product = _asset_display(asset)
    version = asset.effective_version
    advisory = _advisory(indicator)
    owner = _owner_phrase(asset)
    fix = " A fix is available." if found.fix_available else ""
    if relation is Relation.VERSION_IN_RANGE:
        return (
            f"{product} {_version_word(asset)} {version} on {owner} is within the affected range "
            f"{found.range} of {advisory}.{fix}"
        )
    if relation is Relation.ALL_VERSIONS:
        return f"{product} on {owner} is affected in all versions by {advisory}.{fix}"
    if relation is Relation.PRODUCT_NAMED:
        return f"{product} on {owner} is named by {advisory}, which gives no affected versions.{fix}"
    return (
        f"{product} on {owner} is named by {advisory} for versions {found.range}; "
        f"its {_version_word(asset)} version is not recorded, so check it.{fix}"
    )


def _title(indicator: Indicator) -> str:
    vuln = indicator.vulnerability
    if indicator.name:
        return indicator.name
    if vuln is not None and vuln.title:
        return f"{indicator.value}: {vuln.title}"
    labels = f" ({', '.join(indicator.labels)})" if indicator.labels else ""
    return f"{indicator.type.value} {indicator.value}{labels}"


def build_alert(indicator: Indicator, found: Match, *, now: datetime) -> Alert:
    """The first revision of the alert for one match; ``lifecycle`` decides what is actually stored."""
    asset = found.asset
    version_known = found.relation not in (Relation.VERSION_UNKNOWN, Relation.PRODUCT_NAMED)
    scored = score(indicator, asset, version_known=version_known)
    vuln = indicator.vulnerability
    return Alert(
        id=alert_id(provider_id=asset.provider_id, indicator_key=indicator.key, asset_id=asset.id),
        revision=1,
        provider_id=asset.provider_id,
        indicator_key=indicator.key,
        indicator_type=indicator.type,
        asset_id=asset.id,
        title=_title(indicator),
        severity=scored.severity,
        score=scored.value,
        reason=explain(indicator, found),
        match=MatchDetail(
            asset_id=asset.id,
            asset_name=asset.name,
            asset_kind=asset.kind.value,
            field=found.field,
            asset_value=found.asset_value,
            indicator_value=found.indicator_value,
            range=found.range,
            asset_category=asset.category.value if asset.category is not None else None,
        ),
        tlp=indicator.tlp,
        labels=sorted(set(indicator.labels)),
        cves=sorted(indicator_cves(indicator)),
        known_exploited=bool(vuln and vuln.known_exploited),
        fix_available=found.fix_available,
        source_feeds=sorted(set(indicator.sources) or {indicator.source.feed_id}),
        seen_at_source=indicator.source.seen_at or indicator.first_seen,
        ingested_at=indicator.ingested_at,
        matched_at=now,
        created_at=now,
        updated_at=now,
    )
