"""Sightings: stored whole, read by tenant, by observable (the live ones) and counted for the status page."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models import Asset
from ewarn.models.provider import Provider
from ewarn.models.sighting import Sighting, SightingStatus
from ewarn.store.keyset import after_key
from ewarn.store.repositories.assets import readable_assets
from ewarn.store.repositories.principals import provider_from_row
from ewarn.store.tables import AssetRow, ProviderRow, SightingRow

_CHUNK = 500


def _sighting(row: SightingRow) -> Sighting:
    return Sighting.model_validate(row.data)


async def insert_sighting(*, session: AsyncSession, sighting: Sighting) -> None:
    session.add(
        SightingRow(
            id=sighting.id,
            provider_id=sighting.provider_id,
            indicator_key=sighting.indicator_key,
            indicator_type=sighting.indicator_type,
            kind=sighting.kind.value,
            tlp=sighting.tlp.value,
            status=sighting.status.value,
            held_reason=sighting.held_reason.value if sighting.held_reason else None,
            data=sighting.model_dump(mode="json"),
            received_at=sighting.received_at,
            expires_at=sighting.expires_at,
        )
    )
    await session.flush()


async def get_sighting(*, session: AsyncSession, sighting_id: str) -> Sighting | None:
    row = await session.get(SightingRow, sighting_id)
    return _sighting(row) if row is not None else None


async def list_sightings(
    *,
    session: AsyncSession,
    provider_ids: Collection[str] | None,
    limit: int = 100,
    after: tuple[datetime, str] | None = None,
) -> list[Sighting]:
    """The newest sightings of these providers (None: every provider); ``after``: (received_at, id)."""
    stmt = select(SightingRow).order_by(SightingRow.received_at.desc(), SightingRow.id).limit(limit)
    if after is not None:
        stmt = stmt.where(after_key([(SightingRow.received_at, True), (SightingRow.id, False)], after))
    if provider_ids is not None:
        stmt = stmt.where(SightingRow.provider_id.in_(list(provider_ids)))
    return [_sighting(r) for r in await session.scalars(stmt)]


async def live_sightings(
    *,
    session: AsyncSession,
    now: datetime,
    keys: Sequence[str] | None = None,
    statuses: Collection[SightingStatus] = (SightingStatus.RELAYED,),
    types: Collection[str] | None = None,
) -> list[Sighting]:
    """Unexpired sightings (of some observables, statuses and indicator types)."""
    stmt = select(SightingRow).where(
        SightingRow.expires_at > now, SightingRow.status.in_([s.value for s in statuses])
    )
    if types is not None:
        stmt = stmt.where(SightingRow.indicator_type.in_(list(types)))
    if keys is None:
        return [_sighting(r) for r in await session.scalars(stmt)]
    out: list[Sighting] = []
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        out += [_sighting(r) for r in await session.scalars(stmt.where(SightingRow.indicator_key.in_(chunk)))]
    return out


async def own_live_sightings(
    *, session: AsyncSession, provider_ids: Collection[str], now: datetime
) -> list[Sighting]:
    """Every unexpired sighting of these providers, held back ones included (their own blocklist)."""
    stmt = select(SightingRow).where(
        SightingRow.expires_at > now, SightingRow.provider_id.in_(list(provider_ids))
    )
    return [_sighting(r) for r in await session.scalars(stmt)]


async def confirm_sighting(
    *, session: AsyncSession, sighting: Sighting, csirt_id: str, now: datetime, ttl: timedelta
) -> Sighting:
    """Record a CSIRT's confirmation; it keeps the sighting live ``ttl`` from now."""
    confirmed = sighting.model_copy(
        update={
            "confirmed_by": csirt_id,
            "confirmed_at": now,
            "expires_at": max(sighting.expires_at, now + ttl),
        }
    )
    await session.execute(
        update(SightingRow)
        .where(SightingRow.id == sighting.id)
        .values(
            confirmed_by=csirt_id,
            confirmed_at=now,
            expires_at=confirmed.expires_at,
            data=confirmed.model_dump(mode="json"),
        )
    )
    return confirmed


async def relay_recipients(*, session: AsyncSession) -> list[Provider]:
    """Every provider (the relay tells each one but the reporters)."""
    return [provider_from_row(r) for r in await session.scalars(select(ProviderRow).order_by(ProviderRow.id))]


async def protected_fingerprint(*, session: AsyncSession, kinds: Collection[str]) -> tuple[int, Any]:
    """Changes whenever a protected asset is added, changed or deleted (deletion moves ``updated_at``)."""
    row = (
        await session.execute(
            select(func.count(AssetRow.id), func.max(AssetRow.updated_at)).where(
                AssetRow.kind.in_(list(kinds))
            )
        )
    ).one()
    return int(row[0]), row[1]


async def protected_assets(*, session: AsyncSession, kinds: Collection[str]) -> list[Asset]:
    """Every provider's live assets of these kinds."""
    stmt = select(AssetRow).where(AssetRow.kind.in_(list(kinds)), AssetRow.deleted.is_(False))
    return readable_assets((await session.scalars(stmt)).all())


async def sighting_counts(*, session: AsyncSession, since: datetime | None = None) -> dict[str, int]:
    """Sightings received (since ``since``): ``received``, ``relayed``, ``held``, ``held:<reason>``, ``live``."""
    stmt = select(SightingRow.status, SightingRow.held_reason, func.count(SightingRow.id)).group_by(
        SightingRow.status, SightingRow.held_reason
    )
    if since is not None:
        stmt = stmt.where(SightingRow.received_at >= since)
    counts: dict[str, int] = {"received": 0, "relayed": 0, "held": 0}
    for status, reason, count in await session.execute(stmt):
        counts["received"] += int(count)
        counts[status] = counts.get(status, 0) + int(count)
        if reason:
            counts[f"held:{reason}"] = counts.get(f"held:{reason}", 0) + int(count)
    return counts
