"""Assets a provider registers: networks, names, software and medical devices."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from ewarn.models.common import Contract, UtcDatetime


class AssetKind(StrEnum):
    NETWORK = "network"  # value: IPv4/IPv6 CIDR (a single address is a /32 or /128)
    DOMAIN = "domain"  # value: a registered domain; its subdomains match too
    HOSTNAME = "hostname"  # value: one exact host name
    EMAIL_DOMAIN = "email_domain"  # value: the domain after '@'
    ASN = "asn"  # value: "AS64500"
    SOFTWARE = "software"  # vendor/product/version and/or cpe/purl
    MEDICAL_DEVICE = "medical_device"  # manufacturer/model/firmware (+ optional SBOM components)


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ClinicalCriticality(StrEnum):
    LIFE_SUSTAINING = "life_sustaining"
    DIAGNOSTIC = "diagnostic"
    TREATMENT = "treatment"
    SUPPORT = "support"


class NetworkExposure(StrEnum):
    INTERNET = "internet"
    INTERNAL = "internal"
    ISOLATED = "isolated"


class Asset(Contract):
    """One registered asset. Which fields apply depends on ``kind``; ``value`` is the matchable key."""

    id: str
    provider_id: str
    kind: AssetKind
    name: str  # what the provider calls it, used in explanations: 'PACS DMZ'
    value: str | None = None  # network CIDR, domain, hostname, email domain or ASN
    vendor: str | None = None  # software vendor or device manufacturer
    product: str | None = None  # software product or device model
    version: str | None = None  # software version or device firmware/software version
    cpe: str | None = None
    purl: str | None = None
    bom_ref: str | None = None  # CycloneDX bom-ref of the SBOM component; VEX statements refer to it
    udi_di: str | None = None
    clinical_criticality: ClinicalCriticality | None = None
    network_exposure: NetworkExposure | None = None
    location: str | None = None
    owner: str | None = None
    parent_id: str | None = None  # an SBOM component belongs to its device or application
    criticality: Criticality = Criticality.MEDIUM
    tags: list[str] = Field(default_factory=list)
    not_affected: list[str] = Field(default_factory=list)  # CVE ids a VEX statement marks not affecting it
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class AssetChange(Contract):
    """Compacted topic ``ewarn.assets.v1`` (key = provider id): a provider's inventory changed."""

    schema_version: Literal[1] = 1
    provider_id: str
    changed_asset_ids: list[str] = Field(default_factory=list)
    removed_asset_ids: list[str] = Field(default_factory=list)
    changed_at: UtcDatetime
