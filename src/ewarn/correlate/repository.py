"""The correlator's reads and writes: live assets, valid indicators, alert revisions and their publish marks.

An alert revision is written with optimistic concurrency (the row must still hold the revision and status that
were read), so a provider's feedback arriving through the API, or a second correlator, is never overwritten:
the loser gets ``TransientError`` and its runner retries with fresh data.

A revision counts as published once its ``alert_events`` row exists; that row is written only after the bus
acknowledged the publish, which makes ``alert_events`` the outbox mark as well as the per-tenant stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.errors import TransientError
from ewarn.models import Alert, AlertStatus, Asset, Indicator
from ewarn.store.db import upsert
from ewarn.store.repositories.alerts import alert_from_row
from ewarn.store.tables import AlertEventRow, AlertRow, AssetRow, IndicatorRow

CHUNK = 500  # keeps IN (...) lists under SQLite's and asyncpg's bind-parameter limits


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


async def live_assets(*, session: AsyncSession, batch: int = 5000) -> AsyncIterator[Asset]:
    """Every live asset, streamed provider by provider (a million rows do not fit one fetch comfortably)."""
    stmt = (
        select(AssetRow.data)
        .where(AssetRow.deleted.is_(False))
        .order_by(AssetRow.provider_id, AssetRow.id)
        .execution_options(yield_per=batch)
    )
    async for data in await session.stream_scalars(stmt):
        yield Asset.model_validate(data)


async def assets_by_id(*, session: AsyncSession, provider_id: str, ids: Sequence[str]) -> list[Asset]:
    """The live assets among ``ids`` of one provider."""
    out: list[Asset] = []
    for chunk in _chunks(ids):
        rows = await session.scalars(
            select(AssetRow.data).where(
                AssetRow.provider_id == provider_id, AssetRow.id.in_(chunk), AssetRow.deleted.is_(False)
            )
        )
        out.extend(Asset.model_validate(d) for d in rows)
    return out


async def provider_live_assets(*, session: AsyncSession, provider_id: str) -> list[Asset]:
    rows = await session.scalars(
        select(AssetRow.data).where(AssetRow.provider_id == provider_id, AssetRow.deleted.is_(False))
    )
    return [Asset.model_validate(d) for d in rows]


async def valid_indicators(
    *, session: AsyncSession, types: Collection[str], now: datetime, batch: int = 1000
) -> AsyncIterator[list[Indicator]]:
    """Indicators of ``types`` neither revoked nor expired, in batches, for retro-hunting."""
    stmt = (
        select(IndicatorRow.data)
        .where(
            IndicatorRow.type.in_(list(types)),
            IndicatorRow.revoked.is_(False),
            or_(IndicatorRow.valid_until.is_(None), IndicatorRow.valid_until > now),
        )
        .execution_options(yield_per=batch)
    )
    result = await session.stream_scalars(stmt)
    async for part in result.partitions(batch):
        yield [Indicator.model_validate(d) for d in part]


async def stored_alerts(*, session: AsyncSession, ids: Sequence[str]) -> dict[str, Alert]:
    out: dict[str, Alert] = {}
    for chunk in _chunks(ids):
        for row in await session.scalars(select(AlertRow).where(AlertRow.id.in_(chunk))):
            out[row.id] = alert_from_row(row)
    return out


async def open_alerts(
    *,
    session: AsyncSession,
    indicator_key: str | None = None,
    provider_id: str | None = None,
    asset_ids: Sequence[str] | None = None,
) -> list[Alert]:
    """Alerts not yet resolved, for one indicator or for some assets of one provider."""
    stmt = select(AlertRow).where(AlertRow.status != AlertStatus.RESOLVED.value)
    if indicator_key is not None:
        stmt = stmt.where(AlertRow.indicator_key == indicator_key)
    if provider_id is not None:
        stmt = stmt.where(AlertRow.provider_id == provider_id)
    if asset_ids is None:
        return [alert_from_row(r) for r in await session.scalars(stmt)]
    out: list[Alert] = []
    for chunk in _chunks(asset_ids):
        out.extend(alert_from_row(r) for r in await session.scalars(stmt.where(AlertRow.asset_id.in_(chunk))))
    return out


def _columns(alert: Alert) -> dict[str, Any]:
    return {
        "provider_id": alert.provider_id,
        "indicator_key": alert.indicator_key,
        "asset_id": alert.asset_id,
        "revision": alert.revision,
        "severity": alert.severity.value,
        "score": alert.score,
        "status": alert.status.value,
        "data": alert.model_dump(mode="json"),
        "matched_at": alert.matched_at,
        "created_at": alert.created_at or alert.matched_at,
        "updated_at": alert.updated_at or alert.matched_at,
    }


async def write_revisions(*, session: AsyncSession, revisions: Sequence[tuple[Alert | None, Alert]]) -> None:
    """Store each (previously stored, new revision); raise ``TransientError`` if a row moved meanwhile."""
    for stored, alert in revisions:
        if stored is None:
            try:
                async with session.begin_nested():
                    session.add(AlertRow(id=alert.id, **_columns(alert)))
            except IntegrityError as exc:
                raise TransientError(f"alert {alert.id} was created concurrently") from exc
            continue
        result = await session.execute(
            update(AlertRow)
            .where(
                AlertRow.id == alert.id,
                AlertRow.revision == stored.revision,
                AlertRow.status == stored.status.value,
            )
            .values(**_columns(alert))
        )
        if getattr(result, "rowcount", 0) != 1:
            raise TransientError(f"alert {alert.id} changed while revision {alert.revision} was prepared")


async def published_revisions(*, session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    """Highest published revision per alert id (absent: none published)."""
    out: dict[str, int] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(AlertEventRow.alert_id, func.max(AlertEventRow.revision))
            .where(AlertEventRow.alert_id.in_(chunk))
            .group_by(AlertEventRow.alert_id)
        )
        out.update({alert_id: int(revision) for alert_id, revision in rows})
    return out


async def mark_published(*, session: AsyncSession, alerts: Sequence[Alert], now: datetime) -> None:
    """Record that these revisions reached the alerts topic (idempotent)."""
    rows = [
        {"provider_id": a.provider_id, "alert_id": a.id, "revision": a.revision, "created_at": now}
        for a in alerts
    ]
    await upsert(session, AlertEventRow, rows, conflict=["alert_id", "revision"])


async def unpublished_alerts(*, session: AsyncSession, limit: int = 10_000) -> list[Alert]:
    """Alerts whose current revision was stored but never acknowledged by the bus (a crash in between)."""
    event = AlertEventRow.__table__.alias("published")
    stmt = (
        select(AlertRow)
        .outerjoin(event, and_(event.c.alert_id == AlertRow.id, event.c.revision == AlertRow.revision))
        .where(event.c.alert_id.is_(None))
        .limit(limit)
    )
    return [alert_from_row(r) for r in await session.scalars(stmt)]


async def expired_with_open_alerts(
    *, session: AsyncSession, now: datetime, limit: int = 500
) -> list[Indicator]:
    """Indicators whose validity has ended while some alert they caused is still open."""
    open_keys = select(AlertRow.indicator_key).where(AlertRow.status != AlertStatus.RESOLVED.value)
    stmt = (
        select(IndicatorRow)
        .where(IndicatorRow.valid_until.is_not(None), IndicatorRow.valid_until <= now)
        .where(IndicatorRow.key.in_(open_keys))
        .order_by(IndicatorRow.valid_until)
        .limit(limit)
    )
    return [Indicator.model_validate(row.data) for row in await session.scalars(stmt)]
