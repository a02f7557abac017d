"""The pure core of correlation: which assets an indicator hits, why, and the alert that says so.

No I/O here: ``match`` reads the in-memory index, ``build_alert`` turns one match into an ``Alert``.

``build_alerts`` builds the alerts of all the matches of one indicator and works out once what an observable's
alerts share (title, threat score, the block and log-search steps, sources, first sighting): on an indicator
that hits ten providers that was about a fifth of the CPU of building each further alert (stage bench).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

from ewarn.actions import next_steps, references, remediations
from ewarn.actions.playbooks import PlaybookRule, playbook_for
from ewarn.correlate.addresses import Network, normalise_host, parse_address, parse_asn, parse_network
from ewarn.correlate.index import AssetIndex, AssetRef, Entry, records
from ewarn.correlate.matches import VERSION_NOT_COMPARED, Match, Relation
from ewarn.correlate.score import Threat, score, threat_of
from ewarn.correlate.vulnerability import asset_display, indicator_cves, match_vulnerability
from ewarn.ids import alert_id
from ewarn.models import Alert, AssetKind, Indicator, IndicatorType, MatchDetail
from ewarn.models.alert import AlertCve, AssetContact, ExploitationFlags, NextStep, Severity
from ewarn.models.sighting import SIGHTING_FEED, sighted_in_range

__all__ = [
    "Match",
    "Relation",
    "build_alert",
    "build_alerts",
    "explain",
    "indicator_cves",
    "is_active",
    "match",
]

D = TypeVar("D")


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


# --- explaining and alerting -------------------------------------------------------------------------------


def _advisory(indicator: Indicator, cves: tuple[str, ...] = ()) -> str:
    """The advisory and the CVEs of it that hit: ``ICSMA-20-296-02 (CVE-2020-25150, …)`` or the CVE itself."""
    named = [c for c in cves if c.upper() != indicator.value.upper()]
    return f"{indicator.value} ({', '.join(named)})" if named else indicator.value


_NOUN = {AssetKind.MEDICAL_DEVICE: "device", AssetKind.INFRASTRUCTURE: "equipment"}


def _version_word(asset: AssetRef) -> str:
    return "version" if asset.kind is AssetKind.SOFTWARE else "firmware"


def _owner_phrase(asset: AssetRef) -> str:
    noun = _NOUN.get(asset.kind, "software")
    phrase = f"your {noun} '{asset.name}'"
    return f"{phrase} (part of '{asset.parent_name}')" if asset.parent_name else phrase


def _explain_product(indicator: Indicator, found: Match) -> str:
    asset, relation = found.asset, found.relation
    product, version, owner = asset_display(asset), asset.effective_version, _owner_phrase(asset)
    advisory = _advisory(indicator, found.cves)
    tail = (f" Note: {found.note}." if found.note else "") + (
        " A fix is available." if found.fix_available else ""
    )
    if relation is Relation.VERSION_IN_RANGE:
        return (
            f"{product} {_version_word(asset)} {version} on {owner} is within the affected range "
            f"{found.range} of {advisory}.{tail}"
        )
    if relation is Relation.ALL_VERSIONS:
        return f"{product} on {owner} is affected in all versions by {advisory}.{tail}"
    if relation is Relation.PRODUCT_NAMED:
        return f"{product} on {owner} is named by {advisory}, which gives no affected versions.{tail}"
    if relation is Relation.VERSION_NOT_COMPARABLE:
        return (
            f"Possibly affected — version could not be compared: {product} {_version_word(asset)} {version} "
            f"on {owner} is named by {advisory}, and the advisory says {found.quote}. Check it.{tail}"
        )
    if relation is Relation.STATUS_NOT_STATED:
        said = f" for versions {found.range}" if found.range and found.range != "all versions" else ""
        return (
            f"Possibly affected — listed in the advisory, status not stated: {product} on {owner} is listed "
            f"in {advisory}{said} without saying whether it is affected. Check it.{tail}"
        )
    return (
        f"Possibly affected — version not recorded: {product} on {owner} is named by {advisory} for "
        f"versions {found.range}; its {_version_word(asset)} version is not recorded, so check it.{tail}"
    )


def explain(indicator: Indicator, found: Match) -> str:
    """The plain-language reason: the asset, the field that matched and the range."""
    value, name = found.indicator_value, f"'{found.asset.name}'"
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
    return _explain_product(indicator, found)


def _title(indicator: Indicator) -> str:
    vuln = indicator.vulnerability
    if indicator.name:
        return indicator.name
    if vuln is not None and vuln.title:
        return f"{indicator.value}: {vuln.title}"
    labels = f" ({', '.join(indicator.labels)})" if indicator.labels else ""
    return f"{indicator.type.value} {indicator.value}{labels}"


def _alert_cves(indicator: Indicator, found: Match) -> list[AlertCve]:
    """The CVEs that hit the asset with their own scores, worst first."""
    vuln = indicator.vulnerability
    if vuln is None:
        return []
    details = {d.id.upper(): d for d in vuln.cve_details}
    out: list[AlertCve] = []
    for cve in found.cves or sorted(indicator_cves(indicator)):
        detail = details.get(cve.upper())
        if detail is not None:
            out.append(
                AlertCve(
                    id=detail.id,
                    cvss_score=detail.cvss_score,
                    cvss_vector=detail.cvss_vector,
                    title=detail.title,
                    known_exploited=detail.known_exploited,
                )
            )
        else:  # a CVE 5 record or KEV entry: the indicator's own score is the CVE's
            out.append(
                AlertCve(
                    id=cve,
                    cvss_score=vuln.cvss_score,
                    cvss_vector=vuln.cvss_vector,
                    title=vuln.title,
                    known_exploited=vuln.known_exploited,
                )
            )
    return sorted(out, key=lambda c: (-(c.cvss_score if c.cvss_score is not None else -1.0), c.id))


_KEV_LABELS = frozenset({"exploit", "ransomware"})


def _as_it_hits(indicator: Indicator, cves: list[AlertCve]) -> Indicator:
    """The indicator as the asset meets it: the score of the worst CVE that hits (not the advisory's worst
    overall), and KEV flags only when a CVE that hits is known exploited (an advisory's other CVE in KEV says
    nothing about this asset)."""
    vuln = indicator.vulnerability
    worst = cves[0] if cves else None
    if vuln is None or worst is None:
        return indicator
    update: dict[str, object] = {"cvss_score": worst.cvss_score, "cvss_vector": worst.cvss_vector}
    labels = indicator.labels
    details = {d.id.upper(): d for d in vuln.cve_details}
    if vuln.known_exploited and all(c.id.upper() in details for c in cves):
        hit = [details[c.id.upper()] for c in cves]
        exploited = any(d.known_exploited for d in hit)
        ransomware = any(d.known_ransomware_use for d in hit) or (exploited and vuln.known_ransomware_use)
        update |= {"known_exploited": exploited, "known_ransomware_use": ransomware}
        kept = [label for label in labels if label not in _KEV_LABELS]
        labels = kept + ["exploit"] * exploited + ["ransomware"] * ransomware
    if (
        update == {"cvss_score": vuln.cvss_score, "cvss_vector": vuln.cvss_vector}
        and labels == indicator.labels
    ):
        return indicator
    return indicator.model_copy(update={"vulnerability": vuln.model_copy(update=update), "labels": labels})


def _contact(asset: AssetRef) -> AssetContact:
    return AssetContact(
        name=asset.name,
        kind=asset.kind.value,
        location=asset.location,
        owner=asset.owner,
        part_of=asset.parent_name,
        supports=asset.supports,
    )


def _exploitation(indicator: Indicator, cve_details: list[AlertCve]) -> ExploitationFlags:
    vuln = indicator.vulnerability
    if vuln is None or not vuln.known_exploited:
        return ExploitationFlags()
    return ExploitationFlags(
        known_exploited=True,
        known_ransomware_use=vuln.known_ransomware_use,
        exploited_cves=[c.id for c in cve_details if c.known_exploited],
        kev_date_added=vuln.kev_date_added,
        kev_due_date=vuln.kev_due_date,
    )


@dataclass(frozen=True, slots=True)
class _Observable:
    """What every alert of one observable (not a vulnerability) shares."""

    title: str
    threat: Threat
    steps: list[NextStep]
    labels: list[str]
    source_feeds: list[str]
    first_seen: datetime | None

    @classmethod
    def of(cls, indicator: Indicator, now: datetime) -> _Observable:
        return cls(
            title=_title(indicator),
            threat=threat_of(indicator),
            steps=next_steps.observable_steps(indicator, now=now),
            labels=sorted(set(indicator.labels)),
            source_feeds=sorted(set(indicator.sources) or {indicator.source.feed_id}),
            first_seen=next_steps.first_sighting(indicator),
        )


def build_alerts(
    indicator: Indicator,
    matches: Iterable[Match],
    *,
    now: datetime,
    playbooks: Sequence[PlaybookRule] = (),
) -> list[Alert]:
    """``build_alert`` for every match of one indicator, with what they share worked out once."""
    found = list(matches)
    if not found:
        return []
    shared = _Observable.of(indicator, now) if indicator.type is not IndicatorType.VULNERABILITY else None
    return [build_alert(indicator, f, now=now, playbooks=playbooks, _shared=shared) for f in found]


def build_alert(
    indicator: Indicator,
    found: Match,
    *,
    now: datetime,
    playbooks: Sequence[PlaybookRule] = (),
    _shared: _Observable | None = None,
) -> Alert:
    """The first revision of the alert for one match; ``lifecycle`` decides what is actually stored.

    It carries what to do: the source's remediations for the products and CVEs that hit, next steps, the
    advisory and CVE links, the asset's owner and location, and the operator's playbook (``playbooks``).
    """
    if _shared is None and indicator.type is not IndicatorType.VULNERABILITY:
        _shared = _Observable.of(indicator, now)
    asset = found.asset
    cve_details = _alert_cves(indicator, found) if indicator.type is IndicatorType.VULNERABILITY else []
    indicator = _as_it_hits(indicator, cve_details)
    vuln = indicator.vulnerability
    scored = score(
        indicator,
        asset,
        version_known=found.relation not in VERSION_NOT_COMPARED,
        threat=_shared.threat if _shared is not None else None,
    )
    cves = [c.id for c in cve_details] if cve_details else sorted(indicator_cves(indicator))
    exploitation = _exploitation(indicator, cve_details)
    if indicator.type is IndicatorType.VULNERABILITY:
        to_do = remediations.for_alert(indicator, product_ids=found.product_ids, cves=cves)
        steps = next_steps.for_vulnerability(
            asset_name=asset.name,
            remediations=to_do,
            possibly_affected=found.possibly_affected,
            exploited=exploitation.known_exploited,
        )
    else:
        to_do = []
        steps = next_steps.for_observable(
            indicator,
            relation=found.relation.value,
            asset_name=asset.name,
            now=now,
            shared=_shared.steps if _shared is not None else None,
        )
    return Alert(
        id=alert_id(provider_id=asset.provider_id, indicator_key=indicator.key, asset_id=asset.id),
        revision=1,
        provider_id=asset.provider_id,
        indicator_key=indicator.key,
        indicator_type=indicator.type,
        asset_id=asset.id,
        # a sighting relayed from another hospital inside this provider's range: it may be compromised
        title=sighted_in_range(indicator.value)
        if SIGHTING_FEED in indicator.sources
        else (_shared.title if _shared is not None else _title(indicator)),
        severity=scored.severity
        if SIGHTING_FEED not in indicator.sources
        else max(scored.severity, Severity.HIGH, key=lambda s: s.rank),
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
        labels=_shared.labels if _shared is not None else sorted(set(indicator.labels)),
        cves=cves,
        known_exploited=bool(vuln and vuln.known_exploited),
        fix_available=found.fix_available,
        possibly_affected=found.possibly_affected,
        cve_details=cve_details,
        advisory=indicator.source.record if indicator.type is IndicatorType.VULNERABILITY else None,
        remediations=to_do,
        next_steps=steps,
        advisory_url=vuln.advisory_url if vuln is not None else None,
        references=references.for_alert(indicator, cves=cves, exploited=exploitation.known_exploited),
        asset_contact=_contact(asset),
        exploitation=exploitation,
        indicator_first_seen=_shared.first_seen
        if _shared is not None
        else next_steps.first_sighting(indicator),
        indicator_last_seen=indicator.last_seen,
        playbook=playbook_for(playbooks, indicator.type, scored.severity),
        source_feeds=_shared.source_feeds
        if _shared is not None
        else sorted(set(indicator.sources) or {indicator.source.feed_id}),
        seen_at_source=indicator.source.seen_at or indicator.first_seen,
        ingested_at=indicator.ingested_at,
        matched_at=now,
        created_at=now,
        updated_at=now,
    )
