"""Overdue alerts on the status page: open alerts past their acknowledgement or resolution deadline."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.alert import AlertStatus, Severity
from ewarn.models.common import TLP
from ewarn.models.workflow import OverdueAlert
from ewarn.store.db import as_utc
from ewarn.store.repositories.workflow import overdue_rows
from ewarn.workflow.deadlines import overdue

SHOWN = 20


class OverdueStatus(BaseModel):
    total: int = 0  # of the rows read (at most ``limit``)
    acknowledge: int = 0
    resolve: int = 0
    latest: list[OverdueAlert] = []  # the longest overdue first, at most ``SHOWN``


async def overdue_alerts(
    *,
    session: AsyncSession,
    provider_ids: set[str] | None,
    now: datetime,
    limit: int,
    tlps: Collection[TLP] | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[OverdueAlert]:
    """Open alerts past a deadline at ``now`` in these providers (None: all), raised earliest first; ``tlps``
    and ``after`` as ``overdue_rows`` takes them."""
    out: list[OverdueAlert] = []
    rows = await overdue_rows(
        session=session, now=now, provider_ids=provider_ids, limit=limit, tlps=tlps, after=after
    )
    for row in rows:
        state = AlertStatus(row.status)
        late = overdue(
            status=state,
            acknowledge_due_at=as_utc(row.acknowledge_due_at),
            resolve_due_at=as_utc(row.resolve_due_at),
            now=now,
        )
        if late is None:
            continue
        due, due_at = late
        out.append(
            OverdueAlert(
                alert_id=row.alert_id,
                provider_id=row.provider_id,
                severity=Severity(row.severity),
                status=state,
                raised_at=as_utc(row.raised_at) or now,
                due=due,
                due_at=due_at,
                overdue_seconds=round((now - due_at).total_seconds(), 3),
            )
        )
    return out


async def overdue_status(*, session: AsyncSession, now: datetime, limit: int = 10_000) -> OverdueStatus:
    items = await overdue_alerts(session=session, provider_ids=None, now=now, limit=limit)
    return OverdueStatus(
        total=len(items),
        acknowledge=sum(1 for i in items if i.due == "acknowledge"),
        resolve=sum(1 for i in items if i.due == "resolve"),
        latest=sorted(items, key=lambda i: -i.overdue_seconds)[:SHOWN],
    )
