"""The relay: a sighting is stored, published as a sector indicator and told to every other hospital.

``submit`` validates a provider's sightings (all or none), counts them against its quota, holds back what the
poisoning guards refuse, stores them, publishes each observable that is not held back for good on the
indicators topic (the correlator matches it against every provider's assets: a sighted address inside a
hospital's range tells that hospital it may be compromised), and raises or revises the relay alert of every
provider that did not report it. ``confirm`` records a CSIRT's confirmation, which raises the severity.

A write through the API is audited in its own transaction: the sightings, their sector indicators and the audit
row are stored together, and the indicators are published only once the audit row is in (so a refused audit
write leaves nothing stored and nothing published). Indicators are published before that transaction commits,
as ingest publishes them: the indicators topic has no outbox, so a publish after the commit that failed would
be lost; a failed publish rolls the whole write back instead. The relay alerts are written in the same
transaction (a refused one leaves nothing stored) and published after the commit through the alerts outbox
(``relay_alerts``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.ingest import repository as indicator_store
from ewarn.ingest.normalise import Observable
from ewarn.logging import get_logger
from ewarn.models import Indicator
from ewarn.models.common import TLP, utcnow
from ewarn.models.indicator import SourceRef
from ewarn.models.provider import Principal
from ewarn.models.sighting import (
    FEED_REPORTER,
    SIGHTING_FEED,
    SIGHTING_FEED_KIND,
    HeldReason,
    Sighting,
    SightingIn,
    SightingReceipt,
    SightingStatus,
)
from ewarn.settings import SightingSettings
from ewarn.sightings.corroboration import Entry, entries
from ewarn.sightings.guards import PROTECTED_KINDS, Guards, ProtectedAssets
from ewarn.sightings.observables import InvalidSighting, read_observable
from ewarn.sightings.quota import SightingQuota
from ewarn.sightings.relay_alerts import RelayRaced, RelayWrite, publish_relay_alerts, write_relay_alerts
from ewarn.sightings.stix import read_stix_sightings
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import sightings as store
from ewarn.store.repositories.audit import record_audit

log = get_logger(__name__)

# Held back from blocklists, yet still correlated: the owner of the range must learn it may be compromised.
_CORRELATED_WHEN_HELD = frozenset({HeldReason.PROVIDER_ASSET})
_RELAY_ATTEMPTS = 3
_T = TypeVar("_T")


class QuotaExceeded(Exception):
    """The provider submitted more sightings this hour than its quota allows."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"sighting quota exceeded; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Checked:
    incoming: SightingIn
    observed: Observable


@dataclass(frozen=True)
class AuditAs:
    """Who wrote through the API and what the audit row calls it (``submit``, ``confirm``)."""

    principal: Principal
    action: str


async def _audit(
    session: Any, audit: AuditAs | None, sightings: Sequence[Sighting], provider_id: str
) -> None:
    """The audit row of a relay write, flushed so that a refused row stops the write before anything is sent."""
    if audit is None:
        return
    summary = {
        "receipts": [{"id": s.id, "status": s.status, "held_reason": s.held_reason} for s in sightings]
    }
    ids = [s.id for s in sightings]
    await record_audit(
        session, audit.principal, audit.action, "sighting", ids, summary, provider_id=provider_id
    )
    await session.flush()


class SightingRelay:
    """Intake, protection and relay of sightings; one per process (``relay_for(runtime)``)."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        bus: Bus,
        topics: Topics,
        settings: SightingSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._topics = topics
        self._settings = settings
        self._clock = clock
        self._guards = Guards.from_settings(settings)
        self._quota = SightingQuota(settings.quota_per_hour)
        self._protected = ProtectedAssets()
        self._protected_at: tuple[int, Any] | None = None
        self._relay_turn = asyncio.Lock()

    @property
    def ttl(self) -> timedelta:
        return timedelta(hours=self._settings.ttl_hours)

    # --- intake --------------------------------------------------------------------------------------------

    def check(
        self, provider_id: str, incoming: SightingIn, *, now: datetime, feed: bool = False
    ) -> Observable:
        """The normalised observable of a valid sighting; ``InvalidSighting`` with the reason otherwise."""
        observed = read_observable(incoming.type, incoming.observable)
        if incoming.last_seen > now + timedelta(seconds=self._settings.max_clock_skew_seconds):
            raise InvalidSighting("last_seen is in the future")
        if incoming.last_seen < now - self.ttl:
            raise InvalidSighting(
                f"last_seen is older than the relay keeps sightings ({self._settings.ttl_hours} h)"
            )
        clear_allowed = feed or provider_id in self._settings.clear_tlp_providers
        if incoming.tlp.rank < TLP.AMBER.rank and not clear_allowed:
            raise InvalidSighting(
                "TLP:CLEAR and TLP:GREEN sightings need the operator's decision; send AMBER"
            )
        return observed

    async def submit(
        self, *, provider_id: str, sightings: Sequence[SightingIn], audit: AuditAs | None = None
    ) -> list[SightingReceipt]:
        """Validate all, count against the quota, store (with ``audit``'s row), publish and relay; returns one
        receipt each."""
        now = self._clock()
        checked = [_Checked(s, self.check(provider_id, s, now=now)) for s in sightings]
        if not checked:
            return []
        if not await self._quota.take(provider_id, cost=len(checked)):
            raise QuotaExceeded(await self._quota.retry_after(provider_id))
        return await self._accept(provider_id, checked, now=now, audit=audit)

    async def submit_from_feed(
        self, *, feed_id: str, bundles: Sequence[dict[str, Any]]
    ) -> tuple[int, list[str]]:
        """The STIX sightings of an ingested bundle (each with what it references), reported as
        ``feed:<feed id>``: the operator configured the feed, so no quota and its TLP as marked. Returns how
        many were accepted and the reason of each refused one (the rest still flow)."""
        reporter, now = f"{FEED_REPORTER}{feed_id}", self._clock()
        checked: list[_Checked] = []
        refused: list[str] = []
        for bundle in bundles:
            try:
                for incoming in read_stix_sightings(bundle)[0]:
                    checked.append(_Checked(incoming, self.check(reporter, incoming, now=now, feed=True)))
            except InvalidSighting as exc:
                refused.append(str(exc))
        if checked:
            await self._accept(reporter, checked, now=now)
        return len(checked), refused

    async def _accept(
        self, provider_id: str, checked: Sequence[_Checked], *, now: datetime, audit: AuditAs | None = None
    ) -> list[SightingReceipt]:
        async def write(session: Any) -> tuple[list[Sighting], RelayWrite]:
            protected = await self._protected_assets(session)
            stored = [self._sighting(provider_id, c, protected, now=now) for c in checked]
            for sighting in stored:
                await store.insert_sighting(session=session, sighting=sighting)
            news = await self._merge_indicators(
                session, [(s, c.observed) for s, c in zip(stored, checked, strict=True)]
            )
            await _audit(session, audit, stored, provider_id)
            relayed = [s.indicator_key for s in stored if s.status is SightingStatus.RELAYED]
            written = await write_relay_alerts(session=session, keys=relayed, now=self._clock())
            await self._publish_indicators(news)
            return stored, written

        stored, written = await self._in_one_transaction(write)
        relayed = [s.indicator_key for s in stored if s.status is SightingStatus.RELAYED]
        async with self._sessions() as session:
            live = await store.live_sightings(session=session, now=self._clock(), keys=relayed)
        by_key = {e.indicator_key: e for e in entries(live, now=self._clock())}
        return [
            _receipt(s, by_key.get(s.indicator_key), written.told.get(s.indicator_key, 0)) for s in stored
        ]

    async def _in_one_transaction(
        self, write: Callable[[Any], Awaitable[tuple[_T, RelayWrite]]]
    ) -> tuple[_T, RelayWrite]:
        """Run ``write`` (sightings, their indicators, audit row and relay alerts) in one transaction, then
        publish its relay alerts. Tried again whole when another writer moved a relay alert meanwhile;
        relay writers of this process take turns."""
        for attempt in range(1, _RELAY_ATTEMPTS + 1):
            try:
                async with self._relay_turn, self._sessions() as session, session.begin():
                    result, written = await write(session)
            except RelayRaced:
                if attempt == _RELAY_ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * attempt)
                continue
            await publish_relay_alerts(
                sessions=self._sessions,
                bus=self._bus,
                topics=self._topics,
                written=written,
                now=self._clock(),
            )
            return result, written
        raise AssertionError("the last attempt returns or raises")

    def _sighting(
        self, provider_id: str, checked: _Checked, protected: ProtectedAssets, *, now: datetime
    ) -> Sighting:
        incoming, observed = checked.incoming, checked.observed
        held = self._guards.held_reason(observed, protected)
        if held is None and incoming.tlp is TLP.RED:
            held = HeldReason.TLP_RED
        return Sighting(
            id=f"sgt_{uuid.uuid4().hex}",
            provider_id=provider_id,
            indicator_key=observed.key,
            indicator_type=observed.type.value,
            value=observed.value,
            kind=incoming.kind,
            first_seen=incoming.first_seen,
            last_seen=incoming.last_seen,
            count=incoming.count,
            confidence=incoming.confidence,
            context=incoming.context,
            tlp=incoming.tlp,
            share_identity=incoming.share_identity,
            status=SightingStatus.RELAYED if held is None else SightingStatus.HELD,
            held_reason=held,
            received_at=now,
            expires_at=now + self.ttl,
        )

    async def _protected_assets(self, session: Any) -> ProtectedAssets:
        """Every provider's networks and names, rebuilt only when the inventory changed."""
        kinds = [k.value for k in PROTECTED_KINDS]
        fingerprint = await store.protected_fingerprint(session=session, kinds=kinds)
        if fingerprint != self._protected_at:
            self._protected = ProtectedAssets.build(
                await store.protected_assets(session=session, kinds=kinds)
            )
            self._protected_at = fingerprint
        return self._protected

    async def _merge_indicators(
        self, session: Any, items: Sequence[tuple[Sighting, Observable]]
    ) -> list[Indicator]:
        """Store the sector indicator of each sighting that the correlator must see; returns the changed ones."""
        indicators = [
            _indicator(s, observed)
            for s, observed in items
            if s.status is SightingStatus.RELAYED or s.held_reason in _CORRELATED_WHEN_HELD
        ]
        if not indicators:
            return []
        _merged, news = await indicator_store.merge_indicators(
            session=session, indicators=indicators, now=self._clock()
        )
        return news

    async def _publish_indicators(self, news: Sequence[Indicator]) -> None:
        """Publish the changed sector indicators (inside the write's transaction: see the module docstring)."""
        if news:
            await self._bus.publish_many(
                self._topics.indicators,
                [(item.key, item.model_dump_json().encode("utf-8")) for item in news],
                headers={"ewarn-stage": b"sightings"},
            )

    # --- confirmation --------------------------------------------------------------------------------------

    async def confirm(
        self, *, sighting: Sighting, csirt_id: str, audit: AuditAs | None = None
    ) -> SightingReceipt:
        """A CSIRT confirms a sighting: it stays live ``ttl`` longer and its entry's severity rises."""

        async def write(session: Any) -> tuple[Sighting, RelayWrite]:
            confirmed = await store.confirm_sighting(
                session=session, sighting=sighting, csirt_id=csirt_id, now=self._clock(), ttl=self.ttl
            )
            await _audit(session, audit, [confirmed], sighting.provider_id)
            relayed = [confirmed.indicator_key] if confirmed.status is SightingStatus.RELAYED else []
            return confirmed, await write_relay_alerts(session=session, keys=relayed, now=self._clock())

        confirmed, written = await self._in_one_transaction(write)
        async with self._sessions() as session:
            live = await store.live_sightings(
                session=session, now=self._clock(), keys=[confirmed.indicator_key]
            )
        entry = next(iter(entries(live, now=self._clock())), None)
        return _receipt(confirmed, entry, written.told.get(confirmed.indicator_key, 0))


def _indicator(sighting: Sighting, observed: Observable) -> Indicator:
    """The sector indicator of a sighting: it names the relay, never the reporter."""
    return Indicator(
        key=observed.key,
        type=observed.type,
        value=observed.value,
        url_host=observed.url_host,
        confidence=sighting.confidence,
        tlp=sighting.tlp,
        valid_from=sighting.first_seen,
        valid_until=sighting.expires_at,
        labels=["sighting"],
        source=SourceRef(
            feed_id=SIGHTING_FEED,
            feed_kind=SIGHTING_FEED_KIND,
            record=sighting.id,
            seen_at=sighting.last_seen,
        ),
        sources=[SIGHTING_FEED],
        first_seen=sighting.first_seen,
        last_seen=sighting.last_seen,
    )


def _receipt(sighting: Sighting, entry: Entry | None, told: int) -> SightingReceipt:
    return SightingReceipt(
        id=sighting.id,
        indicator_key=sighting.indicator_key,
        status=sighting.status,
        held_reason=sighting.held_reason,
        severity=entry.severity if entry is not None and sighting.status is SightingStatus.RELAYED else None,
        providers=len(entry.providers) if entry is not None else 0,
        confirmed=entry.confirmed if entry is not None else False,
        relayed_to=told,
    )


def relay_for(runtime: Any) -> SightingRelay:
    """The runtime's relay (``runtime.services["sightings"]``), created on first use."""
    relay = runtime.services.get("sightings")
    if not isinstance(relay, SightingRelay):
        relay = SightingRelay(
            sessions=runtime.sessions,
            bus=runtime.bus,
            topics=runtime.topics,
            settings=runtime.settings.sightings,
        )
        runtime.services["sightings"] = relay
    return relay
