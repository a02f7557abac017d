"""The delivery outbox: idempotent inserts, claims of due rows under a lease, attempts, dead-letter replays.

Claiming is one portable statement (SQLite and PostgreSQL):
``UPDATE deliveries SET lease_until=… WHERE id IN (SELECT id … due … LIMIT n) AND <still due> RETURNING …``.
The outer condition is evaluated again on each row under its write lock, so two processes racing for the same
rows cannot both win: the loser's UPDATE finds the lease already taken and skips the row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, Text, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import TLP
from ewarn.models.delivery import Delivery, DeliveryAttempt, DeliveryStatus
from ewarn.store.db import as_utc, insert_for
from ewarn.store.keyset import after_key
from ewarn.store.repositories.alerts import alert_tlp_in
from ewarn.store.tables import AlertEventRow, AlertRow, DeliveryAttemptRow, DeliveryRow, SubscriptionRow
from ewarn.textsafe import repair

CHUNK = 500


@dataclass(frozen=True)
class ClaimedDelivery:
    """A due delivery this process now holds until its lease ends."""

    id: str
    alert_id: str
    alert_revision: int
    subscription_id: str
    provider_id: str
    channel: str
    attempts: int
    attempts_before_replay: int
    payload: dict[str, Any]
    digest_key: str | None
    dispatched_at: datetime | None

    @property
    def attempts_in_budget(self) -> int:
        """Attempts made since the last replay (a replay gets a fresh budget)."""
        return self.attempts - self.attempts_before_replay


@dataclass(frozen=True)
class AttemptOutcome:
    """A delivery's state after this round; ``attempted`` when a request was actually made (and is logged)."""

    delivery_id: str
    attempts: int  # the delivery's attempt count afterwards; the logged attempt's number
    attempted: bool
    at: datetime
    ok: bool
    status: DeliveryStatus
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


def delivery_from_row(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        alert_id=row.alert_id,
        alert_revision=row.alert_revision,
        subscription_id=row.subscription_id,
        provider_id=row.provider_id,
        channel=row.channel,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        last_status_code=row.last_status_code,
        next_attempt_at=as_utc(row.next_attempt_at),
        created_at=row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC),
        dispatched_at=as_utc(row.dispatched_at),
        delivered_at=as_utc(row.delivered_at),
    )


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


async def insert_alert_events(*, session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    """One event per (alert, revision); a redelivered alert message adds nothing."""
    if events:
        stmt = insert_for(session, AlertEventRow.__table__)
        stmt = stmt.on_conflict_do_nothing(index_elements=["alert_id", "revision"])  # type: ignore[attr-defined]
        await session.execute(stmt, list(events))  # executemany: one statement compiled, not one per row


async def insert_deliveries(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Outbox rows keyed by the deterministic delivery id; an existing row is left exactly as it is.

    Returns the ids actually inserted (a redelivered alert message inserts none).
    """
    if not rows:
        return set()
    table = DeliveryRow.__table__
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)  # type: ignore[attr-defined]
    result = await session.execute(stmt, list(rows))
    return set(result.scalars().all())


_CLAIM_COLUMNS = (
    DeliveryRow.id,
    DeliveryRow.alert_id,
    DeliveryRow.alert_revision,
    DeliveryRow.subscription_id,
    DeliveryRow.provider_id,
    DeliveryRow.channel,
    DeliveryRow.attempts,
    DeliveryRow.attempts_before_replay,
    # As text, decoded below with orjson: the column type's json.loads cost more than the rest of a claim.
    cast(DeliveryRow.payload, Text).label("payload"),
    DeliveryRow.digest_key,
    DeliveryRow.dispatched_at,
)


def _claimed_payload(text: str | None) -> Any:
    """A claimed row's payload, repaired when it holds a lone surrogate or NUL (orjson refuses the one and a
    text search finds the other, so the common case costs one C-speed parse)."""
    if text is None:
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return repair(json.loads(text))
    return repair(data) if "\\u0000" in text else data


def _free(now: datetime) -> Any:
    return and_(
        DeliveryRow.status == DeliveryStatus.PENDING.value,
        DeliveryRow.next_attempt_at <= now,
        or_(DeliveryRow.lease_until.is_(None), DeliveryRow.lease_until < now),
    )


async def _claim(
    session: AsyncSession, ids: Select[Any], now: datetime, lease_until: datetime
) -> list[ClaimedDelivery]:
    stmt = (
        update(DeliveryRow)
        .where(DeliveryRow.id.in_(ids.scalar_subquery()), _free(now))
        # dispatched_at: the first time the delivery was handed to its channel, for per-alert latency.
        .values(lease_until=lease_until, dispatched_at=func.coalesce(DeliveryRow.dispatched_at, now))
        .returning(*_CLAIM_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return [
        ClaimedDelivery(
            id=r.id,
            alert_id=r.alert_id,
            alert_revision=r.alert_revision,
            subscription_id=r.subscription_id,
            provider_id=r.provider_id,
            channel=r.channel,
            attempts=r.attempts,
            attempts_before_replay=r.attempts_before_replay or 0,
            payload=_claimed_payload(r.payload),
            digest_key=r.digest_key,
            dispatched_at=as_utc(r.dispatched_at),
        )
        for r in rows
    ]


async def claim_due(
    *,
    session: AsyncSession,
    now: datetime,
    lease_until: datetime,
    limit: int,
    exclude_subscriptions: Collection[str] = (),
) -> list[ClaimedDelivery]:
    """Lease up to ``limit`` due deliveries, oldest due first, skipping the given subscriptions."""
    ids = select(DeliveryRow.id).where(_free(now)).order_by(DeliveryRow.next_attempt_at).limit(limit)
    if exclude_subscriptions:
        ids = ids.where(DeliveryRow.subscription_id.not_in(list(exclude_subscriptions)))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Concurrent claimers skip each other's rows instead of queueing on them and then finding them gone.
        ids = ids.with_for_update(skip_locked=True)
    return await _claim(session, ids, now, lease_until)


async def claim_digest(
    *, session: AsyncSession, subscription_id: str, digest_key: str, now: datetime, lease_until: datetime
) -> list[ClaimedDelivery]:
    """Lease the rest of a digest window, so one message carries all of it."""
    ids = select(DeliveryRow.id).where(
        DeliveryRow.subscription_id == subscription_id, DeliveryRow.digest_key == digest_key
    )
    return await _claim(session, ids, now, lease_until)


async def release(
    *, session: AsyncSession, ids: Collection[str], next_attempt_at: datetime | None = None
) -> None:
    """Give leased deliveries back unattempted; due again at ``next_attempt_at`` (or as they were)."""
    values: dict[str, Any] = {"lease_until": None}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    for chunk in _chunks(list(ids)):
        await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(chunk), DeliveryRow.status == DeliveryStatus.PENDING.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def record_outcomes(*, session: AsyncSession, outcomes: Sequence[AttemptOutcome]) -> None:
    """Log the attempts and move each delivery on; a row another process already finished is left alone."""
    if not outcomes:
        return
    attempts = [
        {
            "delivery_id": o.delivery_id,
            "attempt": o.attempts,
            "at": o.at,
            "status_code": o.status_code,
            "latency_ms": o.latency_ms,
            "error": o.error,
            "ok": o.ok,
        }
        for o in outcomes
        if o.attempted
    ]
    if attempts:
        insert = insert_for(session, DeliveryAttemptRow.__table__)
        insert = insert.on_conflict_do_nothing(index_elements=["delivery_id", "attempt"])  # type: ignore[attr-defined]
        await session.execute(insert, attempts)
    moved = (
        update(DeliveryRow)
        .where(DeliveryRow.id == bindparam("b_id"), DeliveryRow.status == DeliveryStatus.PENDING.value)
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            last_error=bindparam("b_error"),
            last_status_code=bindparam("b_code"),
            next_attempt_at=bindparam("b_next"),
            delivered_at=bindparam("b_delivered"),
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    params = [
        {
            "b_id": o.delivery_id,
            "b_status": o.status.value,
            "b_attempts": o.attempts,
            "b_error": o.error,
            "b_code": o.status_code,
            "b_next": o.next_attempt_at,
            "b_delivered": o.delivered_at,
        }
        for o in outcomes
    ]
    conn = await session.connection()
    await conn.execute(moved, params)


def _of_readable_alerts(stmt: Select[Any], tlps: Collection[TLP] | None) -> Select[Any]:
    """Only deliveries of stored alerts marked with one of ``tlps`` (None: every delivery)."""
    if tlps is None:
        return stmt
    return stmt.join(AlertRow, AlertRow.id == DeliveryRow.alert_id).where(alert_tlp_in(tlps))


async def get_delivery(
    *, session: AsyncSession, delivery_id: str, tlps: Collection[TLP] | None = None
) -> Delivery | None:
    """The delivery; with ``tlps``, None unless its alert is marked with one of them (the TLP read rule)."""
    if tlps is not None:
        stmt = _of_readable_alerts(select(DeliveryRow.id).where(DeliveryRow.id == delivery_id), tlps)
        if await session.scalar(stmt) is None:
            return None
    row = await session.get(DeliveryRow, delivery_id, populate_existing=True)
    return delivery_from_row(row) if row else None


async def list_deliveries(
    *,
    session: AsyncSession,
    subscription_id: str | None = None,
    provider_ids: Collection[str] | None = None,
    status: DeliveryStatus | None = None,
    limit: int = 100,
    after: tuple[datetime, str] | None = None,
    tlps: Collection[TLP] | None = None,
) -> list[Delivery]:
    """Newest first, for one subscription or the given providers (None: all); ``after``: (created_at, id);
    ``tlps``: only deliveries of alerts marked with one of these (None: any)."""
    stmt = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id).limit(limit)
    stmt = _of_readable_alerts(stmt, tlps)
    if subscription_id is not None:
        stmt = stmt.where(DeliveryRow.subscription_id == subscription_id)
    if provider_ids is not None:
        stmt = stmt.where(DeliveryRow.provider_id.in_(list(provider_ids)))
    if status is not None:
        stmt = stmt.where(DeliveryRow.status == status.value)
    if after is not None:
        stmt = stmt.where(after_key([(DeliveryRow.created_at, True), (DeliveryRow.id, False)], after))
    return [delivery_from_row(r) for r in (await session.scalars(stmt)).all()]


async def list_attempts(*, session: AsyncSession, delivery_ids: Collection[str]) -> list[DeliveryAttempt]:
    if not delivery_ids:
        return []
    rows = await session.scalars(
        select(DeliveryAttemptRow)
        .where(DeliveryAttemptRow.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryAttemptRow.delivery_id, DeliveryAttemptRow.attempt)
    )
    return [
        DeliveryAttempt(
            delivery_id=r.delivery_id,
            attempt=r.attempt,
            at=r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
            status_code=r.status_code,
            latency_ms=r.latency_ms,
            error=r.error,
            ok=r.ok,
        )
        for r in rows.all()
    ]


async def replay(*, session: AsyncSession, delivery_id: str, now: datetime) -> bool:
    """Put a dead letter back in the outbox with a fresh attempt budget; False unless it was dead.

    The update is conditional on the row being dead, so two concurrent replays queue it once.
    """
    result = await session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id == delivery_id, DeliveryRow.status == DeliveryStatus.DEAD.value)
        .values(
            status=DeliveryStatus.PENDING.value,
            attempts_before_replay=DeliveryRow.attempts,
            next_attempt_at=now,
            lease_until=None,
            replayed_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def subscription_owner(*, session: AsyncSession, subscription_id: str) -> str | None:
    """The provider a subscription (live or deleted) belongs to, for tenancy checks on its deliveries."""
    owner: str | None = await session.scalar(
        select(SubscriptionRow.provider_id).where(SubscriptionRow.id == subscription_id)
    )
    return owner


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
