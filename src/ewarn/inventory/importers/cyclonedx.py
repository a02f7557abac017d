"""CycloneDX SBOM (JSON, any 1.x spec version): every component becomes a software asset.

Nested components (``components[].components``) are flattened. ``metadata.component`` (the subject of the
BOM) is not imported: it is the application or device the SBOM describes, registered on its own and named
with ``device`` so that the components become part of it. A later SBOM for the same device replaces the
earlier one (see ``inventory.service``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ewarn.inventory.importers import AssetRecord, ImportRejected, load_json_object, text_or_none
from ewarn.inventory.models import RowError


def load_bom(data: bytes) -> dict[str, Any]:
    doc = load_json_object(data, what="CycloneDX document")
    if doc.get("bomFormat") != "CycloneDX":
        raise ImportRejected("not a CycloneDX JSON document (bomFormat is not 'CycloneDX')")
    return doc


def iter_components(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every component with its JSON path, depth first, nested ones after their parent."""

    def walk(items: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            here = f"{path}[{i}]"
            if isinstance(item, dict):
                yield here, item
                yield from walk(item.get("components"), f"{here}.components")

    yield from walk(doc.get("components"), "components")


def parse_sbom(data: bytes) -> list[AssetRecord | RowError]:
    """One software-asset record per component; the row is the component's bom-ref (else its JSON path)."""
    doc = load_bom(data)
    components = list(iter_components(doc))
    if not components:
        # Refused rather than imported as nothing: for a device it would replace the SBOM with an empty one.
        hint = " (a VEX document? use the cyclonedx-vex format)" if doc.get("vulnerabilities") else ""
        raise ImportRejected(f"the SBOM lists no components{hint}")
    out: list[AssetRecord | RowError] = []
    for path, component in components:
        row = text_or_none(component.get("bom-ref")) or path
        name = text_or_none(component.get("name"))
        if name is None:
            out.append(RowError(row=row, reason="component has no name"))
            continue
        group = text_or_none(component.get("group"))
        version = text_or_none(component.get("version"))
        label = f"{group}/{name}" if group else name
        record: dict[str, Any] = {
            "kind": "software",
            "name": f"{label} {version}" if version else label,
            "vendor": _vendor(component),
            "product": name,
            "version": version,
            "cpe": text_or_none(component.get("cpe")),
            "purl": text_or_none(component.get("purl")),
            "bom_ref": text_or_none(component.get("bom-ref")),
        }
        out.append(AssetRecord(row=row, data={k: v for k, v in record.items() if v is not None}))
    return out


def _vendor(component: dict[str, Any]) -> str | None:
    """Supplier, else manufacturer (1.6), else publisher: the organisation behind the component."""
    for key in ("supplier", "manufacturer"):
        party = component.get(key)
        if isinstance(party, dict) and text_or_none(party.get("name")):
            return text_or_none(party.get("name"))
    return text_or_none(component.get("publisher"))
