"""Where to read more: the advisory's own page, its links, the CVE records and the KEV catalogue."""

from __future__ import annotations

from collections.abc import Sequence

from ewarn.models.indicator import Indicator, Reference

CVE_RECORD = "https://www.cve.org/CVERecord?id={cve}"
KEV_CATALOGUE = "https://www.cisa.gov/known-exploited-vulnerabilities-catalog"
MAX_PER_ALERT = 30


def for_alert(indicator: Indicator, *, cves: Sequence[str], exploited: bool) -> list[Reference]:
    """The advisory first, then a record per CVE that hit, the KEV catalogue when exploited, then the rest."""
    vuln = indicator.vulnerability
    out: dict[str, Reference] = {}
    if vuln is not None:
        own = [link for link in vuln.links if link.kind == "advisory"]
        if vuln.advisory_url and all(link.url != vuln.advisory_url for link in own):
            own.insert(0, Reference(url=vuln.advisory_url, kind="advisory", id=indicator.value))
        for link in sorted(own, key=lambda link: link.url != vuln.advisory_url):
            out.setdefault(link.url, link)
    for cve in cves:
        url = CVE_RECORD.format(cve=cve.upper())
        out.setdefault(url, Reference(url=url, kind="cve", id=cve.upper(), title=f"CVE record {cve.upper()}"))
    if exploited:
        out.setdefault(
            KEV_CATALOGUE,
            Reference(url=KEV_CATALOGUE, kind="kev", title="CISA Known Exploited Vulnerabilities Catalog"),
        )
    if vuln is not None:
        for link in vuln.links:
            out.setdefault(link.url, link)
        for url in vuln.references:
            out.setdefault(url, Reference(url=url))
    return list(out.values())[:MAX_PER_ALERT]
