"""CVE JSON 5 records (a file, a URL, or a JSON list of records): affected products, versions, CVSS."""

from __future__ import annotations

from typing import Any

from ewarn.ingest import normalise, versions
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
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec
from ewarn.ingest.sources.document import DocumentSource
from ewarn.models.indicator import (
    AffectedProduct,
    IndicatorType,
    ProductStatus,
    RangeKind,
    VersionRange,
    VulnerabilityInfo,
)

_STATUS = {
    "affected": ProductStatus.AFFECTED,
    "unaffected": ProductStatus.NOT_AFFECTED,
    "unknown": ProductStatus.UNDER_INVESTIGATION,
}
_CVSS_PREFERENCE = ("cvssV4_0", "cvssV3_1", "cvssV3_0", "cvssV2_0")
_UNKNOWN_NAMES = {"n/a", "unknown", "-", ""}


def parse_cve_records(payload: bytes, ctx: FeedContext) -> ParseResult:
    """One VULNERABILITY indicator per published CVE record in the payload."""
    result = ParseResult()
    try:
        document = load_json(payload)
    except ValueError as exc:
        result.read = 1
        result.rejections.append(ctx.reject("payload", str(exc), payload))
        return result
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        result.read += 1
        name = _record_name(record, index)
        try:
            result.indicators.append(cve_record_indicator(record, ctx))
        except RECORD_ERRORS as exc:
            result.rejections.append(ctx.reject(name, describe(exc), record))
    return result


def _record_name(record: Any, index: int) -> str:
    if isinstance(record, dict):
        cve_id = as_dict(record.get("cveMetadata")).get("cveId")
        if isinstance(cve_id, str):
            return cve_id
    return f"records[{index}]"


def cve_record_indicator(record: Any, ctx: FeedContext) -> Any:
    """``ValueError`` for anything that is not a published CVE 5 record."""
    if not isinstance(record, dict) or not str(record.get("dataVersion", "5")).startswith("5"):
        raise ValueError("not a CVE JSON 5 record")
    meta = as_dict(record.get("cveMetadata"))
    cve_id = normalise.cve(str(meta.get("cveId", "")))
    if meta.get("state") != "PUBLISHED":
        raise ValueError(f"CVE record state is {meta.get('state')!r}, not PUBLISHED")
    containers = as_dict(record.get("containers"))
    cna = as_dict(containers.get("cna"))
    adps = [a for a in as_list(containers.get("adp")) if isinstance(a, dict)]
    affected = _named([p for item in as_list(cna.get("affected")) for p in _affected(item)])
    if not affected:  # some CNAs write "n/a" and leave products to an ADP (CISA's vulnrichment)
        affected = _named(
            [p for adp in adps for item in as_list(adp.get("affected")) for p in _affected(item)]
        )
    score, vector = _cvss([cna, *adps])
    description = next(
        (
            d.get("value")
            for d in as_list(cna.get("descriptions"))
            if isinstance(d, dict) and str(d.get("lang", "")).startswith("en")
        ),
        None,
    )
    updated = parse_timestamp(meta.get("dateUpdated") or meta.get("datePublished"))
    info = VulnerabilityInfo(
        cves=[cve_id],
        title=cna.get("title") or (description[:200] if description else None),
        cvss_score=score,
        cvss_vector=vector,
        affected=affected,
        references=[
            str(r["url"]) for r in as_list(cna.get("references")) if isinstance(r, dict) and r.get("url")
        ][:50],
    )
    return ctx.indicator(
        Observable(IndicatorType.VULNERABILITY, cve_id),
        record=cve_id,
        name=info.title,
        description=description,
        cves=[cve_id],
        vulnerability=info,
        valid_from=parse_timestamp(meta.get("datePublished")),
        seen_at=updated,
    )


def _named(products: list[AffectedProduct]) -> list[AffectedProduct]:
    return [p for p in products if p.vendor or p.product or p.cpe]


def _name(value: Any) -> str | None:
    text = normalise.product_name(value) if isinstance(value, str) else None
    return None if text is None or text.lower() in _UNKNOWN_NAMES else text


def _affected(item: Any) -> list[AffectedProduct]:
    if not isinstance(item, dict):
        raise ValueError("affected entry is not an object")
    vendor, product = _name(item.get("vendor")), _name(item.get("product") or item.get("packageName"))
    cpes = [c for c in as_list(item.get("cpes")) if isinstance(c, str)]
    by_status: dict[ProductStatus, list[VersionRange]] = {}
    for entry in as_list(item.get("versions")):
        if not isinstance(entry, dict):
            raise ValueError("versions entry is not an object")
        for status_text, version_range in versions.cve5_segments(entry):
            status = _STATUS.get(status_text, ProductStatus.AFFECTED)
            by_status.setdefault(status, []).append(version_range)
    if not by_status:
        default = _STATUS.get(str(item.get("defaultStatus", "affected")), ProductStatus.AFFECTED)
        by_status[default] = []
    elif item.get("defaultStatus") == "affected":
        # every version no entry speaks of is affected (CVE 5 semantics): all versions, minus the
        # unaffected entries, which the correlator applies as known-not-affected
        every = VersionRange(kind=RangeKind.ALL, raw="defaultStatus=affected")
        by_status.setdefault(ProductStatus.AFFECTED, []).append(every)
    products = []
    cpe_options: list[str | None] = [*cpes] or [None]
    for status, ranges in by_status.items():
        for cpe in cpe_options:
            products.append(
                AffectedProduct(vendor=vendor, product=product, cpe=cpe, versions=ranges, status=status)
            )
    return products


def _cvss(containers: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    for version in _CVSS_PREFERENCE:
        for container in containers:
            for metric in as_list(container.get("metrics")):
                data = metric.get(version) if isinstance(metric, dict) else None
                if isinstance(data, dict) and isinstance(data.get("baseScore"), int | float):
                    return float(data["baseScore"]), data.get("vectorString")
    return None, None


def _parse(payload: bytes, _feed: FeedSpec, ctx: FeedContext) -> ParseResult:
    return parse_cve_records(payload, ctx)


SOURCE = register(DocumentSource(kind="cve5", parser=_parse, accept="application/json"))
