"""The relay alert: what another hospital reads about a sighting ("seen attacking another hospital in DE 4
minutes ago"). It names the reporter only when the reporter opted in (``share_identity``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ewarn.ids import alert_id
from ewarn.models import Alert, IndicatorType, MatchDetail
from ewarn.models.provider import Provider
from ewarn.models.sighting import FEED_REPORTER, RELAY_ASSET_ID, SIGHTING_FEED, SightingKind
from ewarn.sightings.corroboration import SCORES, Entry

_VERB = {
    SightingKind.SCAN: "seen scanning",
    SightingKind.BLOCKED: "seen attacking",
    SightingKind.COMPROMISED: "seen compromising",
}


def ago(delta: timedelta) -> str:
    """``4 minutes ago``, ``2 hours ago``; ``just now`` under a minute."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _reporter(entry: Entry, providers: dict[str, Provider]) -> str:
    """Who reported the newest sighting, as the recipients may read it."""
    newest = entry.newest
    if newest.provider_id.startswith(FEED_REPORTER):
        return "a hospital (reported by a threat feed)"
    reporter = providers.get(newest.provider_id)
    country = f" in {reporter.country}" if reporter is not None else ""
    if newest.share_identity and reporter is not None:
        return f"{reporter.name}{country}"
    return f"another hospital{country}"


def relay_title(entry: Entry, providers: dict[str, Provider], *, now: datetime) -> str:
    """``185.220.101.4 seen attacking another hospital in DE 4 minutes ago`` (and how many hospitals)."""
    newest = entry.newest
    when = ago(now - newest.last_seen)  # a last_seen slightly ahead (clock skew) reads 'just now'
    title = f"{entry.value} {_VERB[newest.kind]} {_reporter(entry, providers)} {when}"
    if len(entry.providers) > 1:
        title += f" ({len(entry.providers)} hospitals reported it)"
    return title


def relay_reason(entry: Entry) -> str:
    kinds = ", ".join(sorted(k.value for k in entry.kinds))
    confirmed = ", confirmed by a CSIRT" if entry.confirmed else ""
    return (
        f"{entry.value} was reported by {len(entry.providers)} provider(s) of the sector ({kinds}){confirmed}. "
        f"Severity {entry.severity.value} by the corroboration rule. It is on your firewall blocklists "
        f"(/api/v1/blocklists/…): block it at your perimeter and search your logs for it."
    )


def relay_alert(entry: Entry, recipient: str, providers: dict[str, Provider], *, now: datetime) -> Alert:
    """The relay alert for one recipient (a provider that did not report the observable itself)."""
    countries = sorted({providers[p].country for p in entry.providers if p in providers})
    return Alert(
        id=alert_id(provider_id=recipient, indicator_key=entry.indicator_key, asset_id=RELAY_ASSET_ID),
        revision=1,
        provider_id=recipient,
        indicator_key=entry.indicator_key,
        indicator_type=IndicatorType(entry.indicator_type),
        asset_id=RELAY_ASSET_ID,
        title=relay_title(entry, providers, now=now),
        severity=entry.severity,
        score=SCORES[entry.severity],
        reason=relay_reason(entry),
        match=MatchDetail(
            asset_id=RELAY_ASSET_ID,
            asset_name="sector sighting relay",
            asset_kind="sighting",
            field="sighting",
            asset_value=",".join(countries) or "sector",
            indicator_value=entry.value,
        ),
        tlp=entry.tlp,
        labels=sorted({"sighting", *(k.value for k in entry.kinds)}),
        source_feeds=[SIGHTING_FEED],
        seen_at_source=entry.last_seen,
        ingested_at=entry.last_received,
        matched_at=now,
        created_at=now,
        updated_at=now,
    )
