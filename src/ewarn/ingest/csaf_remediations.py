"""What a CSAF advisory says to do, and where to read it: remediations by category, the advisory's own page.

Text and URLs are kept verbatim (a SOC must be able to quote the vendor); only the fixed versions are read
out of them: the advisory's ``fixed``/``first_fixed`` products, or the version a vendor fix names
(``Welch Allyn Connex Spot Monitor (CSM): v1.52`` → ``1.52``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ewarn.ingest.csaf_products import Product
from ewarn.ingest.records import as_list
from ewarn.models.indicator import Reference, RemediationCategory, SourceRemediation

MAX_REMEDIATIONS = 200
MAX_LINKS = 50
_CATEGORIES = {c.value: c for c in RemediationCategory if c is not RemediationCategory.REQUIRED_ACTION}
_FIXED_STATUSES = ("fixed", "first_fixed")
# "v1.52", "version 5.7.1", "Version 3.2 or later", "v1.8.4 Service Pack 01", "firmware 2.0.1"; not the
# affected versions a fix text also names ("versions 6.4 and prior should upgrade to version 6.5")
_FIXED_VERSION = re.compile(
    r"\b(?:v|version|versions|firmware|release)\.?\s*(\d+(?:[.\-_]\w+)*+"
    r"(?:\s+(?:service pack|sp|update|patch|build|cu)\s*\w+)?)"
    r"(?!\s+(?:and|or)\s+(?:prior|earlier|older|below|before|lower))",
    re.IGNORECASE,
)


def versions_named(text: str) -> list[str]:
    """The versions a vendor-fix text names, in order ("…: v1.11.00 (Released October 2021)" → 1.11.00)."""
    return list(dict.fromkeys(m.group(1).rstrip(".") for m in _FIXED_VERSION.finditer(text)))


def _fixed_products(
    vulnerability: Mapping[str, Any], products: Mapping[str, Product], scoped: list[str]
) -> list[Product]:
    """The products this vulnerability lists as fixed, those of the remediation's products' line first."""
    status = vulnerability.get("product_status")
    ids = [
        str(pid)
        for category in _FIXED_STATUSES
        for pid in as_list(status.get(category) if isinstance(status, dict) else None)
    ]
    fixed = [products[pid] for pid in dict.fromkeys(ids) if pid in products]
    lines = {(p.vendor, p.name) for pid in scoped if (p := products.get(pid)) is not None}
    same_line = [p for p in fixed if (p.vendor, p.name) in lines]
    return same_line or ([] if lines else fixed)


def read_remediations(
    vulnerability: Mapping[str, Any], cve: str | None, products: Mapping[str, Product]
) -> list[SourceRemediation]:
    """Every remediation of one vulnerability with a known category, verbatim, scoped to its products."""
    out: list[SourceRemediation] = []
    for remediation in as_list(vulnerability.get("remediations"))[:MAX_REMEDIATIONS]:
        if not isinstance(remediation, dict):
            continue
        category = _CATEGORIES.get(str(remediation.get("category") or ""))
        text = remediation.get("details")
        if category is None or not isinstance(text, str) or not text.strip():
            continue
        scoped = [str(pid) for pid in as_list(remediation.get("product_ids"))]
        fixed_versions: list[str] = []
        fixed_names: list[str] = []
        if category is RemediationCategory.VENDOR_FIX:
            fixed = _fixed_products(vulnerability, products, scoped)
            fixed_names = list(dict.fromkeys(name for p in fixed if (name := p.full_name or p.name)))
            fixed_versions = list(dict.fromkeys([p.text for p in fixed if p.text] + versions_named(text)))
        url = remediation.get("url")
        date = remediation.get("date")
        out.append(
            SourceRemediation(
                category=category,
                text=text.strip(),
                url=url.strip() if isinstance(url, str) and url.strip() else None,
                source="csaf",
                cves=[cve] if cve else [],
                fixed_versions=fixed_versions,
                fixed_products=fixed_names,
                date=date if isinstance(date, str) else None,
                product_ids=scoped,
            )
        )
    return out


def merge_remediations(found: Iterable[SourceRemediation]) -> list[SourceRemediation]:
    """One entry per (category, text, url, products): the same vendor fix for several CVEs lists them all."""
    merged: dict[tuple[object, ...], SourceRemediation] = {}
    for item in found:
        key = (item.category, item.text, item.url, tuple(item.product_ids))
        kept = merged.get(key)
        if kept is None:
            merged[key] = item.model_copy()
        else:
            kept.cves = sorted(set(kept.cves) | set(item.cves))
    return list(merged.values())


def advisory_links(meta: Mapping[str, Any], tracking_id: str) -> tuple[str | None, list[Reference]]:
    """The advisory's own page (its ``self`` reference, the web version before the JSON) and every link."""
    links: list[Reference] = []
    for ref in as_list(meta.get("references")):
        if not isinstance(ref, dict) or not isinstance(ref.get("url"), str) or not ref["url"].strip():
            continue
        own = ref.get("category") == "self"
        summary = ref.get("summary")
        links.append(
            Reference(
                url=ref["url"].strip(),
                kind="advisory" if own else "external",
                id=tracking_id if own else None,
                title=summary.strip() if isinstance(summary, str) and summary.strip() else None,
            )
        )
    own_pages = [link.url for link in links if link.kind == "advisory"]
    web = [url for url in own_pages if not url.lower().endswith(".json")]
    advisory_url = next(iter(web or own_pages), None)
    unique: dict[str, Reference] = {}
    for link in links:
        unique.setdefault(link.url, link)  # the first mention wins: the advisory's own before a citation
    return advisory_url, list(unique.values())[:MAX_LINKS]
