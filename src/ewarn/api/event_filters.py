"""Narrowing the alert event stream as a subscription narrows its channel: severity, KEV, asset kinds, providers.

Every role may pass them on ``/api/v1/alert-events`` and its SSE stream; they only ever narrow what the caller
already reads (its tenants and the TLP read rule), so a CSIRT gets "every critical KEV alert of these two
hospitals" without a subscription. An event whose alert is not stored (yet) passes only an unfiltered stream:
nothing can be said about its severity.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, status
from pydantic import ValidationError

from ewarn.api.params import ID_PATTERN, MAX_ID_LENGTH
from ewarn.models.alert import Alert, Severity
from ewarn.models.asset import AssetKind
from ewarn.models.subscription import MAX_FILTER_ITEMS

_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class EventFilters:
    min_severity: Severity | None = None
    known_exploited_only: bool = False
    asset_kinds: frozenset[AssetKind] = field(default_factory=frozenset)
    provider_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def narrows_alerts(self) -> bool:
        return self.min_severity is not None or self.known_exploited_only or bool(self.asset_kinds)

    def scope(self, visible: Collection[str] | None) -> set[str] | None:
        """The providers to read: the caller's (None: all) narrowed to ``provider_ids`` when given."""
        if not self.provider_ids:
            return None if visible is None else set(visible)
        return set(self.provider_ids) if visible is None else set(visible) & self.provider_ids

    def admits(self, alert: dict[str, Any] | None) -> bool:
        """Whether an event's alert passes the severity, KEV and asset-kind filters."""
        if not self.narrows_alerts:
            return True
        if alert is None:
            return False
        try:
            parsed = Alert.model_validate(alert)
        except ValidationError:
            return False
        if self.min_severity is not None and parsed.severity.rank < self.min_severity.rank:
            return False
        if self.known_exploited_only and not parsed.known_exploited:
            return False
        return not self.asset_kinds or parsed.match.asset_kind in self.asset_kinds


def event_filters(
    min_severity: Annotated[Severity | None, Query(description="Only alerts at least this severe")] = None,
    known_exploited_only: Annotated[bool, Query(description="Only alerts of a CVE in CISA KEV")] = False,
    asset_kinds: Annotated[
        list[AssetKind] | None,
        Query(max_length=MAX_FILTER_ITEMS, description="Only alerts on these asset kinds"),
    ] = None,
    provider_ids: Annotated[
        list[str] | None,
        Query(max_length=MAX_FILTER_ITEMS, description="Only these providers (within the caller's own)"),
    ] = None,
) -> EventFilters:
    """The stream filters of the query string; 422 for a provider id no provider can have."""
    for provider_id in provider_ids or ():
        if len(provider_id) > MAX_ID_LENGTH or not _ID.fullmatch(provider_id):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "provider_ids: not a provider id")
    return EventFilters(
        min_severity=min_severity,
        known_exploited_only=known_exploited_only,
        asset_kinds=frozenset(asset_kinds or ()),
        provider_ids=frozenset(provider_ids or ()),
    )


EventFiltersDep = Annotated[EventFilters, Depends(event_filters)]
