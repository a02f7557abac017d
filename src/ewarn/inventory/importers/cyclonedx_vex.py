"""CycloneDX VEX (JSON): ``vulnerabilities[].analysis.state`` per ``affects[].ref``.

``not_affected`` and ``false_positive`` mark the CVE as not affecting the referenced component;
``exploitable`` and ``in_triage`` take such a mark back; ``resolved*`` states change nothing here (fixed
versions are the correlator's business). A ref is a bom-ref, a BOM-Link (``urn:cdx:serial/version#bom-ref``)
or a PURL; it is matched against the bom-ref and PURL stored with each asset, and against the PURL/CPE of a
component of the same name in the VEX document itself when the VEX carries its BOM.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from ewarn.inventory import fields
from ewarn.inventory.importers import text_or_none
from ewarn.inventory.importers.cyclonedx import iter_components, load_bom
from ewarn.inventory.models import RowError
from ewarn.inventory.vex import ComponentTarget, VexStatement

SUPPRESS = frozenset({"not_affected", "false_positive"})
UNSUPPRESS = frozenset({"exploitable", "in_triage"})
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)


def parse_cyclonedx_vex(data: bytes) -> list[VexStatement | RowError]:
    doc = load_bom(data)
    components = {
        ref: c for _, c in iter_components(doc) if (ref := text_or_none(c.get("bom-ref"))) is not None
    }
    vulnerabilities = doc.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        return [RowError(row="vulnerabilities", reason="the document has no vulnerabilities list")]
    out: list[VexStatement | RowError] = []
    for i, vuln in enumerate(vulnerabilities):
        if not isinstance(vuln, dict):
            out.append(RowError(row=f"vulnerabilities[{i}]", reason="not an object"))
            continue
        row = text_or_none(vuln.get("id")) or f"vulnerabilities[{i}]"
        analysis = vuln.get("analysis")
        state = text_or_none(analysis.get("state")) if isinstance(analysis, dict) else None
        if state is None:
            out.append(RowError(row=row, reason="no analysis.state"))
            continue
        if state not in SUPPRESS | UNSUPPRESS:
            continue
        cves = _cve_ids(vuln)
        if not cves:
            out.append(RowError(row=row, reason="names no CVE id (id or references[].id)"))
            continue
        refs = [text_or_none(a.get("ref")) for a in vuln.get("affects") or [] if isinstance(a, dict)]
        if not any(refs):
            out.append(RowError(row=row, reason="no affects[].ref"))
        for ref in filter(None, refs):
            target = component_target(ref, components)
            out.extend(
                VexStatement(row=f"{cve} {ref}", cve=cve, not_affected=state in SUPPRESS, target=target)
                for cve in cves
            )
    return out


def component_target(ref: str, components: dict[str, dict[str, Any]]) -> ComponentTarget:
    """Every identity a ref can stand for: the bom-ref itself, a PURL, and its component's PURL/CPE."""
    fragment = ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref
    bom_refs = {fragment, unquote(fragment)}
    purls: set[str] = set()
    cpes: set[str] = set()
    for bom_ref in list(bom_refs):
        if (core := fields.purl_core(bom_ref)) is not None:
            purls.add(core)
        component = components.get(bom_ref, {})
        if (purl := text_or_none(component.get("purl"))) and (core := fields.purl_core(purl)):
            purls.add(core)
        if cpe := text_or_none(component.get("cpe")):
            cpes.add(cpe.lower())
    return ComponentTarget(
        ref=ref, bom_refs=frozenset(bom_refs), purls=frozenset(purls), cpes=frozenset(cpes)
    )


def _cve_ids(vuln: dict[str, Any]) -> list[str]:
    candidates = [vuln.get("id")] + [r.get("id") for r in vuln.get("references") or [] if isinstance(r, dict)]
    found = [c.strip().upper() for c in candidates if isinstance(c, str) and _CVE.match(c.strip())]
    return list(dict.fromkeys(found))
