"""The workflow's reads and writes: status changes with their history, the deadline ledger, notice outbox rows.

Decisions (which transition is allowed, when a deadline falls) are made by ``ewarn.workflow``; this module only
stores and reads. A status change, its transition row, the ledger update and the audit row share the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.ids import stable_id
from ewarn.models.alert import Alert, AlertStatus
from ewarn.models.common import TLP
from ewarn.models.delivery import DeliveryStatus
from ewarn.models.workflow import Transition
from ewarn.store.db import as_utc
from ewarn.store.keyset import after_key
from ewarn.store.repositories.alerts import alert_from_row, alert_tlp_in
from ewarn.store.repositories.audit import AuditActor
from ewarn.store.repositories.deliveries import insert_deliveries
from ewarn.store.tables import (
    AlertRow,
    AlertTransitionRow,
    AlertWorkflowRow,
    CsirtRow,
    DeliveryRow,
    ProviderRow,
    SubscriptionRow,
)

ESCALATION = "escalation"  # subscriptions.purpose of the workflow's own rows
_OPEN = [AlertStatus.NEW.value, AlertStatus.ACKNOWLEDGED.value, AlertStatus.IN_PROGRESS.value]


async def lock_alert(*, session: AsyncSession, alert_id: str) -> AlertRow | None:
    return await session.get(AlertRow, alert_id, with_for_update=True, populate_existing=True)


def set_status(row: AlertRow, status: AlertStatus, *, now: datetime) -> Alert:
    """Write ``status`` into the alert row (column and stored model) and move ``updated_at``."""
    row.status = status.value
    row.data = {**row.data, "status": status.value, "updated_at": now.isoformat()}
    row.updated_at = now
    return alert_from_row(row)


def add_transition(
    session: AsyncSession,
    *,
    alert: Alert,
    from_status: AlertStatus,
    to_status: AlertStatus,
    actor: AuditActor,
    comment: str | None,
    now: datetime,
) -> None:
    session.add(
        AlertTransitionRow(
            alert_id=alert.id,
            provider_id=alert.provider_id,
            revision=alert.revision,
            from_status=from_status.value,
            to_status=to_status.value,
            actor=actor.id[:255],
            actor_role=actor.role[:16],
            actor_name=actor.name[:255],
            comment=comment,
            at=now,
        )
    )


def _transition(row: AlertTransitionRow) -> Transition:
    return Transition(
        alert_id=row.alert_id,
        revision=row.revision,
        from_status=AlertStatus(row.from_status),
        to_status=AlertStatus(row.to_status),
        actor=row.actor,
        actor_role=row.actor_role,
        actor_name=row.actor_name,
        comment=row.comment,
        at=as_utc(row.at) or row.at,
    )


async def transitions_of(*, session: AsyncSession, alert_id: str, limit: int = 1000) -> list[Transition]:
    """The alert's history, oldest first."""
    rows = await session.scalars(
        select(AlertTransitionRow)
        .where(AlertTransitionRow.alert_id == alert_id)
        .order_by(AlertTransitionRow.at, AlertTransitionRow.id)
        .limit(limit)
    )
    return [_transition(r) for r in rows]


# --- the deadline ledger -----------------------------------------------------------------------------------


async def ledger_row(*, session: AsyncSession, alert_id: str) -> AlertWorkflowRow | None:
    return await session.get(AlertWorkflowRow, alert_id, populate_existing=True)


async def alerts_out_of_step(
    *, session: AsyncSession, limit: int
) -> list[tuple[AlertRow, AlertWorkflowRow | None]]:
    """Alerts whose ledger row is missing or holds an older revision (a new revision was stored since)."""
    stmt = (
        select(AlertRow, AlertWorkflowRow)
        .outerjoin(AlertWorkflowRow, AlertWorkflowRow.alert_id == AlertRow.id)
        .where(or_(AlertWorkflowRow.alert_id.is_(None), AlertWorkflowRow.revision != AlertRow.revision))
        .order_by(AlertRow.updated_at, AlertRow.id)
        .limit(limit)
    )
    return [(a, w) for a, w in (await session.execute(stmt)).all()]


async def due_notices(*, session: AsyncSession, now: datetime, limit: int) -> list[AlertWorkflowRow]:
    """Ledger rows of open alerts whose next notice (acknowledgement or resolution) has fallen due."""
    stmt = (
        select(AlertWorkflowRow)
        .where(
            AlertWorkflowRow.status.in_(_OPEN),
            AlertWorkflowRow.next_notice_at.is_not(None),
            AlertWorkflowRow.next_notice_at <= now,
        )
        .order_by(AlertWorkflowRow.next_notice_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def unplanned_open_rows(
    *, session: AsyncSession, resolve_due_after: datetime, limit: int
) -> list[AlertWorkflowRow]:
    """Open ledger rows with no next notice whose resolution deadline lies after ``resolve_due_after``."""
    stmt = (
        select(AlertWorkflowRow)
        .where(
            AlertWorkflowRow.status.in_(_OPEN),
            AlertWorkflowRow.next_notice.is_(None),
            AlertWorkflowRow.resolve_due_at > resolve_due_after,
        )
        .order_by(AlertWorkflowRow.resolve_due_at, AlertWorkflowRow.alert_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def overdue_rows(
    *,
    session: AsyncSession,
    now: datetime,
    provider_ids: set[str] | None,
    limit: int,
    tlps: Collection[TLP] | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[AlertWorkflowRow]:
    """Open alerts past their acknowledgement (still new) or resolution deadline, raised earliest first.

    ``tlps``: only alerts marked with one of these (None: any); ``after``: the (raised_at, alert id) of the
    previous page's last row.
    """
    stmt = (
        select(AlertWorkflowRow)
        .where(
            or_(
                and_(
                    AlertWorkflowRow.status == AlertStatus.NEW.value,
                    AlertWorkflowRow.acknowledge_due_at <= now,
                ),
                and_(AlertWorkflowRow.status.in_(_OPEN), AlertWorkflowRow.resolve_due_at <= now),
            )
        )
        .order_by(AlertWorkflowRow.raised_at, AlertWorkflowRow.alert_id)
        .limit(limit)
    )
    if provider_ids is not None:
        stmt = stmt.where(AlertWorkflowRow.provider_id.in_(sorted(provider_ids)))
    if tlps is not None:
        stmt = stmt.join(AlertRow, AlertRow.id == AlertWorkflowRow.alert_id).where(alert_tlp_in(tlps))
    if after is not None:
        stmt = stmt.where(
            after_key([(AlertWorkflowRow.raised_at, False), (AlertWorkflowRow.alert_id, False)], after)
        )
    return list((await session.scalars(stmt)).all())


async def raised_between(
    *, session: AsyncSession, since: datetime, until: datetime, provider_ids: set[str] | None, limit: int
) -> list[AlertWorkflowRow]:
    """Ledger rows of alerts raised in [since, until) (the response-time report's population)."""
    stmt = (
        select(AlertWorkflowRow)
        .where(AlertWorkflowRow.raised_at >= since, AlertWorkflowRow.raised_at < until)
        .order_by(AlertWorkflowRow.raised_at)
        .limit(limit)
    )
    if provider_ids is not None:
        stmt = stmt.where(AlertWorkflowRow.provider_id.in_(sorted(provider_ids)))
    return list((await session.scalars(stmt)).all())


# --- notices through the outbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contacts:
    provider_contact: str | None
    csirt_id: str | None
    csirt_contact: str | None


async def escalation_contacts(*, session: AsyncSession, provider_id: str) -> Contacts:
    row = (
        await session.execute(
            select(ProviderRow.escalation_contact, ProviderRow.csirt_id, CsirtRow.escalation_contact)
            .outerjoin(CsirtRow, CsirtRow.id == ProviderRow.csirt_id)
            .where(ProviderRow.id == provider_id)
        )
    ).first()
    if row is None:
        return Contacts(None, None, None)
    return Contacts(row[0], row[1], row[2])


async def escalation_subscription(
    *, session: AsyncSession, provider_id: str, target: str, now: datetime
) -> str:
    """The id of the workflow's own e-mail subscription to ``target`` for this provider (created if new).

    These rows carry overdue notices through the outbox (signed, retried, logged like any delivery); their
    purpose keeps them out of routing and out of the provider's subscription list.
    """
    sub_id = stable_id("sub", ESCALATION, provider_id, target.lower())
    row = await session.get(SubscriptionRow, sub_id)
    if row is None:
        session.add(
            SubscriptionRow(
                id=sub_id,
                provider_id=provider_id,
                channel="email",
                target=target,
                secret=None,
                previous_secret=None,
                previous_secret_expires_at=None,
                filters={},
                payload_format="json",
                digest="none",
                enabled=True,
                disabled_reason=None,
                created_at=now,
                purpose=ESCALATION,
            )
        )
        await session.flush()
    elif row.deleted_at is not None or not row.enabled:
        row.deleted_at, row.enabled, row.disabled_reason = None, True, None
    return sub_id


async def insert_notice_deliveries(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Outbox rows for notices, keyed by deterministic ids (a repeated tick inserts nothing)."""
    return await insert_deliveries(session=session, rows=rows)


async def cancel_pending(*, session: AsyncSession, delivery_ids: Sequence[str], reason: str) -> int:
    """Skip notice deliveries not sent yet (the alert was acknowledged meanwhile)."""
    if not delivery_ids:
        return 0
    result = await session.execute(
        update(DeliveryRow)
        .where(
            DeliveryRow.id.in_(list(delivery_ids)),
            DeliveryRow.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.SKIPPED.value, last_error=reason, next_attempt_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
