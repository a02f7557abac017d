"""Where and how a provider wants its alerts."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr

from ewarn.models.alert import Severity
from ewarn.models.asset import EquipmentCategory
from ewarn.models.common import TLP, Contract, Label, UtcDatetime

MAX_FILTER_ITEMS = 100


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class Digest(StrEnum):
    NONE = "none"
    HOURLY = "hourly"
    DAILY = "daily"


class SubscriptionFilters(Contract):
    min_severity: Severity = Severity.LOW
    indicator_types: list[Label] = Field(default_factory=list, max_length=MAX_FILTER_ITEMS)  # empty: all
    asset_tags: list[Label] = Field(default_factory=list, max_length=MAX_FILTER_ITEMS)  # empty: all
    asset_categories: list[EquipmentCategory] = Field(
        default_factory=list, max_length=MAX_FILTER_ITEMS
    )  # empty: all
    tlp_ceiling: TLP = TLP.AMBER  # the most restricted TLP this channel may carry


class Subscription(Contract):
    id: str
    provider_id: str
    channel: Channel
    target: str  # webhook URL or e-mail address
    secret: SecretStr | None = None  # whsec_… for webhooks; never returned by the API
    previous_secret: SecretStr | None = None  # still signed with during rotation
    previous_secret_expires_at: UtcDatetime | None = None
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    payload_format: str = "json"  # json | stix
    digest: Digest = Digest.NONE
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: UtcDatetime | None = None
