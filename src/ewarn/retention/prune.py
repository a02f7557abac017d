"""Retention: delete finished rows older than their table's age, in bounded batches, one pruner at a time.

What is never deleted, whatever its age: an outbox row still pending (only delivered, skipped and dead rows
go); the ``alert_events`` row of an alert's current revision (correlate reads it as "published": without it
the revision would be published again), so only superseded revisions' events leave the SSE/polling window; an
indicator any alert still names; a quarantined alert revision that is still the alert's current one (correlate
skips it because of that record); the retention totals themselves. Audit rows go by their time alone
(``audit_days``, a year by default; 0 keeps the trail forever).

Each batch is its own short transaction (``batch_size`` rows), so writers wait for one batch at most. On
PostgreSQL a session advisory lock lets only one process prune at a time; the others skip the pass.
Totals are kept in a ``heartbeats`` row (``role = "retention"``) so the status report reads them from any
process, across restarts, without a table of their own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ewarn.models.common import utcnow
from ewarn.settings import RetentionSettings
from ewarn.store.db import as_utc
from ewarn.store.tables import (
    AlertEventRow,
    AlertRow,
    AuditLogRow,
    DeliveryAttemptRow,
    DeliveryRow,
    HeartbeatRow,
    IndicatorCveRow,
    IndicatorRow,
    QuarantineRow,
    RejectionRow,
)

TOTALS_ID = "retention"  # instance_id and role of the heartbeats row holding the totals
ADVISORY_LOCK_KEY = 0x65776172_6E5F7072  # "ewarn_pr": one pruner per PostgreSQL database

Progress = Callable[[str, int, int], None]  # (table, pruned so far, candidates counted at the start)


@dataclass(frozen=True)
class Target:
    """One kind of prunable row: its key, what makes it prunable at ``cutoff``, and rows that go with it."""

    name: str
    age_setting: str
    key: Any
    prunable: Callable[[datetime, datetime], ColumnElement[bool]]  # (cutoff, now)
    dependants: tuple[tuple[Any, Any], ...] = ()  # (table, column holding our key), deleted first


def _delivered(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(DeliveryRow.status == "delivered", DeliveryRow.delivered_at < cutoff),
        and_(DeliveryRow.status == "skipped", DeliveryRow.created_at < cutoff),
    )


def _dead(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    return and_(
        DeliveryRow.status == "dead",
        func.coalesce(DeliveryRow.replayed_at, DeliveryRow.created_at) < cutoff,
    )


def _superseded_event(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    current = exists().where(
        AlertRow.id == AlertEventRow.alert_id, AlertRow.revision == AlertEventRow.revision
    )
    return and_(AlertEventRow.created_at < cutoff, not_(current))


def _old_rejection(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    return RejectionRow.rejected_at < cutoff


def _finished_indicator(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    named = exists().where(AlertRow.indicator_key == IndicatorRow.key)
    ended = or_(
        and_(IndicatorRow.valid_until.is_not(None), IndicatorRow.valid_until < cutoff),
        and_(IndicatorRow.revoked.is_(True), IndicatorRow.last_seen < cutoff),
    )
    return and_(ended, not_(named))


def _stale_heartbeat(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    return and_(HeartbeatRow.last_beat_at < cutoff, HeartbeatRow.role != TOTALS_ID)


def _settled_quarantine(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    revision_key = AlertRow.id.concat("@").concat(cast(AlertRow.revision, String))
    still_current = exists().where(revision_key == QuarantineRow.key)
    return and_(
        QuarantineRow.last_seen_at < cutoff,
        or_(QuarantineRow.kind != "alert", not_(still_current)),
    )


def _old_audit(cutoff: datetime, _now: datetime) -> ColumnElement[bool]:
    return AuditLogRow.at < cutoff


TARGETS: tuple[Target, ...] = (
    Target(
        "deliveries_delivered",
        "delivered_days",
        DeliveryRow.id,
        _delivered,
        ((DeliveryAttemptRow, DeliveryAttemptRow.delivery_id),),
    ),
    Target(
        "deliveries_dead",
        "dead_days",
        DeliveryRow.id,
        _dead,
        ((DeliveryAttemptRow, DeliveryAttemptRow.delivery_id),),
    ),
    Target("alert_events", "alert_events_days", AlertEventRow.seq, _superseded_event),
    Target("rejections", "rejections_days", RejectionRow.id, _old_rejection),
    Target(
        "indicators",
        "indicators_days",
        IndicatorRow.key,
        _finished_indicator,
        ((IndicatorCveRow, IndicatorCveRow.indicator_key),),
    ),
    Target("heartbeats", "heartbeats_days", HeartbeatRow.instance_id, _stale_heartbeat),
    Target("quarantine", "quarantine_days", QuarantineRow.id, _settled_quarantine),
    Target("audit_log", "audit_days", AuditLogRow.id, _old_audit),
)
TARGET_NAMES = tuple(t.name for t in TARGETS)


@dataclass
class PruneReport:
    """What one pass deleted, per target; ``skipped`` when another process held the pruning lock."""

    pruned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TARGET_NAMES, 0))
    seconds: float = 0.0
    skipped: bool = False

    @property
    def total(self) -> int:
        return sum(self.pruned.values())


def cutoffs(settings: RetentionSettings, now: datetime) -> dict[str, datetime]:
    """The cutoff per target; a target whose age is 0 is kept forever and absent here."""
    out: dict[str, datetime] = {}
    for target in TARGETS:
        days = float(getattr(settings, target.age_setting))
        if days > 0:
            out[target.name] = now - timedelta(days=days)
    return out


async def prune_once(
    *,
    engine: AsyncEngine,
    settings: RetentionSettings,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> PruneReport:
    """One pass over every target, ``settings.batch_size`` rows per transaction, totals updated at the end."""
    now = now or utcnow()
    report = PruneReport()
    started = time.perf_counter()
    async with engine.connect() as conn:
        if not await _try_lock(conn):
            report.skipped = True
            return report
        try:
            limits = cutoffs(settings, now)
            for target in TARGETS:
                cutoff = limits.get(target.name)
                if cutoff is None:
                    continue
                report.pruned[target.name] = await _prune_target(
                    conn, target, cutoff, now, settings.batch_size, progress
                )
            report.seconds = round(time.perf_counter() - started, 3)
            await _add_to_totals(conn, report, now)
            await conn.commit()
        finally:
            await _unlock(conn)
    return report


async def _prune_target(
    conn: AsyncConnection,
    target: Target,
    cutoff: datetime,
    now: datetime,
    batch_size: int,
    progress: Progress | None,
) -> int:
    condition = target.prunable(cutoff, now)
    table = target.key.table
    candidates = 0
    if progress is not None:
        candidates = int(await conn.scalar(select(func.count()).select_from(table).where(condition)) or 0)
        progress(target.name, 0, candidates)
    done = 0
    while True:
        keys = list((await conn.execute(select(target.key).where(condition).limit(batch_size))).scalars())
        if not keys:
            break
        # The condition is checked again at delete time: a dead row replayed meanwhile is pending again.
        still = select(target.key).where(target.key.in_(keys), condition)
        for dependant, column in target.dependants:
            await conn.execute(delete(dependant).where(column.in_(still)))
        result = await conn.execute(delete(table).where(target.key.in_(keys), condition))
        await conn.commit()
        done += int(getattr(result, "rowcount", 0) or 0)
        if progress is not None:
            progress(target.name, done, candidates)
        if len(keys) < batch_size:
            break
    return done


async def _try_lock(conn: AsyncConnection) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite: one file, one writer at a time; a second pruner's deletes find nothing
    got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}))
    await conn.commit()
    return got


async def _unlock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.rollback()
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await conn.commit()


async def _add_to_totals(conn: AsyncConnection, report: PruneReport, now: datetime) -> None:
    row = (
        await conn.execute(select(HeartbeatRow.stats).where(HeartbeatRow.instance_id == TOTALS_ID))
    ).first()
    previous: dict[str, Any] = dict(row[0] or {}) if row is not None else {}
    total = {name: int((previous.get("total") or {}).get(name, 0)) + n for name, n in report.pruned.items()}
    stats = {
        "total": total,
        "last_run": dict(report.pruned),
        "last_run_at": now.isoformat(),
        "last_run_seconds": report.seconds,
        "passes": int(previous.get("passes", 0)) + 1,
    }
    if row is None:
        await conn.execute(
            insert(HeartbeatRow).values(
                instance_id=TOTALS_ID,
                role=TOTALS_ID,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
                last_beat_at=now,
                stats=stats,
            )
        )
    else:
        await conn.execute(
            update(HeartbeatRow)
            .where(HeartbeatRow.instance_id == TOTALS_ID)
            .values(last_beat_at=now, stats=stats, host=socket.gethostname(), pid=os.getpid())
        )


@dataclass(frozen=True)
class RetentionTotals:
    """Rows pruned since the first pass (``total``) and by the latest pass (``last_run``)."""

    total: dict[str, int]
    last_run: dict[str, int]
    last_run_at: datetime | None
    last_run_seconds: float | None
    passes: int


async def retention_totals(*, conn_or_session: Any) -> RetentionTotals | None:
    """The totals row, or None before the first pass (takes an AsyncSession or an AsyncConnection)."""
    row = (
        await conn_or_session.execute(
            select(HeartbeatRow.stats, HeartbeatRow.last_beat_at).where(HeartbeatRow.instance_id == TOTALS_ID)
        )
    ).first()
    if row is None:
        return None
    stats: dict[str, Any] = dict(row[0] or {})
    return RetentionTotals(
        total={k: int(v) for k, v in (stats.get("total") or {}).items()},
        last_run={k: int(v) for k, v in (stats.get("last_run") or {}).items()},
        last_run_at=as_utc(row[1]),
        last_run_seconds=stats.get("last_run_seconds"),
        passes=int(stats.get("passes", 0)),
    )
