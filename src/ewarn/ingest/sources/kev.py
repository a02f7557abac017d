"""The CISA Known Exploited Vulnerabilities catalogue: each newly added CVE → a known-exploited indicator.

Cursor: the CVE ids already taken and the latest ``dateAdded``; a re-poll with nothing new yields nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.exploited import kev_action
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import RECORD_ERRORS, FeedContext, ParseResult, describe, load_json, parse_timestamp
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec, Page, SourceContext
from ewarn.models.indicator import AffectedProduct, IndicatorType, VulnerabilityInfo


def parse_kev(payload: bytes, ctx: FeedContext, *, seen: frozenset[str] = frozenset()) -> ParseResult:
    """Every catalogue entry whose CVE is not in ``seen`` → a VULNERABILITY indicator."""
    result = ParseResult()
    try:
        document = load_json(payload)
        entries = document["vulnerabilities"] if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("not a KEV catalogue: no 'vulnerabilities' list")
    except (ValueError, KeyError) as exc:
        result.read = 1
        result.rejections.append(ctx.reject("payload", str(exc), payload))
        return result
    for index, entry in enumerate(entries):
        record = (
            entry.get("cveID") if isinstance(entry, dict) and isinstance(entry.get("cveID"), str) else None
        )
        if record is not None and record.strip().upper() in seen:
            continue
        result.read += 1
        try:
            result.indicators.append(_indicator(entry, ctx))
        except RECORD_ERRORS as exc:
            result.rejections.append(ctx.reject(record or f"vulnerabilities[{index}]", describe(exc), entry))
    return result


def _indicator(entry: Any, ctx: FeedContext) -> Any:
    if not isinstance(entry, dict):
        raise ValueError("entry is not an object")
    cve_id = normalise.cve(str(entry.get("cveID", "")))
    date_added = str(entry.get("dateAdded") or "")
    added_at = parse_timestamp(date_added + "T00:00:00Z") if date_added else None
    ransomware = str(entry.get("knownRansomwareCampaignUse", "")).lower() == "known"
    notes = str(entry.get("notes") or "")
    remediation = str(entry.get("requiredAction") or "").strip()
    if remediation and entry.get("dueDate"):
        remediation += f" (CISA due date {entry['dueDate']})"
    info = VulnerabilityInfo(
        cves=[cve_id],
        title=entry.get("vulnerabilityName"),
        known_exploited=True,
        known_ransomware_use=ransomware,
        kev_date_added=date_added or None,
        affected=[
            AffectedProduct(
                vendor=normalise.product_name(entry.get("vendorProject")),
                product=normalise.product_name(entry.get("product")),
            )
        ],
        remediations=[remediation] if remediation else [],
        references=[n.strip() for n in notes.split(" ; ") if n.strip().startswith("http")],
        actions=kev_action(cve_id, entry),
        kev_due_date=str(entry.get("dueDate") or "").strip() or None,
    )
    return ctx.indicator(
        Observable(IndicatorType.VULNERABILITY, cve_id),
        record=cve_id,
        name=entry.get("vulnerabilityName"),
        description=entry.get("shortDescription"),
        cves=[cve_id],
        vulnerability=info,
        labels=["ransomware", "exploit"] if ransomware else ["exploit"],
        valid_from=added_at,
        seen_at=added_at,
    )


@dataclass(frozen=True)
class KevSource:
    kind: str = "kev"

    def parse(self, payload: bytes, ctx: FeedContext) -> ParseResult:
        return parse_kev(payload, ctx)

    async def pages(self, feed: FeedSpec, ctx: SourceContext) -> AsyncIterator[Page]:
        fetched = await ctx.fetcher.get(
            feed.location, etag=feed.etag, last_modified=feed.last_modified, credentials=feed.credentials
        )
        if fetched.not_modified:
            yield Page()
            return
        seen = frozenset(feed.cursor.get("cves") or [])
        parsed = parse_kev(fetched.content, feed.context(), seen=seen)
        taken = seen | {i.value for i in parsed.indicators}
        dates = [i.vulnerability.kev_date_added for i in parsed.indicators if i.vulnerability]
        latest = max([d for d in dates if d] + [str(feed.cursor.get("max_date_added") or "")])
        cursor: dict[str, Any] = {
            "cves": sorted(taken),
            "max_date_added": latest or None,
            "sha256": hashlib.sha256(fetched.content).hexdigest(),
        }
        yield Page.of(parsed, cursor=cursor, etag=fetched.etag, last_modified=fetched.last_modified)


SOURCE = register(KevSource())
