"""Concrete next steps for the kind of match: block, search the logs since it was first seen, isolate, patch.

The source's own remediations say what the vendor or CISA recommends; these say what an on-call analyst does
first with what ewarn matched. The text is English; ``kind`` and the numbers let a channel word it in the
reader's language (the e-mail does).

The steps are put together with ``models.alert_fast.trusted`` (their parts come from the validated indicator
or are computed here), and the lookback is worked out once per (first sighting, now): validating the two
steps of an observable and the day arithmetic were about a seventh of building a domain match's alert
(cProfile, ``bench/correlate_stage_bench.py``, 10,000 alerts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ewarn.models.alert import NextStep, NextStepKind
from ewarn.models.alert_fast import trusted
from ewarn.models.indicator import Indicator, IndicatorType, Remediation, RemediationCategory

DEFAULT_LOOKBACK_DAYS = 30  # when no source says since when the indicator is seen
MIN_LOOKBACK_DAYS = 7
MAX_LOOKBACK_DAYS = 365
# Where each kind of observable is blocked and which logs show it.
_BLOCK_AT = {
    IndicatorType.IPV4: "the perimeter firewall",
    IndicatorType.IPV6: "the perimeter firewall",
    IndicatorType.DOMAIN: "the DNS resolver and web proxy",
    IndicatorType.URL: "the web proxy",
    IndicatorType.EMAIL: "the mail gateway",
    IndicatorType.ASN: "the perimeter firewall (its announced prefixes)",
}
_LOGS = {
    IndicatorType.IPV4: "firewall, NetFlow and proxy logs",
    IndicatorType.IPV6: "firewall, NetFlow and proxy logs",
    IndicatorType.DOMAIN: "DNS, proxy and mail logs",
    IndicatorType.URL: "proxy logs",
    IndicatorType.EMAIL: "mail gateway logs",
    IndicatorType.ASN: "firewall and NetFlow logs",
}
# A listed address or host inside the provider's own range: that host may be compromised.
OWN_HOST_RELATIONS = frozenset({"address_in_range", "range_in_range", "range_covers", "hostname"})


def first_sighting(indicator: Indicator) -> datetime | None:
    """The earliest moment any source says the indicator was seen or valid."""
    moments = [m for m in (indicator.valid_from, indicator.first_seen, indicator.source.seen_at) if m]
    return min(moments) if moments else None


_LOOKBACKS: dict[tuple[datetime | None, datetime], tuple[int, datetime]] = {}
_LOOKBACKS_KEPT = 4096  # a batch's indicators share ``now`` and often their first sighting; cleared when full
_DAY = timedelta(days=1)


_UNSET: Any = object()


def lookback(indicator: Indicator, now: datetime, *, first: datetime | None = _UNSET) -> tuple[int, datetime]:
    """How many days of logs to search, and from when: since the first sighting (a week at least).

    ``first``: ``first_sighting(indicator)`` when the caller has it already.
    """
    since = first_sighting(indicator) if first is _UNSET else first
    key = (since, now)
    found = _LOOKBACKS.get(key)
    if found is not None:
        return found
    days = DEFAULT_LOOKBACK_DAYS if since is None or since > now else math.ceil((now - since) / _DAY)
    days = max(MIN_LOOKBACK_DAYS, min(MAX_LOOKBACK_DAYS, days))
    if len(_LOOKBACKS) >= _LOOKBACKS_KEPT:
        _LOOKBACKS.clear()
    found = _LOOKBACKS[key] = (days, now - timedelta(days=days))
    return found


def observable_steps(
    indicator: Indicator, *, now: datetime, first: datetime | None = _UNSET
) -> list[NextStep]:
    """Block it, search the logs for it since its first sighting: the same for every asset it hits.

    ``first``: ``first_sighting(indicator)`` when the caller has it already.
    """
    value = indicator.value
    days, since = lookback(indicator, now, first=first)
    return [
        trusted(
            NextStep,
            kind=NextStepKind.BLOCK,
            text=f"Block {value} at {_BLOCK_AT.get(indicator.type, 'your security controls')}.",
        ),
        trusted(
            NextStep,
            kind=NextStepKind.SEARCH_LOGS,
            text=f"Search {_LOGS.get(indicator.type, 'your logs')} for {value} over the past {days} days "
            f"(since {since:%Y-%m-%d}).",
            lookback_days=days,
            since=since,
        ),
    ]


def for_observable(
    indicator: Indicator,
    *,
    relation: str,
    asset_name: str,
    now: datetime,
    shared: Sequence[NextStep] | None = None,
) -> list[NextStep]:
    """Block it, search the logs for it since its first sighting, isolate an own host it names.

    ``shared``: ``observable_steps(indicator, now=now)`` made once for all the matches of one indicator (the
    steps are never changed in place, so the alerts may hold the same ones).
    """
    steps = list(shared) if shared is not None else observable_steps(indicator, now=now)
    if relation in OWN_HOST_RELATIONS:
        steps.append(
            NextStep(
                kind=NextStepKind.ISOLATE,
                text=f"Isolate the host behind {indicator.value} in '{asset_name}' from the network and "
                "examine it for compromise.",
            )
        )
    return steps


def fixed_versions(remediations: Sequence[Remediation]) -> list[str]:
    """The fixed versions the vendor fixes name, in order."""
    return list(
        dict.fromkeys(
            v for r in remediations if r.category is RemediationCategory.VENDOR_FIX for v in r.fixed_versions
        )
    )


def for_vulnerability(
    *, asset_name: str, remediations: Sequence[Remediation], possibly_affected: bool, exploited: bool
) -> list[NextStep]:
    """Verify the version when unsure, update to a fixed version, restrict access while it is exploited."""
    steps: list[NextStep] = []
    if possibly_affected:
        steps.append(
            NextStep(
                kind=NextStepKind.VERIFY_VERSION,
                text=f"Check the version installed on '{asset_name}' against the advisory.",
            )
        )
    versions = fixed_versions(remediations)
    if versions:
        steps.append(
            NextStep(
                kind=NextStepKind.PATCH,
                text=f"Update '{asset_name}' to a fixed version ({', '.join(versions)}).",
            )
        )
    if exploited:
        steps.append(
            NextStep(
                kind=NextStepKind.ISOLATE,
                text=f"Until '{asset_name}' is fixed, restrict its network access: the vulnerability is "
                "known to be exploited.",
            )
        )
    return steps
