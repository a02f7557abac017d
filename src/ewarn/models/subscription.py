"""Where and how a provider wants its alerts."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr

from ewarn.models.alert import Severity
from ewarn.models.asset import AssetKind, EquipmentCategory
from ewarn.models.common import TLP, Contract, Label, LanguageTag, UtcDatetime

MAX_FILTER_ITEMS = 100


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    SYSLOG = (
        "syslog"  # RFC 5424 + CEF to a SIEM: syslog+tcp://host:port (RFC 6587) or syslog+tls:// (RFC 5425)
    )


class PayloadFormat(StrEnum):
    """How an alert is written for the receiving tool (at most 16 characters: the column's width)."""

    JSON = "json"  # the Standard Webhooks JSON payload (schemas/webhook-payload.v1.json)
    STIX = "stix"  # a STIX 2.1 bundle
    TEAMS = "teams"  # a Microsoft Teams message with an Adaptive Card (incoming webhook or Workflows URL)
    SLACK = "slack"  # a Slack Block Kit message (incoming webhook URL)
    THEHIVE = "thehive"  # a TheHive 5 alert (POST /api/v1/alert), authenticated with the stored API key
    CEF = "cef"  # an ArcSight CEF line inside an RFC 5424 syslog message (the syslog channel)


# Which formats each channel can carry; the first is the channel's default. E-mail renders its own text and
# ignores the format (json and stix are kept accepted there, as before).
CHANNEL_FORMATS: dict[Channel, tuple[PayloadFormat, ...]] = {
    Channel.WEBHOOK: (
        PayloadFormat.JSON,
        PayloadFormat.STIX,
        PayloadFormat.TEAMS,
        PayloadFormat.SLACK,
        PayloadFormat.THEHIVE,
    ),
    Channel.EMAIL: (PayloadFormat.JSON, PayloadFormat.STIX),
    Channel.SYSLOG: (PayloadFormat.CEF,),
}


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
    # CSIRT subscriptions (issue 14) and anyone narrowing further: KEV only, device classes, providers
    known_exploited_only: bool = False
    asset_kinds: list[AssetKind] = Field(default_factory=list, max_length=MAX_FILTER_ITEMS)  # empty: all
    provider_ids: list[Label] = Field(default_factory=list, max_length=MAX_FILTER_ITEMS)  # empty: all
    # the e-mail's language ("de", "fr-CH"); unset: the provider's language
    language: LanguageTag | None = None


class Subscription(Contract):
    id: str
    provider_id: str
    channel: Channel
    target: str  # webhook URL, e-mail address, or syslog+tcp:// / syslog+tls:// host:port
    # whsec_… for webhooks; the TheHive API key for the thehive format; never returned by the API
    secret: SecretStr | None = None
    previous_secret: SecretStr | None = None  # still signed with during rotation
    previous_secret_expires_at: UtcDatetime | None = None
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    payload_format: PayloadFormat = PayloadFormat.JSON
    digest: Digest = Digest.NONE
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: UtcDatetime | None = None
    # A CSIRT's subscription to its constituency: ``provider_id`` is then the provider of the alert routed
    # (empty when read outside routing).
    csirt_id: str | None = None
