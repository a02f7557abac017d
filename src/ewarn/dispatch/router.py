"""Which subscriptions receive an alert, and why the others do not. Pure: plain data in, decisions out."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ewarn.models.alert import Alert, Severity
from ewarn.models.provider import Role
from ewarn.models.subscription import Digest, Subscription
from ewarn.models.tlp_access import CHANNEL_TLP_LIMIT, may_read  # one TLP policy for channels and reads

# Digests collect the low end only: a high or critical warning never waits for the end of an hour.
DIGEST_MAX_SEVERITY = Severity.MEDIUM


@dataclass(frozen=True)
class Route:
    """The decision for one subscription: deliver (now or in a digest) or skip with a reason."""

    subscription: Subscription
    deliver: bool
    reason: str | None = None
    digest: Digest | None = None


def _csirt_skip_reason(alert: Alert, sub: Subscription) -> str | None:
    """The filters CSIRT subscriptions use (KEV, device class, provider) and the CSIRT's TLP rule."""
    filters = sub.filters
    if filters.known_exploited_only and not alert.known_exploited:
        return "not known exploited (KEV only)"
    if filters.asset_kinds and alert.match.asset_kind not in filters.asset_kinds:
        return f"asset kind {alert.match.asset_kind} not in {sorted(k.value for k in filters.asset_kinds)}"
    if filters.provider_ids and alert.provider_id not in filters.provider_ids:
        return f"provider {alert.provider_id} not in {sorted(filters.provider_ids)}"
    if sub.csirt_id is not None and not may_read(Role.CSIRT, alert.tlp):
        return f"TLP:{alert.tlp.value.upper()} is not shared with the provider's CSIRT"
    return None


def _skip_reason(alert: Alert, sub: Subscription, asset_tags: Collection[str]) -> str | None:
    filters = sub.filters
    if not sub.enabled:
        return f"subscription disabled: {sub.disabled_reason or 'by its owner'}"
    if alert.severity.rank < filters.min_severity.rank:
        return f"severity {alert.severity.value} below minimum {filters.min_severity.value}"
    if filters.indicator_types and alert.indicator_type.value not in filters.indicator_types:
        return f"indicator type {alert.indicator_type.value} not in {sorted(filters.indicator_types)}"
    if filters.asset_tags and not set(filters.asset_tags) & set(asset_tags):
        return f"asset tags {sorted(asset_tags)} do not include any of {sorted(filters.asset_tags)}"
    if filters.asset_categories and alert.match.asset_category not in filters.asset_categories:
        wanted = sorted(c.value for c in filters.asset_categories)
        return f"asset category {alert.match.asset_category or 'none'} not in {wanted}"
    if alert.tlp.rank > CHANNEL_TLP_LIMIT[sub.channel].rank:
        return f"TLP:{alert.tlp.value.upper()} is never sent by {sub.channel.value}"
    csirt_reason = _csirt_skip_reason(alert, sub)
    if csirt_reason is not None:
        return csirt_reason
    if alert.tlp.rank > filters.tlp_ceiling.rank:
        ceiling = filters.tlp_ceiling.value.upper()
        return f"TLP:{alert.tlp.value.upper()} above this subscription's ceiling TLP:{ceiling}"
    return None


def route(
    alert: Alert, subscriptions: Sequence[Subscription], *, asset_tags: Collection[str] = ()
) -> list[Route]:
    """Decide for every subscription of the alert's provider.

    Other providers' subscriptions are never candidates, whatever the TLP: an alert is about one tenant's
    assets. That is also what keeps TLP:AMBER and AMBER+STRICT with the affected provider (its CSIRT reads
    them through the API stream of its constituency). ``asset_tags`` are the matched asset's tags.
    """
    routes: list[Route] = []
    for sub in subscriptions:
        if sub.provider_id != alert.provider_id:
            continue
        reason = _skip_reason(alert, sub, asset_tags)
        if reason is not None:
            routes.append(Route(subscription=sub, deliver=False, reason=reason))
            continue
        digest = (
            sub.digest
            if sub.digest is not Digest.NONE and alert.severity.rank <= DIGEST_MAX_SEVERITY.rank
            else None
        )
        routes.append(Route(subscription=sub, deliver=True, digest=digest))
    return routes
