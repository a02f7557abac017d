"""The tenants' ordered alert stream: one ``alert_events`` row per published alert revision (SSE and polling).

The dispatcher writes the rows (``deliveries.insert_alert_events``, in the intake transaction); this module reads them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import TLP
from ewarn.store.repositories.alerts import alert_tlp_in
from ewarn.store.tables import AlertEventRow, AlertRow
from ewarn.textsafe import repair


@dataclass(frozen=True)
class AlertEventRecord:
    """One published alert revision in a tenant's ordered stream; ``alert`` is the alert as it is now."""

    seq: int
    provider_id: str
    alert_id: str
    revision: int
    created_at: datetime
    alert: dict[str, Any] | None


async def alert_events_after(
    *,
    session: AsyncSession,
    provider_ids: Collection[str] | None,
    after: int,
    limit: int,
    tlps: Collection[TLP] | None = None,
) -> list[AlertEventRecord]:
    """Events with ``seq > after`` for these providers (None: all), oldest first.

    ``tlps``: only events whose alert is stored and marked with one of these (None: any).
    """
    stmt = (
        select(AlertEventRow, AlertRow.data)
        .outerjoin(AlertRow, AlertRow.id == AlertEventRow.alert_id)
        .where(AlertEventRow.seq > after)
        .order_by(AlertEventRow.seq)
        .limit(limit)
    )
    if provider_ids is not None:
        stmt = stmt.where(AlertEventRow.provider_id.in_(list(provider_ids)))
    if tlps is not None:
        stmt = stmt.where(alert_tlp_in(tlps))
    out = []
    for event, data in (await session.execute(stmt)).all():
        created = event.created_at if event.created_at.tzinfo else event.created_at.replace(tzinfo=UTC)
        out.append(
            # repaired: a stored alert with text no encoder takes must not fail a tenant's whole stream
            AlertEventRecord(
                event.seq, event.provider_id, event.alert_id, event.revision, created, repair(data)
            )
        )
    return out


async def last_alert_event_seq(*, session: AsyncSession, provider_ids: Collection[str] | None) -> int:
    """The newest event's seq for these providers (0 when there is none): where a fresh stream starts."""
    stmt = select(func.max(AlertEventRow.seq))
    if provider_ids is not None:
        stmt = stmt.where(AlertEventRow.provider_id.in_(list(provider_ids)))
    return int(await session.scalar(stmt) or 0)
