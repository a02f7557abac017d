"""MISP feeds (``manifest.json`` + one file per event, incremental via ``hashes.csv``) and MISP event exports.

Attributes and object attributes become indicators; only ``to_ids`` ones unless the feed config says
``to_ids_only: false`` — the others are counted as skipped with their reason, never dropped silently. TLP comes from ``tlp:*`` tags (event and attribute, the strictest wins) and MISP
distribution sets a floor: "your organisation only" → AMBER+STRICT, "this community only" or a sharing
group → AMBER. Cursor: per event, the manifest timestamp and a digest of its ``hashes.csv`` lines.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.fetch import FetchError, is_http, join_url
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import (
    RECORD_ERRORS,
    FeedContext,
    ParseResult,
    as_dict,
    as_list,
    decode_text,
    describe,
    load_json,
)
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec, Page, SourceContext
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType

_DISTRIBUTION_FLOOR = {"0": TLP.AMBER_STRICT, "1": TLP.AMBER, "4": TLP.AMBER}
SKIPPED_CONTEXT = "context attribute (to_ids false)"
SKIPPED_DELETED = "deleted attribute"


def _hash(declared: str) -> Callable[[str], list[Observable]]:
    return lambda value: [normalise.file_hash(value, declared)]


def _part(index: int, parse: Callable[[str], Observable]) -> Callable[[str], list[Observable]]:
    def pick(value: str) -> list[Observable]:
        parts = value.split("|")
        if len(parts) != 2:
            raise ValueError(f"composite value needs exactly one '|': {value[:80]!r}")
        return [parse(parts[index])]

    return pick


def _hashed_part(declared: str) -> Callable[[str], list[Observable]]:
    def parse(value: str) -> Observable:
        return normalise.file_hash(value, declared)

    return _part(1, parse)


def _domain_ip(value: str) -> list[Observable]:
    domain, sep, address = value.partition("|")
    if not sep:
        raise ValueError(f"domain|ip value needs a '|': {value[:80]!r}")
    return [normalise.domain_observable(domain), normalise.ip(address)]


def _one(parse: Callable[[str], Observable]) -> Callable[[str], list[Observable]]:
    return lambda value: [parse(value)]


_TYPES: dict[str, Callable[[str], list[Observable]]] = {
    "ip-src": _one(normalise.ip),
    "ip-dst": _one(normalise.ip),
    "ip-src|port": _part(0, normalise.ip),
    "ip-dst|port": _part(0, normalise.ip),
    "domain": _one(normalise.domain_observable),
    "hostname": _one(normalise.domain_observable),
    "hostname|port": _part(0, normalise.domain_observable),
    "domain|ip": _domain_ip,
    "url": _one(normalise.url),
    "email": _one(normalise.email),
    "email-src": _one(normalise.email),
    "email-dst": _one(normalise.email),
    "AS": _one(normalise.asn),
    "vulnerability": _one(lambda v: Observable(IndicatorType.VULNERABILITY, normalise.cve(v))),
    **{name: _hash(name) for name in ("md5", "sha1", "sha256", "sha512")},
    **{f"filename|{name}": _hashed_part(name) for name in ("md5", "sha1", "sha256", "sha512")},
    **{f"x509-fingerprint-{name}": _hash(name) for name in ("md5", "sha1", "sha256")},
}


def _events_of(document: Any) -> list[Any]:
    if isinstance(document, dict) and "response" in document:
        document = document["response"]
    items = document if isinstance(document, list) else [document]
    return [item.get("Event", item) if isinstance(item, dict) else item for item in items]


def parse_misp(payload: bytes | Any, ctx: FeedContext, *, to_ids_only: bool = True) -> ParseResult:
    """A MISP event export (``{"Event": …}``, ``{"response": [...]}`` or a list) → indicators."""
    result = ParseResult()
    try:
        document = load_json(payload) if isinstance(payload, bytes | str) else payload
    except ValueError as exc:
        result.read = 1
        result.rejections.append(ctx.reject("payload", str(exc), payload))
        return result
    for index, event in enumerate(_events_of(document)):
        if not isinstance(event, dict) or not isinstance(event.get("Attribute", []), list):
            result.read += 1
            result.rejections.append(ctx.reject(f"events[{index}]", "not a MISP event", event))
            continue
        result.extend(_parse_event(event, ctx, to_ids_only))
    return result


def _tag_names(holder: dict[str, Any]) -> list[str]:
    return [str(t.get("name")) for t in as_list(holder.get("Tag")) if isinstance(t, dict) and t.get("name")]


def _tlp(tags: list[str], distribution: Any, default: TLP) -> TLP:
    floor = _DISTRIBUTION_FLOOR.get(str(distribution))
    return normalise.strongest_tlp([normalise.tlp_from_tags(tags, default), floor], default)


def _parse_event(event: dict[str, Any], ctx: FeedContext, to_ids_only: bool) -> ParseResult:
    result = ParseResult()
    event_tags = _tag_names(event)
    event_tlp = _tlp(event_tags, event.get("distribution"), ctx.default_tlp)
    attributes = list(as_list(event.get("Attribute")))
    for obj in as_list(event.get("Object")):
        attributes.extend(a for a in as_list(as_dict(obj).get("Attribute")) if isinstance(a, dict))
    info = event.get("info") if isinstance(event.get("info"), str) else None
    event_name = str(event.get("uuid") or info or "(no uuid)")[:80]
    for index, attribute in enumerate(attributes):
        if not isinstance(attribute, dict):
            result.read += 1
            result.rejections.append(
                ctx.reject(f"Attribute[{index}]", "attribute is not an object", attribute)
            )
            continue
        if attribute.get("deleted"):
            result.skip(SKIPPED_DELETED)
            continue
        if to_ids_only and not _flag(attribute.get("to_ids")):
            result.skip(SKIPPED_CONTEXT)
            continue
        result.read += 1
        record = str(attribute.get("uuid") or f"{event.get('uuid', 'event')} Attribute[{index}]")
        kind, value = attribute.get("type"), attribute.get("value")
        parse = _TYPES.get(str(kind))
        if parse is None or not isinstance(value, str) or not value.strip():
            reason = (
                f"MISP attribute type {str(kind)[:40]!r} (event {event_name}) is not an indicator ewarn matches on"
                if parse is None
                else f"MISP {str(kind)[:40]} attribute (event {event_name}) has no value"
            )
            result.rejections.append(ctx.reject(record, reason, attribute))
            continue
        tags = event_tags + _tag_names(attribute)
        distribution = attribute.get("distribution")
        tlp = event_tlp if str(distribution) == "5" else _tlp(tags, distribution, event_tlp)
        try:
            observables = parse(value)
        except RECORD_ERRORS as exc:
            result.rejections.append(
                ctx.reject(
                    record, f"MISP {str(kind)[:40]} value (event {event_name}): {describe(exc)}", value
                )
            )
            continue
        seen_at = _epoch(attribute.get("timestamp"))
        for observable in observables:
            result.indicators.append(
                ctx.indicator(
                    observable,
                    record=record,
                    name=info,
                    description=(attribute.get("comment") or None),
                    tlp=normalise.strongest_tlp([tlp, event_tlp], ctx.default_tlp),
                    labels=normalise.labels([*tags, str(attribute.get("category", ""))]),
                    cves=[observable.value] if observable.type is IndicatorType.VULNERABILITY else [],
                    seen_at=seen_at,
                )
            )
    return result


def _flag(value: Any) -> bool:
    """MISP booleans arrive as true/false, 1/0 or "1"/"0" depending on the exporter."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _hash_digests(text: str) -> dict[str, str]:
    """``hashes.csv`` (event uuid, value hash per line) → a digest of each event's set of lines."""
    lines: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        uuid, sep, value_hash = line.strip().partition(",")
        if sep:
            lines[uuid].append(value_hash)
    return {uuid: hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest() for uuid, v in lines.items()}


def _base(location: str) -> str:
    if location.endswith("manifest.json"):
        return location[: -len("manifest.json")]
    return location if location.endswith("/") or not is_http(location) else location + "/"


@dataclass(frozen=True)
class MispSource:
    kind: str = "misp"

    def parse(self, payload: bytes, ctx: FeedContext) -> ParseResult:
        return parse_misp(payload, ctx)

    async def pages(self, feed: FeedSpec, ctx: SourceContext) -> AsyncIterator[Page]:
        to_ids_only = bool(feed.config.get("to_ids_only", True))
        if feed.location.endswith(".json") and not feed.location.endswith("manifest.json"):
            yield await self._single_event(feed, ctx, to_ids_only)
            return
        base = _base(feed.location)
        manifest = await ctx.fetcher.get(
            join_url(base, "manifest.json"),
            etag=feed.etag,
            last_modified=feed.last_modified,
            credentials=feed.credentials,
        )
        if manifest.not_modified:
            yield Page()
            return
        events = load_json(manifest.content)
        if not isinstance(events, dict):
            raise FetchError(manifest.location, "manifest.json is not an object of events")
        digests = await self._digests(base, feed, ctx)
        done: dict[str, Any] = dict(feed.cursor.get("events") or {})
        failed = False
        for uuid, meta in sorted(events.items(), key=lambda item: str(_meta(item[1]).get("timestamp", ""))):
            state = {"timestamp": str(_meta(meta).get("timestamp", "")), "hashes": digests.get(uuid)}
            if done.get(uuid) == state:
                continue
            try:
                fetched = await ctx.fetcher.get(join_url(base, f"{uuid}.json"), credentials=feed.credentials)
            except FetchError as exc:
                failed = True  # retried next poll: neither the cursor nor the manifest's ETag moves past it
                yield Page(rejections=[feed.context().reject(uuid, exc.reason)], read=1)
                continue
            parsed = parse_misp(fetched.content, feed.context(), to_ids_only=to_ids_only)
            done[uuid] = state
            yield Page.of(parsed, cursor={**feed.cursor, "events": dict(done)})
        if not failed:
            yield Page(etag=manifest.etag, last_modified=manifest.last_modified)

    async def _single_event(self, feed: FeedSpec, ctx: SourceContext, to_ids_only: bool) -> Page:
        """One event export named directly (not a feed): conditional on its ETag like any document."""
        fetched = await ctx.fetcher.get(
            feed.location, etag=feed.etag, last_modified=feed.last_modified, credentials=feed.credentials
        )
        if fetched.not_modified:
            return Page()
        parsed = parse_misp(fetched.content, feed.context(), to_ids_only=to_ids_only)
        return Page.of(parsed, etag=fetched.etag, last_modified=fetched.last_modified)

    async def _digests(self, base: str, feed: FeedSpec, ctx: SourceContext) -> dict[str, str]:
        try:
            fetched = await ctx.fetcher.get(join_url(base, "hashes.csv"), credentials=feed.credentials)
        except FetchError:
            return {}  # hashes.csv is optional; the manifest timestamps still drive increments
        return _hash_digests(decode_text(fetched.content))


def _meta(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


SOURCE = register(MispSource())
