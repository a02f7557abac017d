"""Build the operator status report from the database (works across processes and replicas)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import utcnow
from ewarn.status.equipment import EquipmentStatus, equipment_by_category
from ewarn.status.overdue import OverdueStatus, overdue_status
from ewarn.status.retention import RetentionStatus, retention_status
from ewarn.status.sightings import SightingsStatus, sightings_status
from ewarn.store.db import as_utc
from ewarn.store.repositories.quarantine import QuarantinedRecord, quarantine_summary
from ewarn.store.tables import AlertRow, DeliveryRow, FeedRow, HeartbeatRow, IndicatorRow, RejectionRow


class RoleStatus(BaseModel):
    instance_id: str
    role: str
    host: str
    pid: int
    alive: bool
    last_beat_seconds_ago: float
    stats: dict[str, Any]


class FeedStatus(BaseModel):
    id: str
    kind: str
    name: str
    enabled: bool
    last_success_at: str | None
    last_error: str | None
    accepted_total: int
    rejected_total: int
    skipped_total: int = 0  # records left out on purpose; ``counts`` says why
    counts: dict[str, int] = {}  # records skipped or noted, by reason


class LatencyStatus(BaseModel):
    samples: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class QuarantineStatus(BaseModel):
    """Records a stage could not serialise, store, publish or deliver: how many, by kind, the latest few."""

    total: int
    by_kind: dict[str, int]
    latest: list[QuarantinedRecord]


class StatusReport(BaseModel):
    generated_at: str
    roles: list[RoleStatus]
    feeds: list[FeedStatus]
    counts: dict[str, int]
    deliveries: dict[str, int]
    ingest_to_delivery: LatencyStatus
    equipment: list[EquipmentStatus] = []  # infrastructure equipment per category
    quarantine: QuarantineStatus | None = None  # records set aside alone so the rest flowed
    retention: RetentionStatus | None = None  # rows pruned (None before the first pass)
    sightings: SightingsStatus | None = None  # the sighting relay: in, relayed, held back and why
    overdue: OverdueStatus | None = None  # open alerts past their workflow deadline


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def delivery_latencies_ms(*, session: AsyncSession, limit: int = 1000) -> list[float]:
    """Ingest-to-delivery latency of the most recent deliveries (payload carries the alert's timestamps)."""
    rows = (
        await session.execute(
            select(DeliveryRow.payload, DeliveryRow.delivered_at)
            .where(DeliveryRow.status == "delivered", DeliveryRow.delivered_at.is_not(None))
            .order_by(DeliveryRow.delivered_at.desc())
            .limit(limit)
        )
    ).all()
    out: list[float] = []
    from datetime import datetime

    for payload, delivered_at in rows:
        ingested = (payload or {}).get("ingested_at")
        delivered = as_utc(delivered_at)
        if not ingested or delivered is None:
            continue
        start = datetime.fromisoformat(str(ingested).replace("Z", "+00:00"))
        out.append((delivered - start).total_seconds() * 1000)
    return out


async def build_status(
    *, session: AsyncSession, alive_within: timedelta = timedelta(seconds=15)
) -> StatusReport:
    now = utcnow()
    roles: list[RoleStatus] = []
    # The retention totals live in a heartbeats row of their own (ewarn.retention.prune): not a role.
    live = select(HeartbeatRow).where(HeartbeatRow.role != "retention").order_by(HeartbeatRow.role)
    for hb in (await session.scalars(live)).all():
        beat = as_utc(hb.last_beat_at) or now
        roles.append(
            RoleStatus(
                instance_id=hb.instance_id,
                role=hb.role,
                host=hb.host,
                pid=hb.pid,
                alive=now - beat <= alive_within,
                last_beat_seconds_ago=round((now - beat).total_seconds(), 1),
                stats=hb.stats or {},
            )
        )
    feeds = [
        FeedStatus(
            id=f.id,
            kind=f.kind,
            name=f.name,
            enabled=f.enabled,
            last_success_at=(s.isoformat() if (s := as_utc(f.last_success_at)) else None),
            last_error=f.last_error,
            accepted_total=f.accepted_total,
            rejected_total=f.rejected_total,
            skipped_total=f.skipped_total or 0,
            counts=dict(f.counts or {}),
        )
        for f in (await session.scalars(select(FeedRow).order_by(FeedRow.id))).all()
    ]
    counts = {
        "indicators": int(await session.scalar(select(func.count()).select_from(IndicatorRow)) or 0),
        "rejections": int(await session.scalar(select(func.count()).select_from(RejectionRow)) or 0),
        "alerts": int(await session.scalar(select(func.count()).select_from(AlertRow)) or 0),
        # wrong or revoked API keys presented, summed over the API instances' heartbeats (each since its start)
        "auth_failures": sum(_int(r.stats.get("auth_failures")) for r in roles if r.role == "api"),
    }
    by_status = dict(
        (await session.execute(select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status))).all()
    )
    latencies = await delivery_latencies_ms(session=session)
    return StatusReport(
        generated_at=now.isoformat(),
        roles=roles,
        feeds=feeds,
        counts=counts,
        deliveries={str(k): int(v) for k, v in by_status.items()},
        ingest_to_delivery=LatencyStatus(
            samples=len(latencies),
            p50_ms=percentile(latencies, 50),
            p99_ms=percentile(latencies, 99),
            max_ms=max(latencies) if latencies else None,
        ),
        equipment=await equipment_by_category(session=session),
        quarantine=await _quarantine(session),
        retention=await retention_status(session=session),
        sightings=await sightings_status(session=session, now=now),
        overdue=await overdue_status(session=session, now=now),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


async def _quarantine(session: AsyncSession) -> QuarantineStatus:
    total, by_kind, latest = await quarantine_summary(session=session, latest=10)
    return QuarantineStatus(total=total, by_kind=by_kind, latest=latest)
