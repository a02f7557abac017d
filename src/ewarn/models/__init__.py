"""Pydantic contracts for everything that crosses a stage, storage or API boundary."""

from ewarn.models.alert import Alert, AlertStatus, MatchDetail, Severity
from ewarn.models.asset import (
    Asset,
    AssetChange,
    AssetKind,
    ClinicalCriticality,
    Criticality,
    NetworkExposure,
)
from ewarn.models.common import TLP
from ewarn.models.delivery import Delivery, DeliveryAttempt, DeliveryStatus
from ewarn.models.indicator import (
    AffectedProduct,
    Indicator,
    IndicatorType,
    ProductStatus,
    Rejection,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.models.provider import Csirt, Principal, Provider, Role
from ewarn.models.subscription import Channel, Digest, Subscription, SubscriptionFilters

__all__ = [
    "TLP",
    "AffectedProduct",
    "Alert",
    "AlertStatus",
    "Asset",
    "AssetChange",
    "AssetKind",
    "Channel",
    "ClinicalCriticality",
    "Criticality",
    "Csirt",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "Digest",
    "Indicator",
    "IndicatorType",
    "MatchDetail",
    "NetworkExposure",
    "Principal",
    "ProductStatus",
    "Provider",
    "Rejection",
    "Role",
    "Severity",
    "SourceRef",
    "Subscription",
    "SubscriptionFilters",
    "VersionRange",
    "VulnerabilityInfo",
]
