"""An asset as one compact index record, and the ``AssetRef`` decoded from it when it matches.

Each asset is one record (``marshal`` of a tuple of plain values) — no pydantic object is kept: 223 traced
bytes per asset at a million assets (see bench/README.md). Enum values are stored as their position.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from ewarn.correlate import products
from ewarn.correlate.entries import Record
from ewarn.models import Asset, AssetKind, ClinicalCriticality, Criticality, NetworkExposure
from ewarn.models.asset import CareDependency, EquipmentCategory

T = TypeVar("T")

_KINDS = tuple(AssetKind)
_KIND_CODE = {kind: i for i, kind in enumerate(_KINDS)}
_CRITICALITIES = tuple(Criticality)
_CRITICALITY_CODE = {c: i for i, c in enumerate(_CRITICALITIES)}
_CLINICAL = tuple(ClinicalCriticality)
_CLINICAL_CODE: dict[ClinicalCriticality | None, int | None] = {c: i for i, c in enumerate(_CLINICAL)}
_CLINICAL_CODE[None] = None
_EXPOSURES = tuple(NetworkExposure)
_EXPOSURE_CODE: dict[NetworkExposure | None, int | None] = {e: i for i, e in enumerate(_EXPOSURES)}
_EXPOSURE_CODE[None] = None
_CATEGORIES = tuple(EquipmentCategory)
_CATEGORY_CODE: dict[EquipmentCategory | None, int | None] = {c: i for i, c in enumerate(_CATEGORIES)}
_CATEGORY_CODE[None] = None
_CARE = tuple(CareDependency)
_CARE_CODE: dict[CareDependency | None, int | None] = {c: i for i, c in enumerate(_CARE)}
_CARE_CODE[None] = None
# How much each clinical class / exposure outranks another, to inherit the worse one from a parent device.
_CLINICAL_WEIGHT = {
    ClinicalCriticality.SUPPORT: 1,
    ClinicalCriticality.DIAGNOSTIC: 2,
    ClinicalCriticality.TREATMENT: 3,
    ClinicalCriticality.LIFE_SUSTAINING: 4,
}
_CARE_WEIGHT = {
    CareDependency.NONE: 0,
    CareDependency.SUPPORT: 1,
    CareDependency.DIAGNOSTIC: 2,
    CareDependency.TREATMENT: 3,
    CareDependency.LIFE_SUSTAINING: 4,
}
_EXPOSURE_WEIGHT = {NetworkExposure.ISOLATED: 1, NetworkExposure.INTERNAL: 2, NetworkExposure.INTERNET: 3}
_CRITICALITY_WEIGHT = {
    Criticality.LOW: 1,
    Criticality.MEDIUM: 2,
    Criticality.HIGH: 3,
    Criticality.CRITICAL: 4,
}


@dataclass(frozen=True, slots=True)
class AssetRef:
    """What correlation needs to know about one asset, decoded from its record when it matches."""

    id: str
    provider_id: str
    kind: AssetKind
    name: str
    value: str | None
    vendor: str | None
    product: str | None
    version: str | None
    cpe: str | None
    purl: str | None
    criticality: Criticality
    clinical_criticality: ClinicalCriticality | None
    network_exposure: NetworkExposure | None
    not_affected: frozenset[str]
    location: str | None
    parent_name: str | None  # the device or application an SBOM component belongs to
    category: EquipmentCategory | None = None  # infrastructure equipment (inherited by its components)
    care_dependency: CareDependency | None = None  # how much care depends on the equipment
    supports: str | None = None  # which care, in the operator's words: 'UPS feeding ICU'
    owner: str | None = None  # who owns it (the inventory's owner field), for the alert's contact

    @property
    def version_scheme(self) -> str:
        """The version ordering to compare this asset's version in (its package ecosystem, or generic)."""
        if self.purl:
            parsed = products.parse_purl(self.purl)
            if parsed is not None:
                return parsed.type
        return "generic"

    @property
    def effective_version(self) -> str | None:
        """The recorded version, else the one in its PURL or CPE."""
        if self.version:
            return self.version
        if self.purl:
            parsed = products.parse_purl(self.purl)
            if parsed is not None and parsed.version:
                return parsed.version
        if self.cpe:
            cpe = products.parse_cpe(self.cpe)
            if cpe is not None and cpe.version:
                return cpe.version
        return None


def _worse(a: T | None, b: T | None, weight: Mapping[T, int]) -> T | None:
    if a is None or b is None:
        return b if a is None else a
    return a if weight[a] >= weight[b] else b


def encode(slot: int, asset: Asset, parent: Asset | None) -> Record:
    """One asset as a record; an SBOM component inherits the worse criticality and exposure of its parent."""
    clinical = asset.clinical_criticality
    exposure = asset.network_exposure
    criticality = asset.criticality
    category, care, supports = asset.category, asset.care_dependency, asset.supports
    if parent is not None:  # an SBOM component is as critical and as exposed as the device it runs in
        clinical = _worse(clinical, parent.clinical_criticality, _CLINICAL_WEIGHT)
        exposure = _worse(exposure, parent.network_exposure, _EXPOSURE_WEIGHT)
        criticality = _worse(criticality, parent.criticality, _CRITICALITY_WEIGHT) or criticality
        category = category or parent.category
        if (inherited := _worse(care, parent.care_dependency, _CARE_WEIGHT)) is not care:
            care, supports = inherited, parent.supports
    return marshal.dumps(
        (
            slot,
            asset.id,
            _KIND_CODE[asset.kind],
            asset.name,
            asset.value,
            asset.vendor,
            asset.product,
            asset.version,
            asset.cpe,
            asset.purl,
            _CRITICALITY_CODE[criticality],
            _CLINICAL_CODE[clinical],
            _EXPOSURE_CODE[exposure],
            tuple(sorted({c.upper() for c in not_affected}))
            if (not_affected := asset.not_affected)
            else None,
            asset.location,
            parent.name if parent is not None else None,
            _CATEGORY_CODE[category],
            _CARE_CODE[care],
            supports,
            asset.owner or (parent.owner if parent is not None else None),
        )
    )


def decode(record: Record, provider_ids: Sequence[str]) -> AssetRef:
    """Decode one record (``provider_ids``: provider id per slot)."""
    f = marshal.loads(record)  # noqa: S302 - our own records, never external input
    return AssetRef(
        id=f[1],
        provider_id=provider_ids[f[0]],
        kind=_KINDS[f[2]],
        name=f[3],
        value=f[4],
        vendor=f[5],
        product=f[6],
        version=f[7],
        cpe=f[8],
        purl=f[9],
        criticality=_CRITICALITIES[f[10]],
        clinical_criticality=None if f[11] is None else _CLINICAL[f[11]],
        network_exposure=None if f[12] is None else _EXPOSURES[f[12]],
        not_affected=frozenset(f[13] or ()),
        location=f[14],
        parent_name=f[15],
        category=None if f[16] is None else _CATEGORIES[f[16]],
        care_dependency=None if f[17] is None else _CARE[f[17]],
        supports=f[18],
        owner=f[19],
    )


class Filing(NamedTuple):
    """The fields of a record that decide the keys it is filed under."""

    asset_id: str
    kind: AssetKind
    value: str | None
    vendor: str | None
    product: str | None
    cpe: str | None
    purl: str | None


def filing(record: Record) -> Filing:
    """The filing fields of one record."""
    f = marshal.loads(record)  # noqa: S302 - our own records, never external input
    return Filing(f[1], _KINDS[f[2]], f[4], f[5], f[6], f[8], f[9])
