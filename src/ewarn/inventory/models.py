"""What clients send to the inventory and what an import reports back."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ewarn.models.asset import (
    AssetKind,
    CareDependency,
    ClinicalCriticality,
    Criticality,
    EquipmentCategory,
    NetworkExposure,
)
from ewarn.models.common import Contract


class AssetIn(Contract):
    """An asset as registered by a client; ``validate.normalise_asset`` turns it into an ``Asset``."""

    kind: AssetKind
    name: str | None = None  # defaults to the value, CPE/PURL or vendor + product
    value: str | None = None
    vendor: str | None = None
    product: str | None = None
    version: str | None = None
    cpe: str | None = None
    purl: str | None = None
    bom_ref: str | None = None
    udi_di: str | None = None
    serial: str | None = None
    category: EquipmentCategory | None = None
    care_dependency: CareDependency | None = None
    supports: str | None = None
    clinical_criticality: ClinicalCriticality | None = None
    network_exposure: NetworkExposure | None = None
    location: str | None = None
    owner: str | None = None
    parent_id: str | None = None
    criticality: Criticality = Criticality.MEDIUM
    tags: list[str] = Field(default_factory=list)
    not_affected: list[str] = Field(default_factory=list)


class FieldProblem(BaseModel):
    """One reason an asset was refused, named by the field it concerns."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RowError(BaseModel):
    """A record of an import that was not applied: CSV line number, bom-ref or statement, and why."""

    row: int | str
    reason: str


class ImportReport(BaseModel):
    """Outcome of one import; valid rows are applied even when others fail."""

    imported: int = 0  # assets that did not exist (or were deleted) before
    updated: int = 0  # assets that existed and changed
    unchanged: int = 0  # assets that existed exactly so
    removed: int = 0  # components a device's new SBOM no longer lists
    errors: list[RowError] = Field(default_factory=list)
