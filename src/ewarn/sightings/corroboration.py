"""The corroboration rule and the decay of blocklist entries (pure).

**Severity of an entry** (one observable, over its *live* relayed sightings):

1. Start from the strongest kind reported: ``scan`` → low, ``blocked`` → medium, ``compromised`` → high.
2. Each further distinct provider raises it one level, at most two: 2 providers +1, 3 or more +2.
3. A CSIRT's confirmation raises it one more level, and a confirmed entry is at least high.
4. Never above critical.

So one scan is low, the same scan from a second hospital medium, from a third high; one hospital compromised
is high, confirmed by a CSIRT critical. Repeats by the same provider never corroborate.

**Decay**: a sighting is live for ``sightings.ttl_hours`` after it was received; a CSIRT's confirmation keeps
the sighting it confirms live for ``ttl_hours`` from the confirmation. As sightings expire the entry loses
their corroboration (its severity falls back), and once none is live the entry leaves every blocklist and the
relayed indicator expires (its relay alerts are resolved by the correlator's expiry sweep).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ewarn.models.alert import Severity
from ewarn.models.common import TLP
from ewarn.models.sighting import Sighting, SightingKind

_BASE = {
    SightingKind.SCAN: Severity.LOW,
    SightingKind.BLOCKED: Severity.MEDIUM,
    SightingKind.COMPROMISED: Severity.HIGH,
}
_BY_RANK = sorted(Severity, key=lambda s: s.rank)
MAX_PROVIDER_BONUS = 2
SCORES = {
    Severity.INFO: 10.0,
    Severity.LOW: 30.0,
    Severity.MEDIUM: 50.0,
    Severity.HIGH: 75.0,
    Severity.CRITICAL: 95.0,
}


def severity_for(kinds: Iterable[SightingKind], providers: int, *, confirmed: bool) -> Severity:
    """The corroboration rule (module docstring)."""
    found = list(kinds)
    if not found:
        return Severity.INFO
    rank = max(_BASE[k].rank for k in found)
    rank += min(max(providers - 1, 0), MAX_PROVIDER_BONUS)
    if confirmed:
        rank = max(rank + 1, Severity.HIGH.rank)
    return _BY_RANK[min(rank, Severity.CRITICAL.rank)]


@dataclass(frozen=True)
class Entry:
    """One observable's standing across the sector, from the live sightings a reader may see."""

    indicator_key: str
    indicator_type: str
    value: str
    providers: frozenset[str]
    kinds: frozenset[SightingKind]
    confirmed: bool
    severity: Severity
    tlp: TLP
    first_received: datetime
    last_received: datetime
    last_seen: datetime
    newest: Sighting  # the latest sighting (for the relay alert's title)

    @property
    def corroboration(self) -> int:
        """Distinct providers, plus one for a CSIRT's confirmation (the ``min_corroboration`` filter)."""
        return len(self.providers) + (1 if self.confirmed else 0)


def entries(sightings: Iterable[Sighting], *, now: datetime) -> list[Entry]:
    """The entries of the live sightings among ``sightings``, ordered by key."""
    by_key: dict[str, list[Sighting]] = {}
    for sighting in sightings:
        if sighting.expires_at > now:
            by_key.setdefault(sighting.indicator_key, []).append(sighting)
    out: list[Entry] = []
    for key in sorted(by_key):
        group = by_key[key]
        providers = frozenset(s.provider_id for s in group)
        kinds = frozenset(s.kind for s in group)
        confirmed = any(s.confirmed_at is not None for s in group)
        newest = max(group, key=lambda s: (s.received_at, s.id))
        out.append(
            Entry(
                indicator_key=key,
                indicator_type=newest.indicator_type,
                value=newest.value,
                providers=providers,
                kinds=kinds,
                confirmed=confirmed,
                severity=severity_for(kinds, len(providers), confirmed=confirmed),
                tlp=max((s.tlp for s in group), key=lambda t: t.rank),
                first_received=min(s.received_at for s in group),
                last_received=newest.received_at,
                last_seen=max(s.last_seen for s in group),
                newest=newest,
            )
        )
    return out
