"""CycloneDX SBOM and hardware BOM (JSON, any 1.x spec version): every component becomes an asset.

Software components become software assets. Hardware components (``type`` ``device``, or ``hardware`` as some
HBOM tools write it) become infrastructure equipment: the manufacturer is the maker, the name the model, the
version (else the version of a ``firmware`` component nested in it, which is then not imported on its own) the
firmware. What CycloneDX has no field for is read from component properties, ``ewarn:`` names first:
``ewarn:category`` (``other`` when absent), ``ewarn:care_dependency``, ``ewarn:supports``, ``ewarn:location``,
``ewarn:network_exposure``, ``ewarn:criticality``, ``ewarn:name``, and the serial number from
``ewarn:serial`` / ``serialNumber`` / ``serial``. Without ``ewarn:name`` a unit is named by its model and its
serial number or bom-ref, so two units of one model stay two assets.

Nested components (``components[].components``) are flattened. ``metadata.component`` (the subject of the
BOM) is not imported: it is the application or device the SBOM describes, registered on its own and named
with ``device`` so that the components become part of it. A later SBOM for the same device replaces the
earlier one (see ``inventory.service``).
"""

from __future__ import annotations

import re
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
    folded = _firmware_folded_into_devices(components)
    for path, component in components:
        row = text_or_none(component.get("bom-ref")) or path
        name = text_or_none(component.get("name"))
        if name is None:
            out.append(RowError(row=row, reason="component has no name"))
            continue
        if path in folded:
            continue
        if component.get("type") in HARDWARE_TYPES:
            out.append(AssetRecord(row=row, data=_equipment_record(component, name)))
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


HARDWARE_TYPES = frozenset({"device", "hardware"})
_SERIAL_PROPERTIES = ("ewarn:serial", "serialnumber", "serial", "serial_number", "cdx:device:serialnumber")


def _properties(component: dict[str, Any]) -> dict[str, str]:
    """Component properties by lower-cased name (the first value of a repeated name)."""
    found: dict[str, str] = {}
    items = component.get("properties")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            key, value = text_or_none(item.get("name")), text_or_none(item.get("value"))
            if key is not None and value is not None:
                found.setdefault(key.lower(), value)
    return found


def _nested_firmware(component: dict[str, Any]) -> dict[str, Any] | None:
    nested = component.get("components")
    for child in nested if isinstance(nested, list) else ():
        if isinstance(child, dict) and child.get("type") == "firmware":
            return child
    return None


def _firmware_folded_into_devices(components: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Paths of firmware components that give the version of the device they sit in (not imported apart)."""
    folded: set[str] = set()
    for path, component in components:
        if component.get("type") in HARDWARE_TYPES and not text_or_none(component.get("version")):
            firmware = _nested_firmware(component)
            if firmware is not None and text_or_none(firmware.get("version")):
                nested = component["components"]
                folded.add(f"{path}.components[{nested.index(firmware)}]")
    return folded


def _equipment_record(component: dict[str, Any], model: str) -> dict[str, Any]:
    props = _properties(component)
    version = text_or_none(component.get("version"))
    if version is None and (firmware := _nested_firmware(component)) is not None:
        version = text_or_none(firmware.get("version"))
    serial = next((props[k] for k in _SERIAL_PROPERTIES if k in props), None)
    bom_ref = text_or_none(component.get("bom-ref"))
    unit = serial or bom_ref
    record: dict[str, Any] = {
        "kind": "infrastructure",
        "name": props.get("ewarn:name") or (f"{model} ({unit})" if unit else model),
        "vendor": _maker(component),
        "product": model,
        "version": version,
        "cpe": text_or_none(component.get("cpe")),
        "purl": text_or_none(component.get("purl")),
        "bom_ref": bom_ref,
        "serial": serial,
        "category": _enum_text(props.get("ewarn:category", "other")),
        "care_dependency": _enum_text(props.get("ewarn:care_dependency")),
        "supports": props.get("ewarn:supports"),
        "location": props.get("ewarn:location"),
        "network_exposure": _enum_text(props.get("ewarn:network_exposure")),
        "criticality": _enum_text(props.get("ewarn:criticality")),
    }
    return {k: v for k, v in record.items() if v is not None}


def _enum_text(value: str | None) -> str | None:
    """Enumerations as the CSV import reads them: any case, spaces or hyphens for underscores."""
    return None if value is None else re.sub(r"[\s-]+", "_", value.lower())


def _maker(component: dict[str, Any]) -> str | None:
    """For hardware the manufacturer is the maker; a supplier may only be the distributor."""
    party = component.get("manufacturer")
    if isinstance(party, dict) and text_or_none(party.get("name")):
        return text_or_none(party.get("name"))
    return _vendor(component)


def _vendor(component: dict[str, Any]) -> str | None:
    """Supplier, else manufacturer (1.6), else publisher: the organisation behind the component."""
    for key in ("supplier", "manufacturer"):
        party = component.get(key)
        if isinstance(party, dict) and text_or_none(party.get("name")):
            return text_or_none(party.get("name"))
    return text_or_none(component.get("publisher"))
