"""Validate and normalise an asset by kind, and derive its natural key (and so its deterministic id)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ewarn.errors import EwarnError
from ewarn.ids import asset_id
from ewarn.inventory import fields
from ewarn.inventory.models import AssetIn, FieldProblem
from ewarn.models.asset import Asset, AssetKind, CareDependency, EquipmentCategory
from ewarn.models.common import text_problem

MAX_TEXT = 512
MAX_LABEL = 64  # a tag or a CVE id
MAX_LIST = 1000  # tags or not-affected CVEs of one asset

_VALUE_NORMALISERS: dict[AssetKind, Callable[[str], str]] = {
    AssetKind.NETWORK: fields.network,
    AssetKind.DOMAIN: fields.domain,
    AssetKind.HOSTNAME: fields.hostname,
    AssetKind.EMAIL_DOMAIN: fields.email_domain,
    AssetKind.ASN: fields.asn,
}
_PRODUCT_FIELDS = frozenset({"vendor", "product", "version", "cpe", "purl", "bom_ref", "parent_id"})
_DEVICE_FIELDS = frozenset({"udi_di", "clinical_criticality"})
_EQUIPMENT_FIELDS = frozenset({"serial", "category", "care_dependency", "supports"})
_ENUM_FIELDS = frozenset({"clinical_criticality", "category", "care_dependency"})
# Fields that mean nothing for a kind are refused rather than silently dropped, so a misfiled row is noticed.
_NOT_FOR_KIND: dict[AssetKind, frozenset[str]] = {
    **{kind: _PRODUCT_FIELDS | _DEVICE_FIELDS | _EQUIPMENT_FIELDS for kind in _VALUE_NORMALISERS},
    AssetKind.SOFTWARE: frozenset({"value"}) | _DEVICE_FIELDS | _EQUIPMENT_FIELDS,
    AssetKind.MEDICAL_DEVICE: frozenset({"value"}) | _EQUIPMENT_FIELDS,
    AssetKind.INFRASTRUCTURE: frozenset({"value"}) | _DEVICE_FIELDS,
}
_TEXT_FIELDS = (
    "name",
    "value",
    "vendor",
    "product",
    "version",
    "cpe",
    "purl",
    "bom_ref",
    "udi_di",
    "serial",
    "supports",
    "location",
    "owner",
    "parent_id",
)


class AssetInvalid(EwarnError):
    """An asset was refused; ``problems`` name each field and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def asset_from_mapping(data: Mapping[str, Any], *, provider_id: str) -> Asset:
    """Parse and normalise raw data (a CSV row, an SBOM component); every problem becomes ``AssetInvalid``."""
    try:
        raw = AssetIn.model_validate(data)
    except ValidationError as exc:
        raise AssetInvalid(
            [
                FieldProblem(field=".".join(str(p) for p in err["loc"]) or "asset", message=err["msg"])
                for err in exc.errors()
            ]
        ) from exc
    return normalise_asset(raw, provider_id=provider_id)


def normalise_asset(raw: AssetIn, *, provider_id: str) -> Asset:
    """Check ``raw`` against the rules of its kind; return the canonical asset with its deterministic id."""
    problems: list[FieldProblem] = []
    text = {name: _clean(getattr(raw, name), name, problems) for name in _TEXT_FIELDS}

    for name in sorted(_NOT_FOR_KIND[raw.kind]):
        if text.get(name) is not None or (name in _ENUM_FIELDS and getattr(raw, name) is not None):
            problems.append(FieldProblem(field=name, message=f"not used for kind {raw.kind.value}"))

    has_identifier = text["cpe"] is not None or text["purl"] is not None
    normaliser = _VALUE_NORMALISERS.get(raw.kind)
    if normaliser is not None:
        if text["value"] is None:
            problems.append(FieldProblem(field="value", message=f"required for kind {raw.kind.value}"))
        else:
            text["value"] = _apply(normaliser, text["value"], "value", problems)
    checks = (
        ("cpe", fields.cpe),
        ("purl", fields.purl),
        ("udi_di", fields.udi_di),
        ("serial", fields.serial),
    )
    for name, check in checks:
        given = text[name]
        if given is not None and name not in _NOT_FOR_KIND[raw.kind]:
            text[name] = _apply(check, given, name, problems)

    if raw.kind is AssetKind.SOFTWARE and not (
        has_identifier or (text["vendor"] is not None and text["product"] is not None)
    ):
        problems.append(FieldProblem(field="cpe/purl/vendor+product", message="software needs one of them"))
    if raw.kind is AssetKind.MEDICAL_DEVICE:
        if text["vendor"] is None:
            problems.append(FieldProblem(field="vendor", message="a medical device needs its manufacturer"))
        if text["product"] is None:
            problems.append(FieldProblem(field="product", message="a medical device needs its model"))
    if raw.kind is AssetKind.INFRASTRUCTURE:
        problems += equipment_problems(raw, text)

    not_affected: set[str] = set()
    for i, item in enumerate(_labels(raw.not_affected, "not_affected", problems)):
        cve = _apply(fields.cve, item, f"not_affected[{i}]", problems)
        if cve is not None:
            not_affected.add(cve)
    tags = sorted(set(_labels(raw.tags, "tags", problems)))

    if problems:
        raise AssetInvalid(problems)
    name = text["name"] or _default_name(raw.kind, text)
    asset = Asset(
        id="",
        provider_id=provider_id,
        kind=raw.kind,
        name=name,
        value=text["value"],
        vendor=text["vendor"],
        product=text["product"],
        version=text["version"],
        cpe=text["cpe"],
        purl=text["purl"],
        bom_ref=text["bom_ref"],
        udi_di=text["udi_di"],
        serial=text["serial"],
        category=raw.category,
        care_dependency=raw.care_dependency,
        supports=text["supports"],
        clinical_criticality=raw.clinical_criticality,
        network_exposure=raw.network_exposure,
        location=text["location"],
        owner=text["owner"],
        parent_id=text["parent_id"],
        criticality=raw.criticality,
        tags=tags,
        not_affected=sorted(not_affected),
    )
    asset.id = asset_id(provider_id=provider_id, kind=asset.kind.value, natural_key=natural_key(asset))
    if asset.parent_id == asset.id:
        raise AssetInvalid([FieldProblem(field="parent_id", message="an asset cannot be its own parent")])
    return asset


def natural_key(asset: Asset) -> str:
    """What makes two registrations the same asset.

    Software: its CPE, else PURL, else vendor/product/version, within its parent (the same library inside
    two devices is two assets). Devices: UDI-DI or manufacturer/model *plus the name*, because a UDI-DI
    identifies a model, not a unit, and a hospital runs many units of one model. The firmware version is
    left out so an upgrade updates the device instead of adding another. Infrastructure equipment: maker and
    serial number when given, else maker/model plus the name, like a device.
    """
    if asset.kind is AssetKind.SOFTWARE:
        if asset.cpe:
            key = f"cpe:{asset.cpe}"
        elif asset.purl:
            key = f"purl:{asset.purl}"
        else:
            key = "vpv:" + "/".join((asset.vendor or "", asset.product or "", asset.version or "")).casefold()
        return f"{asset.parent_id or ''}|{key}"
    if asset.kind is AssetKind.MEDICAL_DEVICE:
        model = f"udi:{asset.udi_di}" if asset.udi_di else f"mm:{asset.vendor}/{asset.product}".casefold()
        return f"{model}|{asset.name.casefold()}"
    if asset.kind is AssetKind.INFRASTRUCTURE:
        # a serial number names one unit of a maker; without it, as for devices, the name tells units apart
        if asset.serial:
            return f"serial:{asset.vendor}/{asset.serial}".casefold()
        return f"mm:{asset.vendor}/{asset.product}|{asset.name}".casefold()
    return asset.value or ""


def equipment_problems(raw: AssetIn, text: Mapping[str, str | None]) -> list[FieldProblem]:
    """What infrastructure equipment needs: its maker and model to match advisories, its category, and a
    stated care dependency whenever ``supports`` says which care relies on it (scoring reads the former)."""
    problems: list[FieldProblem] = []
    if text["vendor"] is None:
        problems.append(FieldProblem(field="vendor", message="infrastructure equipment needs its maker"))
    if text["product"] is None:
        problems.append(FieldProblem(field="product", message="infrastructure equipment needs its model"))
    if raw.category is None:
        choices = ", ".join(c.value for c in EquipmentCategory)
        problems.append(
            FieldProblem(field="category", message=f"infrastructure equipment needs its category: {choices}")
        )
    if text["supports"] is not None and raw.care_dependency is None:
        choices = ", ".join(c.value for c in CareDependency)
        problems.append(
            FieldProblem(
                field="care_dependency",
                message=f"'supports' names care that relies on this equipment; say how much: {choices}",
            )
        )
    return problems


def _default_name(kind: AssetKind, text: Mapping[str, str | None]) -> str:
    if kind in _VALUE_NORMALISERS:
        return text["value"] or ""
    parts = [text["vendor"], text["product"], text["version"]]
    joined = " ".join(p for p in parts if p)
    return joined or text["purl"] or text["cpe"] or kind.value


def _clean(value: str | None, name: str, problems: list[FieldProblem]) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if len(stripped) > MAX_TEXT:
        problems.append(FieldProblem(field=name, message=f"longer than {MAX_TEXT} characters"))
        return None
    why = text_problem(stripped)
    if why is not None:
        problems.append(FieldProblem(field=name, message=why))
        return None
    return stripped or None


def _labels(values: list[str], name: str, problems: list[FieldProblem]) -> list[str]:
    """Tags and CVE ids: at most ``MAX_LIST`` of them, each a short single line."""
    if len(values) > MAX_LIST:
        problems.append(FieldProblem(field=name, message=f"more than {MAX_LIST} items"))
        return []
    kept: list[str] = []
    for i, value in enumerate(values):
        cleaned = _clean(value, f"{name}[{i}]", problems)
        if cleaned is not None and len(cleaned) > MAX_LABEL:
            problems.append(FieldProblem(field=f"{name}[{i}]", message=f"longer than {MAX_LABEL} characters"))
        elif cleaned is not None:
            kept.append(cleaned)
    return kept


def _apply(fn: Callable[[str], str], value: str, name: str, problems: list[FieldProblem]) -> str | None:
    try:
        return fn(value)
    except ValueError as exc:
        problems.append(FieldProblem(field=name, message=str(exc)))
        return None
