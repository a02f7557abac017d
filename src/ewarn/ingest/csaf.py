"""CSAF 2.0 documents → ONE vulnerability indicator per advisory, keyed by its tracking id.

The advisory is the unit a SOC works with: the indicator ``vulnerability:<tracking id>`` carries every CVE
with its own score, vector and title (``cve_details``, worst first) and each affected product with the CVEs
that hit it (``AffectedProduct.cves``), so the correlator raises one alert per (asset, advisory).
The product tree is read by ``csaf_products``; product status, CVSS and remediations come from each
vulnerability. Two quirks of converted advisories are read so that nothing ends in silence:

- a product listed in the tree but in no vulnerability's ``product_status`` is kept with status ``unstated``
  (the correlator raises "listed in the advisory, status not stated");
- a machine value that the advisory's own text contradicts (``<= 5.7`` while a remediation scoped to the
  product says "versions prior to 5.7.1") is read both ways and the union kept — the reading that cannot
  miss — with a note the explanation quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.csaf_products import Expression, Product, expressions, read_tree
from ewarn.ingest.csaf_remediations import advisory_links, merge_remediations, read_remediations
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
from ewarn.ingest.versions import read_expression
from ewarn.models.common import TLP
from ewarn.models.indicator import (
    AffectedProduct,
    CveDetail,
    IndicatorType,
    ProductStatus,
    RangeKind,
    SourceRemediation,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.versions.order import compare

UNREADABLE_COUNT = "unreadable version expression"
UNSTATED_COUNT = "product listed without status"

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
# "versions prior to 5.7.1", "before version 3.2", "earlier than v2.0"
_SENTENCE = re.compile(r"(?<=[.;])\s+|\n+")
_PRIOR_TO = re.compile(r"\b(?:prior to|before|earlier than)\s+(?:version\s+|v(?=\d))?(\d[\w.\-]*[\w])", re.I)


@dataclass
class _Vulnerability:
    detail: CveDetail | None
    statuses: dict[str, ProductStatus]  # product id → status
    remediations: list[str]
    references: list[str]
    scoped_texts: dict[str, list[str]]  # product id → remediation texts that name it
    actions: list[SourceRemediation]  # the remediations by category, verbatim


@dataclass(frozen=True)
class AdvisoryReading:
    """What the reader understood of one document: for the parser and ``ewarn advisories check``."""

    tracking_id: str
    title: str
    vendors: tuple[str, ...]
    expressions: tuple[Expression, ...]


def parse_csaf(payload: bytes | Any, ctx: FeedContext) -> ParseResult:
    """One CSAF document → one indicator; a malformed document or vulnerability is a rejection."""
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


def read_advisory(document: Any) -> AdvisoryReading:
    """The product/version expressions and vendor strings of one document (``ValueError`` if not CSAF)."""
    meta, tracking_id = _check(document)
    products = read_tree(as_dict(document.get("product_tree")), str(meta["title"]))
    vulnerabilities = [v for v in as_list(document.get("vulnerabilities")) if isinstance(v, dict)]
    read = [_read_vulnerability(v, products) for v in vulnerabilities]
    products = _with_text_bounds(products, read, _note_sentences(document))
    vendors = sorted({p.vendor for p in products.values() if p.vendor})
    return AdvisoryReading(tracking_id, str(meta["title"]), tuple(vendors), tuple(expressions(products)))


def _parse_document(
    document: dict[str, Any], meta: dict[str, Any], tracking_id: str, ctx: FeedContext, result: ParseResult
) -> None:
    products = read_tree(as_dict(document.get("product_tree")), str(meta["title"]))
    references = [
        str(r["url"]) for r in as_list(meta.get("references")) if isinstance(r, dict) and r.get("url")
    ]
    vulnerabilities = document.get("vulnerabilities") or []
    if not isinstance(vulnerabilities, list):
        result.rejections.append(ctx.reject(tracking_id, "'vulnerabilities' is not a list"))
        return
    read: list[_Vulnerability] = []
    for index, vulnerability in enumerate(vulnerabilities):
        try:
            read.append(_read_vulnerability(vulnerability, products))
        except RECORD_ERRORS as exc:
            result.rejections.append(
                ctx.reject(f"{tracking_id} vulnerabilities[{index}]", describe(exc), vulnerability)
            )
    if not read and result.rejections:
        return
    products = _with_text_bounds(products, read, _note_sentences(document))
    unreadable = sum(1 for p in products.values() if p.verdict.endswith("unreadable"))
    if unreadable:
        result.note(UNREADABLE_COUNT, unreadable)
    affected = _affected(products, read)
    unstated = sum(1 for p in affected if p.status is ProductStatus.UNSTATED)
    if unstated:
        result.note(UNSTATED_COUNT, unstated)
    details = sorted((v.detail for v in read if v.detail), key=_worst_first)
    worst = details[0] if details and details[0].cvss_score is not None else None
    advisory_url, links = advisory_links(meta, tracking_id)
    info = VulnerabilityInfo(
        cves=sorted(d.id for d in details),
        title=str(meta["title"]),
        cvss_score=worst.cvss_score if worst else None,
        cvss_vector=worst.cvss_vector if worst else None,
        affected=affected,
        remediations=list(dict.fromkeys(r for v in read for r in v.remediations)),
        references=list(dict.fromkeys([r for v in read for r in v.references] + references))[:50],
        cve_details=details,
        actions=merge_remediations(a for v in read for a in v.actions),
        advisory_url=advisory_url,
        links=links,
    )
    result.indicators.append(
        ctx.indicator(
            Observable(IndicatorType.VULNERABILITY, tracking_id),
            record=tracking_id,
            cves=info.cves,
            vulnerability=info,
            name=meta.get("title"),
            tlp=_tlp(meta, ctx.default_tlp),
            valid_from=parse_timestamp(meta["tracking"].get("initial_release_date")),
            seen_at=parse_timestamp(meta["tracking"].get("current_release_date")),
        )
    )


def _worst_first(detail: CveDetail) -> tuple[float, str]:
    return (-(detail.cvss_score if detail.cvss_score is not None else -1.0), detail.id)


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


def _read_vulnerability(vulnerability: Any, products: dict[str, Product]) -> _Vulnerability:
    if not isinstance(vulnerability, dict):
        raise ValueError("vulnerability is not an object")
    detail = None
    if vulnerability.get("cve"):
        score, vector = _cvss(vulnerability.get("scores") or [])
        title = vulnerability.get("title")
        detail = CveDetail(
            id=normalise.cve(vulnerability["cve"]),
            title=title if isinstance(title, str) else None,
            cvss_score=score,
            cvss_vector=vector,
        )
    statuses: dict[str, ProductStatus] = {}
    for category, ids in as_dict(vulnerability.get("product_status")).items():
        status = _STATUS.get(category)
        if status is not None and isinstance(ids, list):
            for product_id in ids:
                # a product both affected and fixed in one vulnerability (first_affected + first_fixed
                # for different versions) keeps affected: the ranges below tell which versions
                statuses.setdefault(str(product_id), status)
    remediations: list[str] = []
    scoped: dict[str, list[str]] = {}
    for remediation in as_list(vulnerability.get("remediations")):
        if isinstance(remediation, dict) and (text := _remediation(remediation)):
            remediations.append(text)
            for product_id in as_list(remediation.get("product_ids")):
                scoped.setdefault(str(product_id), []).append(str(remediation.get("details") or ""))
    own_refs = [
        str(r["url"])
        for r in as_list(vulnerability.get("references"))
        if isinstance(r, dict) and r.get("url")
    ]
    actions = read_remediations(vulnerability, detail.id if detail else None, products)
    return _Vulnerability(detail, statuses, remediations, own_refs, scoped, actions)


def _affected(products: dict[str, Product], read: list[_Vulnerability]) -> list[AffectedProduct]:
    """One entry per (product, status) with the CVEs it applies to; unlisted products as ``unstated``."""
    every_cve = [v.detail.id for v in read if v.detail]
    cves_of: dict[tuple[str, ProductStatus], list[str]] = {}
    for vulnerability in read:
        for product_id, status in vulnerability.statuses.items():
            listed = cves_of.setdefault((product_id, status), [])
            if vulnerability.detail and vulnerability.detail.id not in listed:
                listed.append(vulnerability.detail.id)
    stated = {product_id for product_id, _ in cves_of}
    for product_id in products:
        if product_id not in stated:
            cves_of[(product_id, ProductStatus.UNSTATED)] = list(every_cve)
    out: list[AffectedProduct] = []
    for (product_id, status), cves in cves_of.items():
        product = products.get(product_id) or Product(name=product_id)
        out.append(
            AffectedProduct(
                vendor=product.vendor,
                product=product.name,
                cpe=product.cpe,
                purl=product.purl,
                versions=product.versions,
                status=status,
                product_id=product_id,
                cves=cves,
                model=product.model,
                note=product.note,
            )
        )
    return out


def _upper_bounded(ranges: list[VersionRange]) -> bool:
    return bool(ranges) and all(vr.kind is RangeKind.INTERVAL and (vr.lt or vr.lte) for vr in ranges)


def _note_sentences(document: dict[str, Any]) -> list[str]:
    """The sentences of the document's and its vulnerabilities' notes (where CISA restates the versions)."""
    notes = as_list(as_dict(document.get("document")).get("notes"))
    for vulnerability in as_list(document.get("vulnerabilities")):
        notes += as_list(as_dict(vulnerability).get("notes"))
    texts = [str(n.get("text") or "") for n in notes if isinstance(n, dict)]
    return [s for t in texts for s in _SENTENCE.split(t) if _PRIOR_TO.search(s)]


def _with_text_bounds(
    products: dict[str, Product], read: list[_Vulnerability], sentences: list[str]
) -> dict[str, Product]:
    """Widen an upper bound the advisory's own text contradicts: a remediation scoped to the product, or a
    note sentence that names it ("victor: versions prior to 5.7.1")."""
    out = dict(products)
    for product_id, product in products.items():
        if not _upper_bounded(product.versions):
            continue
        texts = [t for v in read for t in v.scoped_texts.get(product_id, ())]
        name = (product.name or "").lower()
        texts += [sentence for sentence in sentences if name and name in sentence.lower()]
        bounds = list(dict.fromkeys(m.group(1).rstrip(".") for t in texts for m in _PRIOR_TO.finditer(t)))
        machine = {b for vr in product.versions for b in (vr.lt, vr.lte) if b}
        # only a text bound above every machine bound widens the range (one below says less, not more)
        extra = [b for b in bounds if all((compare(b, m) or 0) > 0 for m in machine)]
        if not extra:
            continue
        lower = next((vr for vr in product.versions if vr.gte or vr.gt), None)
        widened = list(product.versions)
        for bound in extra:
            for part in read_expression(f"< {bound}"):
                widened.append(
                    part.model_copy(update={"gte": lower.gte, "gt": lower.gt}) if lower is not None else part
                )
        machine_text = product.text or " | ".join(sorted(machine))
        said = "; ".join(f'"prior to {b}"' for b in extra)
        out[product_id] = replace(
            product,
            versions=widened,
            note=(
                f'the advisory\'s machine value says "{machine_text.strip()}" but its text says {said}: '
                "both readings are kept, so neither can miss"
            ),
        )
    return out


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
