"""CSAF 2.0 documents → one VULNERABILITY indicator per CVE (or per advisory when it names none).

The product tree becomes affected products with version ranges (``vers:`` strings and CISA's free text, both
kept in ``raw``); product status, CVSS and remediations come from each vulnerability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
from ewarn.models.common import TLP
from ewarn.models.indicator import (
    AffectedProduct,
    IndicatorType,
    ProductStatus,
    VersionRange,
    VulnerabilityInfo,
)

_STATUS = {
    "known_affected": ProductStatus.AFFECTED,
    "first_affected": ProductStatus.AFFECTED,
    "last_affected": ProductStatus.AFFECTED,
    "fixed": ProductStatus.FIXED,
    "first_fixed": ProductStatus.FIXED,
    "recommended": ProductStatus.FIXED,
    "known_not_affected": ProductStatus.NOT_AFFECTED,
    "under_investigation": ProductStatus.UNDER_INVESTIGATION,
}
_MAX_DEPTH = 32


@dataclass
class _Product:
    vendor: str | None = None
    name: str | None = None
    versions: list[VersionRange] = field(default_factory=list)
    cpe: str | None = None
    purl: str | None = None


def parse_csaf(payload: bytes | Any, ctx: FeedContext) -> ParseResult:
    """One CSAF document → indicators; a malformed document or vulnerability is a rejection."""
    result = ParseResult(read=1)
    try:
        document = load_json(payload) if isinstance(payload, bytes | str) else payload
        meta, tracking_id = _check(document)
    except ValueError as exc:
        result.rejections.append(ctx.reject("document", str(exc), payload))
        return result
    try:
        _parse_document(document, meta, tracking_id, ctx, result)
    except RECORD_ERRORS as exc:
        result.indicators.clear()  # a document is one record: all of it or none of it
        result.rejections.append(ctx.reject(tracking_id, describe(exc), payload))
    return result


def _parse_document(
    document: dict[str, Any], meta: dict[str, Any], tracking_id: str, ctx: FeedContext, result: ParseResult
) -> None:
    products = _products(as_dict(document.get("product_tree")))
    tlp = _tlp(meta, ctx.default_tlp)
    references = [
        str(r["url"]) for r in as_list(meta.get("references")) if isinstance(r, dict) and r.get("url")
    ]
    common = {
        "name": meta.get("title"),
        "tlp": tlp,
        "valid_from": parse_timestamp(meta["tracking"].get("initial_release_date")),
        "seen_at": parse_timestamp(meta["tracking"].get("current_release_date")),
    }
    vulnerabilities = document.get("vulnerabilities") or []
    if not isinstance(vulnerabilities, list):
        result.rejections.append(ctx.reject(tracking_id, "'vulnerabilities' is not a list"))
        return
    infos: list[VulnerabilityInfo] = []
    for index, vulnerability in enumerate(vulnerabilities):
        try:
            infos.append(_vulnerability(vulnerability, products, meta.get("title"), references))
        except RECORD_ERRORS as exc:
            result.rejections.append(
                ctx.reject(f"{tracking_id} vulnerabilities[{index}]", describe(exc), vulnerability)
            )
    with_cve = [info for info in infos if info.cves]
    if with_cve:
        for info in with_cve:
            observable = Observable(IndicatorType.VULNERABILITY, info.cves[0])
            result.indicators.append(
                ctx.indicator(observable, record=tracking_id, cves=info.cves, vulnerability=info, **common)
            )
    elif infos or not result.rejections:
        merged = _merge_infos(infos, meta.get("title"), references, products)
        result.indicators.append(
            ctx.indicator(
                Observable(IndicatorType.VULNERABILITY, tracking_id),
                record=tracking_id,
                vulnerability=merged,
                **common,
            )
        )


def _check(document: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(document, dict) or not isinstance(document.get("document"), dict):
        raise ValueError("not a CSAF document: no 'document' object")
    meta = document["document"]
    if str(meta.get("csaf_version")) != "2.0":
        raise ValueError(f"csaf_version {str(meta.get('csaf_version'))[:20]!r} is not 2.0")
    tracking = meta.get("tracking")
    if (
        not isinstance(tracking, dict)
        or not isinstance(tracking.get("id"), str)
        or not tracking["id"].strip()
    ):
        raise ValueError("CSAF document has no document.tracking.id")
    if not isinstance(meta.get("title"), str):
        raise ValueError("CSAF document has no document.title")
    return meta, tracking["id"].strip()


def _tlp(meta: dict[str, Any], default: TLP) -> TLP:
    label = ((meta.get("distribution") or {}).get("tlp") or {}).get("label")
    return (normalise.tlp_from_name(label) if isinstance(label, str) else None) or default


def _products(tree: dict[str, Any]) -> dict[str, _Product]:
    found: dict[str, _Product] = {}

    def walk(branch: dict[str, Any], current: _Product, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ValueError("product tree nests deeper than 32 levels")
        category, name = branch.get("category"), branch.get("name")
        here = _Product(current.vendor, current.name, list(current.versions))
        if isinstance(name, str):
            if category == "vendor":
                here.vendor = normalise.product_name(name)
            elif category in ("product_name", "product_family") and (
                category == "product_name" or not here.name
            ):
                here.name = normalise.product_name(name)
            elif category in ("product_version", "product_version_range"):
                here.versions = versions.parse_free_text(name)
        product = branch.get("product")
        if isinstance(product, dict) and isinstance(product.get("product_id"), str):
            helper = product.get("product_identification_helper") or {}
            found[product["product_id"]] = _Product(
                here.vendor,
                here.name or normalise.product_name(product.get("name")),
                here.versions,
                helper.get("cpe"),
                helper.get("purl"),
            )
        for child in branch.get("branches") or []:
            if isinstance(child, dict):
                walk(child, here, depth + 1)

    walk(tree, _Product(), 0)
    for full in tree.get("full_product_names") or []:
        if isinstance(full, dict) and isinstance(full.get("product_id"), str):
            found.setdefault(full["product_id"], _Product(name=normalise.product_name(full.get("name"))))
    for relation in tree.get("relationships") or []:
        full = relation.get("full_product_name") if isinstance(relation, dict) else None
        if isinstance(full, dict) and isinstance(full.get("product_id"), str):
            component = found.get(str(relation.get("product_reference")), _Product())
            platform = found.get(str(relation.get("relates_to_product_reference")), _Product())
            found[full["product_id"]] = _Product(
                component.vendor or platform.vendor,
                normalise.product_name(full.get("name")) or component.name,
                component.versions,
                component.cpe,
                component.purl,
            )
    return found


def _vulnerability(
    vulnerability: Any, products: dict[str, _Product], title: str | None, references: list[str]
) -> VulnerabilityInfo:
    if not isinstance(vulnerability, dict):
        raise ValueError("vulnerability is not an object")
    cves = [normalise.cve(vulnerability["cve"])] if vulnerability.get("cve") else []
    affected: list[AffectedProduct] = []
    for category, ids in (vulnerability.get("product_status") or {}).items():
        status = _STATUS.get(category)
        if status is None or not isinstance(ids, list):
            continue
        for product_id in ids:
            product = products.get(str(product_id), _Product(name=str(product_id)))
            affected.append(
                AffectedProduct(
                    vendor=product.vendor,
                    product=product.name,
                    cpe=product.cpe,
                    purl=product.purl,
                    versions=product.versions,
                    status=status,
                    product_id=str(product_id),
                )
            )
    score, vector = _cvss(vulnerability.get("scores") or [])
    remediations = [_remediation(r) for r in vulnerability.get("remediations") or [] if isinstance(r, dict)]
    own_refs = [
        r["url"] for r in vulnerability.get("references") or [] if isinstance(r, dict) and r.get("url")
    ]
    return VulnerabilityInfo(
        cves=cves,
        title=vulnerability.get("title") or title,
        cvss_score=score,
        cvss_vector=vector,
        affected=affected,
        remediations=[r for r in remediations if r],
        references=list(dict.fromkeys(own_refs + references))[:50],
    )


def _cvss(scores: list[Any]) -> tuple[float | None, str | None]:
    best: tuple[float | None, str | None] = (None, None)
    for score in scores:
        if not isinstance(score, dict):
            continue
        for key in ("cvss_v3", "cvss_v2"):
            data = score.get(key)
            if isinstance(data, dict) and isinstance(data.get("baseScore"), int | float):
                value = float(data["baseScore"])
                if best[0] is None or value > best[0]:
                    best = (value, data.get("vectorString"))
                break
    return best


def _remediation(remediation: dict[str, Any]) -> str:
    text = " ".join(str(remediation.get(k) or "") for k in ("category", "details")).strip()
    if remediation.get("url"):
        text = f"{text} ({remediation['url']})"
    return text


def _merge_infos(
    infos: list[VulnerabilityInfo], title: str | None, references: list[str], products: dict[str, _Product]
) -> VulnerabilityInfo:
    scores = [i.cvss_score for i in infos if i.cvss_score is not None]
    best = max((i for i in infos if i.cvss_score is not None), key=lambda i: i.cvss_score or 0, default=None)
    affected = [p for i in infos for p in i.affected]
    if not affected:
        affected = [
            AffectedProduct(
                vendor=p.vendor, product=p.name, cpe=p.cpe, purl=p.purl, versions=p.versions, product_id=k
            )
            for k, p in products.items()
        ]
    return VulnerabilityInfo(
        title=title,
        cvss_score=max(scores) if scores else None,
        cvss_vector=best.cvss_vector if best else None,
        affected=affected,
        remediations=list(dict.fromkeys(r for i in infos for r in i.remediations)),
        references=references[:50],
    )
