"""The source's recommended actions that concern one alert: those for the product and the CVEs that hit.

A CSAF remediation names the product ids it applies to and comes from one vulnerability (CVE); a KEV
required action names its CVE. An alert keeps those whose products include a product of the advisory that
matched the asset (or that name no product) and whose CVEs include one that hit (or that name none).
"""

from __future__ import annotations

from collections.abc import Collection

from ewarn.models.indicator import (
    Indicator,
    Remediation,
    RemediationCategory,
    SourceRemediation,
)

MAX_PER_ALERT = 20
# The order a SOC reads them in: what it is required to do by a date, the fix, then what lowers the risk.
ORDER = {
    RemediationCategory.REQUIRED_ACTION: 0,
    RemediationCategory.VENDOR_FIX: 1,
    RemediationCategory.WORKAROUND: 2,
    RemediationCategory.MITIGATION: 3,
    RemediationCategory.NONE_AVAILABLE: 4,
    RemediationCategory.NO_FIX_PLANNED: 5,
}


def _applies(item: SourceRemediation, product_ids: Collection[str], cves: Collection[str]) -> bool:
    if item.product_ids and product_ids and not set(item.product_ids) & set(product_ids):
        return False
    hit = {c.upper() for c in cves}
    return not item.cves or not hit or any(c.upper() in hit for c in item.cves)


def for_alert(
    indicator: Indicator, *, product_ids: Collection[str], cves: Collection[str]
) -> list[Remediation]:
    """The remediations of ``indicator`` for the matched advisory products and the CVEs that hit, in order."""
    vuln = indicator.vulnerability
    if vuln is None:
        return []
    chosen = [item for item in vuln.actions if _applies(item, product_ids, cves)]
    chosen.sort(key=lambda item: ORDER[item.category])  # stable: the source's own order within a category
    out: list[Remediation] = []
    for item in chosen[:MAX_PER_ALERT]:
        kept = Remediation.model_validate(item.model_dump(exclude={"product_ids"}))
        kept.cves = [c for c in kept.cves if not cves or c.upper() in {x.upper() for x in cves}] or kept.cves
        out.append(kept)
    return out


def has_fix(remediations: Collection[Remediation]) -> bool:
    """A vendor fix is among them."""
    return any(r.category is RemediationCategory.VENDOR_FIX for r in remediations)
