"""Sightings: a provider saw an observable attack it; relayed to the sector, turned into blocklist entries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ewarn.models.alert import Severity
from ewarn.models.common import FREE_TEXT, ONE_LINE, TLP, Contract, UtcDatetime, text_limits

# The feed id every relayed sighting's indicator carries (``Indicator.source.feed_id`` and ``sources``): the
# correlator recognises a sighting by it, and it names no provider.
SIGHTING_FEED = "sighting-relay"
SIGHTING_FEED_KIND = "sighting"
# A sighting read from an ingested STIX bundle is reported by ``feed:<feed id>`` (no provider to protect).
FEED_REPORTER = "feed:"
# The asset id of a relay alert: the sector relay, not one of the recipient's assets.
RELAY_ASSET_ID = "sector-sighting-relay"


class SightingKind(StrEnum):
    """What the provider experienced."""

    COMPROMISED = "compromised"  # we were compromised by it
    BLOCKED = "blocked"  # we blocked it
    SCAN = "scan"  # we saw it scan us


class ObservableType(StrEnum):
    IP = "ip"  # one IPv4/IPv6 address
    CIDR = "cidr"  # an IPv4/IPv6 network
    DOMAIN = "domain"
    URL = "url"


class SightingStatus(StrEnum):
    RELAYED = "relayed"  # relayed to the sector and a blocklist entry
    HELD = "held"  # held back from blocklists (``held_reason`` says why)


class HeldReason(StrEnum):
    """Why a sighting never becomes a blocklist entry (the poisoning guards)."""

    PRIVATE_OR_RESERVED = "private_or_reserved"  # private, loopback, link-local, documentation, multicast…
    ALLOW_LISTED = "allow_listed"  # the operator's allow-list: public resolvers, the sector's own services
    PROVIDER_ASSET = (
        "provider_asset"  # inside a provider's registered range or domain: correlated, not blocked
    )
    TOO_WIDE = "too_wide"  # a network wider than the configured minimum prefix
    TLP_RED = "tlp_red"  # the reporter keeps it to itself: its own blocklist only, no relay


Observable = Annotated[str, text_limits(2048, min_length=1), ONE_LINE]
Context = Annotated[str, text_limits(2000), FREE_TEXT]


class SightingIn(Contract):
    """What a provider submits (``POST /api/v1/sightings``)."""

    observable: Observable
    type: ObservableType
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    count: int = Field(default=1, ge=1, le=1_000_000_000)
    confidence: int = Field(default=75, ge=0, le=100)
    kind: SightingKind
    context: Context | None = None
    # TLP:AMBER unless the operator lets this provider share CLEAR/GREEN (settings.sightings.clear_tlp_providers)
    tlp: TLP = TLP.AMBER
    # name the submitting provider to the others (off by default: the reporter stays anonymous)
    share_identity: bool = False

    @model_validator(mode="after")
    def _seen_in_order(self) -> SightingIn:
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        return self


class Sighting(Contract):
    """A stored sighting as its reporter (its CSIRT, the operator) reads it."""

    schema_version: Literal[1] = 1
    id: str
    provider_id: str
    indicator_key: str
    indicator_type: str
    value: str
    kind: SightingKind
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    count: int
    confidence: int
    context: str | None = None
    tlp: TLP
    share_identity: bool
    status: SightingStatus
    held_reason: HeldReason | None = None
    received_at: UtcDatetime
    expires_at: UtcDatetime
    confirmed_by: str | None = None  # the CSIRT that confirmed it
    confirmed_at: UtcDatetime | None = None


class SightingReceipt(Contract):
    """The answer to a submission: what happened to it and the entry's state across the sector."""

    id: str
    indicator_key: str
    status: SightingStatus
    held_reason: HeldReason | None = None
    severity: Severity | None = None  # of the blocklist entry after this sighting (None when held back)
    providers: int = 0  # distinct providers whose live sightings back the entry
    confirmed: bool = False
    relayed_to: int = 0  # providers that got a relay alert revision from this submission


class StixSightingReport(Contract):
    """The answer to ``POST /api/v1/sightings/stix``: one receipt per STIX ``sighting`` object."""

    receipts: list[SightingReceipt] = Field(default_factory=list)
    ignored: int = 0  # objects of other types (the indicators and observables the sightings point to)


def sighted_in_range(value: str) -> str:
    """The title of a correlated sighting: another hospital saw this, and it is one of the recipient's own."""
    return f"{value}, seen attacking another hospital, is yours: possible compromise"
