"""Alerts from matches: ``build_alerts`` turns the matches of one indicator into the first revision of each alert.

No I/O here. Matching lives in ``matching``, the words of an alert in ``explain``; both are importable from here
as before. ``build_alerts`` works out once what an observable's alerts share (title, threat score, the block and
log-search steps, sources, first sighting): on an indicator that hits ten providers that was about a fifth of
the CPU of building each further alert (stage bench).

The alert and its parts are put together with ``models.alert_fast.trusted``, without validating again what
comes from validated models (the indicator, the asset) or is computed from them: validation was 35-40 µs of
the ~140 µs of building a domain match's alert (``bench/correlate_stage_bench.py``, best of seven rounds).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ewarn.actions import next_steps, references, remediations
from ewarn.actions.playbooks import PlaybookRule, playbook_for
from ewarn.correlate.explain import explain, title
from ewarn.correlate.index import AssetRef
from ewarn.correlate.matches import VERSION_NOT_COMPARED, Match, Relation
from ewarn.correlate.matching import match
from ewarn.correlate.score import Threat, score, threat_of
from ewarn.correlate.vulnerability import indicator_cves
from ewarn.ids import alert_id
from ewarn.models import Alert, Indicator, IndicatorType, MatchDetail
from ewarn.models.alert import AlertCve, AssetContact, ExploitationFlags, NextStep, Severity
from ewarn.models.alert_fast import replaced, trusted
from ewarn.models.indicator import Reference, Remediation
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

_VULNERABILITY = IndicatorType.VULNERABILITY


def is_active(indicator: Indicator, now: datetime) -> bool:
    """False once the source revoked the indicator or its validity ended: its alerts are then resolved."""
    return not indicator.revoked and (indicator.valid_until is None or indicator.valid_until > now)


# --- alerting ----------------------------------------------------------------------------------------------


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
                trusted(
                    AlertCve,
                    id=detail.id,
                    cvss_score=detail.cvss_score,
                    cvss_vector=detail.cvss_vector,
                    title=detail.title,
                    known_exploited=detail.known_exploited,
                )
            )
        else:  # a CVE 5 record or KEV entry: the indicator's own score is the CVE's
            out.append(
                trusted(
                    AlertCve,
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
    return trusted(
        AssetContact,
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
        return trusted(ExploitationFlags)
    return trusted(
        ExploitationFlags,
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
        first = next_steps.first_sighting(indicator)
        return cls(
            title=title(indicator),
            threat=threat_of(indicator),
            steps=next_steps.observable_steps(indicator, now=now, first=first),
            labels=sorted(set(indicator.labels)),
            source_feeds=sorted(set(indicator.sources) or {indicator.source.feed_id}),
            first_seen=first,
        )


@dataclass(frozen=True, slots=True)
class _Hit:
    """What every alert of one advisory shares that the same CVEs and products hit (all its assets of one
    product, in every hospital): the advisory's parts per alert were most of building such an alert."""

    indicator: Indicator  # as the asset meets it (``_as_it_hits``)
    cve_details: list[AlertCve]
    cves: list[str]
    exploitation: ExploitationFlags
    remediations: list[Remediation]
    references: list[Reference]
    threat: Threat

    @classmethod
    def of(cls, indicator: Indicator, found: Match) -> _Hit:
        cve_details = _alert_cves(indicator, found)
        indicator = _as_it_hits(indicator, cve_details)
        cves = [c.id for c in cve_details] if cve_details else sorted(indicator_cves(indicator))
        exploitation = _exploitation(indicator, cve_details)
        return cls(
            indicator=indicator,
            cve_details=cve_details,
            cves=cves,
            exploitation=exploitation,
            remediations=remediations.for_alert(indicator, product_ids=found.product_ids, cves=cves),
            references=references.for_alert(indicator, cves=cves, exploited=exploitation.known_exploited),
            threat=threat_of(indicator),
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
    if indicator.type is _VULNERABILITY:
        hits: dict[tuple[tuple[str, ...], tuple[str, ...]], _Hit] = {}
        return [build_alert(indicator, f, now=now, playbooks=playbooks, _hits=hits) for f in found]
    shared = _Observable.of(indicator, now)
    return [build_alert(indicator, f, now=now, playbooks=playbooks, _shared=shared) for f in found]


def build_alert(
    indicator: Indicator,
    found: Match,
    *,
    now: datetime,
    playbooks: Sequence[PlaybookRule] = (),
    _shared: _Observable | None = None,
    _hits: dict[tuple[tuple[str, ...], tuple[str, ...]], _Hit] | None = None,
) -> Alert:
    """The first revision of the alert for one match; ``lifecycle`` decides what is actually stored.

    It carries what to do: the source's remediations for the products and CVEs that hit, next steps, the
    advisory and CVE links, the asset's owner and location, and the operator's playbook (``playbooks``).
    """
    vulnerability = indicator.type is _VULNERABILITY
    if _shared is None and not vulnerability:
        _shared = _Observable.of(indicator, now)
    asset = found.asset
    sighting = SIGHTING_FEED in indicator.sources
    hit: _Hit | None = None
    if vulnerability:
        key = (found.cves, found.product_ids)
        hit = _hits.get(key) if _hits is not None else None
        if hit is None:
            hit = _Hit.of(indicator, found)
            if _hits is not None:
                _hits[key] = hit
        indicator = hit.indicator
        threat: Threat | None = hit.threat
        # each alert its own lists and flags (the parts in them are never changed in place)
        cve_details, cves = list(hit.cve_details), list(hit.cves)
        exploitation = replaced(hit.exploitation, exploited_cves=list(hit.exploitation.exploited_cves))
        refs = list(hit.references)
    else:
        threat = _shared.threat if _shared is not None else None
        cve_details, cves = [], sorted(indicator_cves(indicator))
        exploitation = _exploitation(indicator, cve_details)
        refs = references.for_alert(indicator, cves=cves, exploited=exploitation.known_exploited)
    vuln = indicator.vulnerability
    known = found.relation not in VERSION_NOT_COMPARED and not found.name_uncertain
    scored = score(indicator, asset, version_known=known, threat=threat)
    if hit is not None:
        to_do = list(hit.remediations)
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
    shared_title = _shared.title if _shared is not None else title(indicator)
    return trusted(
        Alert,
        id=alert_id(provider_id=asset.provider_id, indicator_key=indicator.key, asset_id=asset.id),
        revision=1,
        provider_id=asset.provider_id,
        indicator_key=indicator.key,
        indicator_type=indicator.type,
        asset_id=asset.id,
        # a sighting relayed from another hospital inside this provider's range: it may be compromised
        title=sighted_in_range(indicator.value) if sighting else shared_title,
        severity=max(scored.severity, Severity.HIGH, key=lambda s: s.rank) if sighting else scored.severity,
        score=scored.value,
        reason=explain(indicator, found),
        match=trusted(
            MatchDetail,
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
        labels=list(_shared.labels) if _shared is not None else sorted(set(indicator.labels)),
        cves=cves,
        known_exploited=bool(vuln and vuln.known_exploited),
        fix_available=found.fix_available,
        possibly_affected=found.possibly_affected,
        cve_details=cve_details,
        advisory=indicator.source.record if vulnerability else None,
        remediations=to_do,
        next_steps=steps,
        advisory_url=vuln.advisory_url if vuln is not None else None,
        references=refs,
        asset_contact=_contact(asset),
        exploitation=exploitation,
        indicator_first_seen=_shared.first_seen
        if _shared is not None
        else next_steps.first_sighting(indicator),
        indicator_last_seen=indicator.last_seen,
        playbook=playbook_for(playbooks, indicator.type, scored.severity),
        source_feeds=list(_shared.source_feeds)
        if _shared is not None
        else sorted(set(indicator.sources) or {indicator.source.feed_id}),
        seen_at_source=indicator.source.seen_at or indicator.first_seen,
        ingested_at=indicator.ingested_at,
        matched_at=now,
        created_at=now,
        updated_at=now,
    )
