"""STIX 2.0/2.1 bundles → indicators.

Objects are read as plain JSON (producers differ too much for strict stix2 parsing: ports as strings, custom
properties); patterns are read by ``stix_patterns`` (the OASIS grammar, and a fast reader for the common
shapes). One bad object or pattern is one rejection, and the rest of the bundle flows.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import (
    RECORD_ERRORS,
    FeedContext,
    ParseResult,
    as_dict,
    as_list,
    describe,
    load_json,
    parse_timestamp,
)
from ewarn.ingest.stix_patterns import pattern_comparisons as pattern_comparisons  # sightings read it here
from ewarn.models.common import TLP, text_problem
from ewarn.models.indicator import IndicatorType, VulnerabilityInfo

MAX_PATTERN_CHARS = 256 * 1024
MAX_NAME_CHARS = 500
MAX_DESCRIPTION_CHARS = 4000
_STIX_ID = re.compile(r"^[a-z0-9][a-z0-9-]*--[0-9a-fA-F-]{8,}$")


@dataclass(frozen=True)
class _Bundle:
    """What objects need from the rest of their bundle: markings, relationships, the context objects."""

    spec_version: str
    markings: dict[str, TLP]
    related: dict[str, set[str]]
    by_id: dict[str, dict[str, Any]]


def parse_bundle(payload: bytes | str | dict[str, Any] | list[Any], ctx: FeedContext) -> ParseResult:
    """Parse a STIX bundle (or a TAXII envelope, a list of objects, one object) into indicators."""
    result = ParseResult()
    if isinstance(payload, bytes | str):
        try:
            payload = load_json(payload)
        except ValueError as exc:
            result.read = 1
            result.rejections.append(ctx.reject("payload", str(exc), payload))
            return result
    objects = _objects_of(payload)
    if objects is None:
        result.read = 1
        result.rejections.append(ctx.reject("payload", "not a STIX bundle, envelope or object", payload))
        return result
    declared = payload.get("spec_version") if isinstance(payload, dict) else None
    usable = []
    for index, obj in enumerate(objects):
        problem = _structural_problem(obj)
        if problem is not None:
            result.read += 1
            result.rejections.append(ctx.reject(_record_name(obj, index), problem, obj))
        else:
            usable.append(obj)
    bundle = _index(usable, declared if isinstance(declared, str) else None)
    for obj in _latest_versions(usable):
        if obj["type"] == "sighting":  # routed to the sighting relay with what it points to
            result.read += 1
            result.sightings.append(_sighting_bundle(obj, bundle))
            continue
        parse = {"indicator": _parse_indicator, "vulnerability": _parse_vulnerability}.get(obj["type"])
        if parse is None:
            continue
        try:
            result.extend(parse(obj, bundle, ctx))
        except RECORD_ERRORS as exc:
            result.read += 1
            result.rejections.append(ctx.reject(obj["id"], describe(exc), obj))
    return result


def _sighting_bundle(sighting: dict[str, Any], bundle: _Bundle) -> dict[str, Any]:
    """A sighting with the indicator, observed data and observables it references, as a bundle of its own."""
    refs = [sighting.get("sighting_of_ref"), *as_list(sighting.get("observed_data_refs"))]
    found = [bundle.by_id[r] for r in refs if isinstance(r, str) and r in bundle.by_id]
    scos = [
        o for f in found for o in as_list(f.get("object_refs")) if isinstance(o, str) and o in bundle.by_id
    ]
    return {"type": "bundle", "objects": [sighting, *found, *(bundle.by_id[o] for o in scos)]}


def _objects_of(payload: Any) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("objects"), list):
        return list(payload["objects"])
    if "objects" not in payload and isinstance(payload.get("type"), str) and payload.get("type") != "bundle":
        return [payload]
    if payload.get("type") == "bundle" and "objects" not in payload:
        return []
    return None


def _record_name(obj: Any, index: int) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"].strip():
        return f"objects[{index}] {obj['id'][:200]}"
    return f"objects[{index}]"


def _structural_problem(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"object is a JSON {type(obj).__name__}, not an object"
    if not isinstance(obj.get("type"), str) or not obj["type"]:
        return "object has no 'type'"
    if not isinstance(obj.get("id"), str) or not _STIX_ID.match(obj["id"]):
        return "object has no valid STIX 'id'"
    if not obj["id"].startswith(obj["type"] + "--"):
        return f"id does not match type {obj['type'][:60]!r}"
    return None


def _latest_versions(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the newest version of each object id, in first-seen order (TAXII collections carry history)."""
    latest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        seen = latest.get(obj["id"])
        if seen is None or str(obj.get("modified", "")) > str(seen.get("modified", "")):
            latest[obj["id"]] = obj
    return list(latest.values())


def _index(objects: list[dict[str, Any]], declared: str | None) -> _Bundle:
    markings: dict[str, TLP] = {}
    related: dict[str, set[str]] = defaultdict(set)
    by_id: dict[str, dict[str, Any]] = {}
    for obj in objects:
        by_id[obj["id"]] = obj
        if obj["type"] == "marking-definition":
            level = _marking_tlp(obj)
            if level is not None:
                markings[obj["id"]] = level
        elif obj["type"] == "relationship":
            source, target = obj.get("source_ref"), obj.get("target_ref")
            if isinstance(source, str) and isinstance(target, str):
                related[source].add(target)
                related[target].add(source)
    spec = declared or ("2.1" if any("spec_version" in o for o in objects) or not objects else "2.0")
    return _Bundle(spec_version=spec, markings=markings, related=related, by_id=by_id)


def _marking_tlp(obj: dict[str, Any]) -> TLP | None:
    if obj["id"] in normalise.STIX_TLP_MARKINGS:
        return normalise.STIX_TLP_MARKINGS[obj["id"]]
    definition = obj.get("definition")
    if obj.get("definition_type") == "tlp" and isinstance(definition, dict):
        value = definition.get("tlp")
        if isinstance(value, str):
            return normalise.tlp_from_name(value)
    for extension in as_dict(obj.get("extensions")).values():
        if isinstance(extension, dict) and isinstance(extension.get("tlp_2_0"), str):
            return normalise.tlp_from_name(extension["tlp_2_0"])
    name = obj.get("name")
    if isinstance(name, str) and name.upper().startswith("TLP:"):
        return normalise.tlp_from_name(name)
    return None


def _common_fields(obj: dict[str, Any], bundle: _Bundle, ctx: FeedContext) -> dict[str, Any]:
    """Fields every indicator from this object shares; ``ValueError`` on a schema violation."""
    confidence = obj.get("confidence")
    if confidence is not None and (
        not isinstance(confidence, int) or isinstance(confidence, bool) or not 0 <= confidence <= 100
    ):
        raise ValueError(f"confidence must be an integer 0..100, got {str(confidence)[:40]!r}")
    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ValueError("revoked must be a boolean")
    refs = obj.get("object_marking_refs") or []
    if not isinstance(refs, list):
        raise ValueError("object_marking_refs must be a list")
    tlp = normalise.strongest_tlp(
        (
            bundle.markings.get(ref) or normalise.STIX_TLP_MARKINGS.get(ref)
            for ref in refs
            if isinstance(ref, str)
        ),
        ctx.default_tlp,
    )
    return {
        "stix_id": obj["id"],
        "name": _text("name", obj.get("name"), MAX_NAME_CHARS),
        "description": _text("description", obj.get("description"), MAX_DESCRIPTION_CHARS),
        "confidence": confidence,
        "tlp": tlp,
        "revoked": revoked,
        "seen_at": parse_timestamp(obj.get("modified") or obj.get("created")),
    }


def _text(field: str, value: Any, limit: int) -> str | None:
    """A text property cut to ``limit``; ``ValueError`` when it holds what cannot be stored or sent on (a lone
    surrogate, NUL, control characters other than tab and line breaks)."""
    if not isinstance(value, str) or not value:
        return None
    problem = text_problem(value[:limit], free_text=True)
    if problem is not None:
        raise ValueError(f"{field} {problem}")
    return value[:limit]


def _parse_indicator(obj: dict[str, Any], bundle: _Bundle, ctx: FeedContext) -> ParseResult:
    result = ParseResult(read=1)
    record = obj["id"]
    try:
        fields = _common_fields(obj, bundle, ctx)
        fields["valid_from"] = parse_timestamp(obj.get("valid_from"))
        fields["valid_until"] = parse_timestamp(obj.get("valid_until"))
        pattern = obj.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError("indicator has no pattern")
        pattern_type = obj.get("pattern_type", "stix")
        if pattern_type != "stix":
            raise ValueError(f"pattern_type {str(pattern_type)[:40]!r} is not supported (only 'stix')")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
        comparisons = pattern_comparisons(pattern, _spec_of(obj, bundle))
    except ValueError as exc:
        result.rejections.append(ctx.reject(record, str(exc), obj))
        return result
    related = [bundle.by_id[ref] for ref in bundle.related.get(record, ()) if ref in bundle.by_id]
    fields["labels"] = normalise.labels(_raw_labels(obj, related))
    fields["cves"] = sorted(
        {c for other in related if other["type"] == "vulnerability" for c in _cves_of(other)}
    )
    seen: set[str] = set()
    for object_type, path, value in comparisons:
        try:
            observable = observable_for(object_type, path, value)
            problem = text_problem(observable.value) if observable is not None else None
            if problem is not None:
                raise ValueError(f"value {problem}")
        except ValueError as exc:
            where = f"{object_type}:{'.'.join(path)}"
            result.rejections.append(ctx.reject(f"{record} {where}", str(exc), value))
            continue
        if observable is None or observable.key in seen:
            continue
        seen.add(observable.key)
        result.indicators.append(ctx.indicator(observable, record=record, **fields))
    if not seen and not result.rejections:
        result.rejections.append(
            ctx.reject(
                record,
                "pattern has no observable ewarn can match (ip, domain, url, email, hash, asn)",
                pattern,
            )
        )
    return result


def _spec_of(obj: dict[str, Any], bundle: _Bundle) -> str:
    version = obj.get("pattern_version") or obj.get("spec_version") or bundle.spec_version
    return "2.0" if str(version).startswith("2.0") else "2.1"


def _raw_labels(obj: dict[str, Any], related: list[dict[str, Any]]) -> list[str]:
    raw: list[str] = []
    for source in [obj, *(o for o in related if o["type"] in ("malware", "infrastructure", "tool"))]:
        for field in ("labels", "indicator_types", "malware_types", "infrastructure_types"):
            values = source.get(field)
            if isinstance(values, list):
                raw.extend(v for v in values if isinstance(v, str))
    return raw


def observable_for(object_type: str, path: list[str], value: str) -> Observable | None:
    """The observable a comparison names, None when ewarn does not match on that property."""
    prop = path[0] if path else ""
    if object_type in ("ipv4-addr", "ipv6-addr") and prop == "value":
        observed = normalise.ip(value)
        expected = IndicatorType.IPV4 if object_type == "ipv4-addr" else IndicatorType.IPV6
        if observed.type is not expected:
            raise ValueError(f"{value[:80]!r} is not an {object_type} value")
        return observed
    if object_type == "domain-name" and prop == "value":
        return normalise.domain_observable(value)
    if object_type == "url" and prop == "value":
        return normalise.url(value)
    if object_type == "email-addr" and prop == "value":
        return normalise.email(value)
    if object_type in ("file", "x509-certificate", "artifact") and prop == "hashes" and len(path) == 2:
        algorithm = path[1]
        if normalise.hash_type_for_name(algorithm) is None:
            return None  # SSDEEP, TLSH… are not matched on
        return normalise.file_hash(value, algorithm)
    if object_type == "autonomous-system" and prop == "number":
        return normalise.asn(value)
    if object_type == "network-traffic" and prop in ("dst_ref", "src_ref") and path[-1] == "value":
        try:
            return normalise.ip(value)
        except ValueError:
            return normalise.domain_observable(value)
    return None


def _cves_of(obj: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for ref in as_list(obj.get("external_references")):
        if isinstance(ref, dict) and str(ref.get("source_name", "")).lower() == "cve":
            try:
                found.append(normalise.cve(str(ref.get("external_id", ""))))
            except ValueError:
                continue
    name = obj.get("name")
    if not found and isinstance(name, str):
        with contextlib.suppress(ValueError):
            found.append(normalise.cve(name))
    return sorted(set(found))


def _parse_vulnerability(obj: dict[str, Any], bundle: _Bundle, ctx: FeedContext) -> ParseResult:
    result = ParseResult(read=1)
    try:
        fields = _common_fields(obj, bundle, ctx)
    except ValueError as exc:
        result.rejections.append(ctx.reject(obj["id"], str(exc), obj))
        return result
    cves = _cves_of(obj)
    if not cves:
        result.rejections.append(ctx.reject(obj["id"], "vulnerability names no CVE id", obj))
        return result
    references = [
        ref["url"]
        for ref in as_list(obj.get("external_references"))
        if isinstance(ref, dict) and isinstance(ref.get("url"), str)
    ]
    if any(text_problem(url) for url in references[:50]):
        result.rejections.append(ctx.reject(obj["id"], "an external reference url is not storable text", obj))
        return result
    for cve_id in cves:
        info = VulnerabilityInfo(cves=[cve_id], title=fields["name"], references=references[:50])
        observable = Observable(IndicatorType.VULNERABILITY, cve_id)
        result.indicators.append(
            ctx.indicator(observable, record=obj["id"], cves=[cve_id], vulnerability=info, **fields)
        )
    return result
