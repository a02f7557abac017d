"""Merging reports of the same indicator key from several feeds (pure: no I/O).

Reports of one CVE (CVE 5 record, KEV entry) are united: each adds what it knows. A CSAF advisory is a
document with revisions: the newest revision replaces what an older one said (products, CVEs, scores) and
its sources are exactly the feeds that delivered that revision — never a union across documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from ewarn.ingest.normalise import LABELS
from ewarn.models.indicator import AffectedProduct, Indicator, VulnerabilityInfo

T = TypeVar("T")

# Fields that change with every report or reporter; a merge that only moves these is not news for the
# correlator (several feeds describe one address differently).
_VOLATILE = {"last_seen", "ingested_at", "source", "name", "description", "stix_id"}


def _union(first: Iterable[T], second: Iterable[T]) -> list[T]:
    out: list[T] = []
    for item in (*first, *second):
        if item not in out:
            out.append(item)
    return out


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a is not None and b is not None else a or b


def _merge_vulnerability(
    old: VulnerabilityInfo | None, new: VulnerabilityInfo | None
) -> VulnerabilityInfo | None:
    if old is None or new is None:
        return new or old
    stronger_cvss = new if (new.cvss_score or -1) >= (old.cvss_score or -1) and new.cvss_score else old
    affected: list[AffectedProduct] = _union(old.affected, new.affected)
    return VulnerabilityInfo(
        cves=sorted(set(old.cves) | set(new.cves)),
        title=new.title or old.title,
        cvss_score=stronger_cvss.cvss_score,
        cvss_vector=stronger_cvss.cvss_vector,
        known_exploited=old.known_exploited or new.known_exploited,
        known_ransomware_use=old.known_ransomware_use or new.known_ransomware_use,
        kev_date_added=old.kev_date_added or new.kev_date_added,
        affected=affected,
        remediations=_union(old.remediations, new.remediations),
        references=_union(old.references, new.references),
        actions=_union(old.actions, new.actions),
        advisory_url=old.advisory_url or new.advisory_url,
        links=_union(old.links, new.links),
        kev_due_date=old.kev_due_date or new.kev_due_date,
    )


def _valid_until(old: Indicator, new: Indicator, same_feed: bool) -> datetime | None:
    if same_feed:  # a feed may shorten or lift its own expiry
        return new.valid_until
    if old.valid_until is None or new.valid_until is None:
        return None  # another feed still reports it without expiry
    return max(old.valid_until, new.valid_until)


def merge(old: Indicator | None, new: Indicator, *, now: datetime) -> Indicator:
    """Merge a new report into what is stored: provenance, first/last seen, the strongest fields.

    TLP takes the most restrictive level; confidence the highest; labels, CVEs and sources are united;
    an indicator counts as revoked only when every feed that reported it has revoked it.
    """
    if old is None:
        return new.model_copy(
            update={
                "sources": _union([], [*new.sources, new.source.feed_id]),
                "first_seen": new.first_seen or now,
                "last_seen": now,
                "ingested_at": now,
            }
        )
    if _is_advisory(new):
        return _merge_advisory(old, new, now=now)
    same_feed = set(old.sources) <= {new.source.feed_id}
    found_labels = set(old.labels) | set(new.labels)
    confidences = [c for c in (old.confidence, new.confidence) if c is not None]
    return new.model_copy(
        update={
            "url_host": new.url_host or old.url_host,
            "name": new.name or old.name,
            "description": new.description or old.description,
            "stix_id": new.stix_id or old.stix_id,
            "confidence": max(confidences) if confidences else None,
            "tlp": max(old.tlp, new.tlp, key=lambda level: level.rank),
            "valid_from": _earliest(old.valid_from, new.valid_from),
            "valid_until": _valid_until(old, new, same_feed),
            "revoked": new.revoked and (same_feed or old.revoked),
            "labels": [name for name in LABELS if name in found_labels] + sorted(found_labels - set(LABELS)),
            "cves": sorted(set(old.cves) | set(new.cves)),
            "vulnerability": _merge_vulnerability(old.vulnerability, new.vulnerability),
            "sources": _union(old.sources, [new.source.feed_id]),
            "first_seen": _earliest(old.first_seen, new.first_seen) or now,
            "last_seen": now,
            "ingested_at": now,
        }
    )


def _is_advisory(indicator: Indicator) -> bool:
    return indicator.source.feed_kind == "csaf"


def _merge_advisory(old: Indicator, new: Indicator, *, now: datetime) -> Indicator:
    """One revision of an advisory document: the newest wins whole; one revision's feeds are its sources."""
    old_at, new_at = old.source.seen_at, new.source.seen_at
    if old_at is not None and new_at is not None and new_at < old_at:  # a stale copy (a lagging mirror)
        return old.model_copy(update={"last_seen": now})
    same_revision = old_at == new_at and old.source.record == new.source.record
    return new.model_copy(
        update={
            "sources": _union(old.sources, [new.source.feed_id]) if same_revision else [new.source.feed_id],
            "first_seen": _earliest(old.first_seen, new.first_seen) or now,
            "valid_from": _earliest(old.valid_from, new.valid_from),
            "last_seen": now,
            "ingested_at": now,
        }
    )


# Compared field by field: two model_dump calls cost 29 µs per re-reported indicator (bench shape), about a
# tenth of what the push edge spends on it; field equality gives the same answer without building dicts.
_COMPARED = tuple(name for name in Indicator.model_fields if name not in _VOLATILE)


def is_news(old: Indicator | None, merged: Indicator) -> bool:
    """Whether the merge changed anything a correlator acts on (not just last_seen)."""
    if old is None:
        return True
    return any(getattr(old, name) != getattr(merged, name) for name in _COMPARED)


def merge_all(
    stored: dict[str, Indicator], incoming: Sequence[Indicator], *, now: datetime
) -> dict[str, Indicator]:
    """Merge a page into the stored indicators: every merged key (reports of one key in page order)."""
    merged: dict[str, Indicator] = {}
    for indicator in incoming:
        base = merged.get(indicator.key) or stored.get(indicator.key)
        merged[indicator.key] = merge(base, indicator, now=now)
    return merged


def merge_batch(
    stored: dict[str, Indicator], incoming: Sequence[Indicator], *, now: datetime
) -> tuple[dict[str, Indicator], list[Indicator]]:
    """Merge a page into the stored indicators; returns (every merged key, the ones that are news)."""
    merged = merge_all(stored, incoming, now=now)
    news = [item for key, item in merged.items() if is_news(stored.get(key), item)]
    return merged, news
