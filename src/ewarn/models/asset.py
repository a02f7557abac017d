"""Assets a provider registers: networks, names, software, medical devices and infrastructure equipment."""

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
    # building, power, safety and security equipment: maker/model/firmware, category and what care depends on it
    INFRASTRUCTURE = "infrastructure"


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


class EquipmentCategory(StrEnum):
    """What kind of non-medical equipment an infrastructure asset is."""

    BUILDING_AUTOMATION = "building_automation"  # building management, HVAC, air handling, lighting
    POWER = "power"  # UPS, power distribution and management, generators
    FIRE_SAFETY = "fire_safety"  # fire panels, detection, suppression, evacuation
    ACCESS_CONTROL = "access_control"  # door controllers, badge readers, access management
    VIDEO = "video"  # cameras, video recorders and management
    COMMUNICATION = "communication"  # intercoms, paging, telephony gateways
    NETWORK_GATEWAY = "network_gateway"  # network and serial gateways, protocol converters, routers
    LAB_AUTOMATION = "lab_automation"  # laboratory and pharmacy automation, environment monitoring
    OTHER = "other"

    @classmethod
    def _missing_(cls, value: object) -> EquipmentCategory | None:
        # the words operators and inventories use for the same categories
        if isinstance(value, str):
            return _CATEGORY_ALIASES.get(value.strip().lower().replace("-", "_").replace(" ", "_"))
        return None


_CATEGORY_ALIASES = {
    **{word: EquipmentCategory.BUILDING_AUTOMATION for word in ("hvac", "bms", "bas", "building")},
    **{word: EquipmentCategory.POWER for word in ("ups", "power_ups", "pdu", "energy")},
    **{word: EquipmentCategory.FIRE_SAFETY for word in ("fire", "fire_alarm")},
    **{word: EquipmentCategory.ACCESS_CONTROL for word in ("access", "physical_access")},
    **{word: EquipmentCategory.VIDEO for word in ("cctv", "camera", "video_surveillance", "surveillance")},
    **{word: EquipmentCategory.COMMUNICATION for word in ("intercom", "paging", "telephony")},
    **{word: EquipmentCategory.NETWORK_GATEWAY for word in ("gateway", "serial_gateway", "network")},
    **{word: EquipmentCategory.LAB_AUTOMATION for word in ("lab", "laboratory", "pharmacy")},
    "pharmacy_automation": EquipmentCategory.LAB_AUTOMATION,
}


class CareDependency(StrEnum):
    """How much patient care depends on a piece of equipment (scored like a device's clinical role)."""

    LIFE_SUSTAINING = "life_sustaining"  # e.g. the UPS feeding intensive care, operating-theatre air handling
    TREATMENT = "treatment"
    DIAGNOSTIC = "diagnostic"
    SUPPORT = "support"
    NONE = "none"  # no care depends on it: the lobby camera


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
    serial: str | None = None  # serial number of one unit (infrastructure equipment)
    category: EquipmentCategory | None = None  # infrastructure equipment only
    care_dependency: CareDependency | None = None  # infrastructure equipment only
    supports: str | None = None  # what care depends on it, in words: 'UPS feeding ICU'
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
