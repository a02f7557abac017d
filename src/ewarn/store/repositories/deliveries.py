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
from sqlalchemy import Select, Text, and_, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import TLP
from ewarn.models.delivery import Delivery, DeliveryAttempt, DeliveryStatus
from ewarn.store.db import as_utc
from ewarn.store.keyset import after_key
from ewarn.store.repositories import outbox_sql
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
        names = ("provider_id", "alert_id", "revision", "created_at")
        await outbox_sql.insert_ignoring_conflicts(
            await session.connection(),
            AlertEventRow.__table__,  # type: ignore[arg-type]
            names,
            [[e[n] for n in names] for e in events],
            conflict="alert_id,revision",
        )


async def insert_deliveries(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Outbox rows keyed by the deterministic delivery id; an existing row is left exactly as it is.

    Every row has the same keys (column names). Returns the ids actually inserted (a redelivered alert
    message inserts none).
    """
    if not rows:
        return set()
    names = tuple(rows[0])
    inserted = await outbox_sql.insert_ignoring_conflicts(
        await session.connection(),
        outbox_sql.DELIVERIES,
        names,
        [[r[n] for n in names] for r in rows],
        conflict="id",
        returning="id",
    )
    return set(inserted)


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
    """Lease up to ``limit`` due deliveries, oldest due first, skipping the given subscriptions.

    Driver-level (``outbox_sql``); on PostgreSQL concurrent claimers skip each other's rows
    (``FOR UPDATE SKIP LOCKED``) instead of queueing on them and then finding them gone.
    """
    conn = await session.connection()
    rows = await outbox_sql.claim_due_rows(
        conn, now=now, lease_until=lease_until, limit=limit, exclude_subscriptions=exclude_subscriptions
    )
    read_ts = outbox_sql.timestamp_reader(conn.dialect)
    return [
        ClaimedDelivery(
            id=id_,
            alert_id=alert_id,
            alert_revision=revision,
            subscription_id=sub_id,
            provider_id=provider_id,
            channel=channel,
            attempts=attempts,
            attempts_before_replay=before_replay or 0,
            payload=_claimed_payload(payload),
            digest_key=digest_key,
            dispatched_at=as_utc(read_ts(dispatched_at)),
        )
        for (
            id_,
            alert_id,
            revision,
            sub_id,
            provider_id,
            channel,
            attempts,
            before_replay,
            payload,
            digest_key,
            dispatched_at,
        ) in rows
    ]


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


_ATTEMPT_COLUMNS = ("delivery_id", "attempt", "at", "status_code", "latency_ms", "error", "ok")


async def record_outcomes(*, session: AsyncSession, outcomes: Sequence[AttemptOutcome]) -> None:
    """Log the attempts and move each delivery on; a row another process already finished is left alone."""
    if not outcomes:
        return
    attempts = [
        (o.delivery_id, o.attempts, o.at, o.status_code, o.latency_ms, o.error, o.ok)
        for o in outcomes
        if o.attempted
    ]
    conn = await session.connection()
    if attempts:
        await outbox_sql.insert_ignoring_conflicts(
            conn,
            DeliveryAttemptRow.__table__,  # type: ignore[arg-type]
            _ATTEMPT_COLUMNS,
            attempts,
            conflict="delivery_id,attempt",
        )
    await outbox_sql.move_deliveries(
        conn,
        [
            (
                o.status.value,
                o.attempts,
                o.error,
                o.status_code,
                o.next_attempt_at,
                o.delivered_at,
                o.delivery_id,
            )
            for o in outcomes
        ],
    )


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
