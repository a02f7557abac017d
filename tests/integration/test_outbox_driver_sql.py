"""The outbox's driver-level statements (``outbox_sql``) on SQLite and PostgreSQL: what they write reads back
through SQLAlchemy exactly (timestamps, JSON payloads), rows split over several statements all arrive, and
SQLAlchemy-built conditions on the same columns match what they wrote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.outbox_rows import outbox_row
from tests.support.receivers import add_provider, add_subscription

from ewarn.models.common import utcnow
from ewarn.models.delivery import DeliveryStatus
from ewarn.store.db import EncodedJson, SessionFactory
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories import outbox_sql
from ewarn.store.repositories.deliveries import AttemptOutcome
from ewarn.store.tables import AlertEventRow, DeliveryAttemptRow, DeliveryRow

NOW = utcnow().replace(microsecond=123456)


def _row(i: int, sub_id: str, payload: Any) -> dict[str, Any]:
    return outbox_row(
        f"drv_{i:05d}", f"alr_{i}", sub_id, now=NOW, payload=payload, created_at=NOW - timedelta(seconds=i)
    )


async def test_written_rows_read_back_exactly(sessions: SessionFactory) -> None:
    await add_provider(sessions)
    sub, _ = await add_subscription(sessions, "https://hooks.example.org/h")
    text = EncodedJson('{"id":"alr_0","title":"caf\\u00e9 \u00fcber"}')
    rows = [_row(0, sub.id, text), _row(1, sub.id, {"id": "alr_1", "n": [1, 2]})]
    async with sessions() as session:
        assert await outbox.insert_deliveries(session=session, rows=rows) == {"drv_00000", "drv_00001"}
        await outbox.insert_alert_events(
            session=session,
            events=[{"provider_id": "st-elsewhere", "alert_id": "alr_0", "revision": 3, "created_at": NOW}],
        )
        await session.commit()
    async with sessions() as session:
        got = {r.id: r for r in (await session.scalars(select(DeliveryRow))).all()}
        event = (await session.scalars(select(AlertEventRow))).one()
        # conditions built by SQLAlchemy compare with what the driver-level statement wrote
        due = await session.scalar(
            select(func.count()).select_from(DeliveryRow).where(DeliveryRow.next_attempt_at <= NOW)
        )
        later = await session.scalar(
            select(func.count()).select_from(DeliveryRow).where(DeliveryRow.next_attempt_at > NOW)
        )
    assert (due, later) == (2, 0)
    assert got["drv_00000"].payload == {"id": "alr_0", "title": "café über"}
    assert got["drv_00001"].payload == {"id": "alr_1", "n": [1, 2]}
    for i, row in enumerate(sorted(got.values(), key=lambda r: r.id)):
        assert row.next_attempt_at is not None
        assert row.next_attempt_at.replace(tzinfo=None) == NOW.replace(tzinfo=None)
        assert row.created_at.replace(tzinfo=None) == (NOW - timedelta(seconds=i)).replace(tzinfo=None)
    assert (event.alert_id, event.revision) == ("alr_0", 3)
    assert event.created_at.replace(tzinfo=None) == NOW.replace(tzinfo=None)


async def test_rows_over_several_statements_all_arrive_and_claims_skip_excluded(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_sql, "MAX_PARAMS", 50)  # three rows of 16 columns per statement
    await add_provider(sessions)
    sub, _ = await add_subscription(sessions, "https://hooks.example.org/h")
    others = [(await add_subscription(sessions, f"https://o{i}.example.org/h"))[0] for i in range(3)]
    rows = [_row(i, sub.id, {"id": f"alr_{i}"}) for i in range(10)]
    rows += [_row(100 + i, o.id, {"id": f"alr_o{i}"}) for i, o in enumerate(others)]
    async with sessions() as session:
        inserted = await outbox.insert_deliveries(session=session, rows=rows)
        again = await outbox.insert_deliveries(session=session, rows=rows)
        await session.commit()
    assert inserted == {r["id"] for r in rows} and again == set()
    async with sessions() as session:
        claimed = await outbox.claim_due(
            session=session,
            now=NOW,
            lease_until=NOW + timedelta(seconds=60),
            limit=100,
            exclude_subscriptions={o.id for o in others},
        )
        await session.commit()
    assert sorted(d.id for d in claimed) == [f"drv_{i:05d}" for i in range(10)]
    first = next(d for d in claimed if d.id == "drv_00003")
    assert first.payload == {"id": "alr_3"} and first.attempts_before_replay == 0
    assert first.dispatched_at is not None and first.dispatched_at.replace(tzinfo=None) == NOW.replace(
        tzinfo=None
    )
    outcomes = [
        AttemptOutcome(d.id, 1, True, NOW, True, DeliveryStatus.DELIVERED, 204, 1.5, None, None, NOW)
        for d in claimed
    ]
    async with sessions() as session:
        await outbox.record_outcomes(session=session, outcomes=outcomes)
        await session.commit()
    async with sessions() as session:
        delivered = (
            await session.scalars(
                select(DeliveryRow).where(DeliveryRow.status == DeliveryStatus.DELIVERED.value)
            )
        ).all()
        logged = await session.scalar(select(func.count()).select_from(DeliveryAttemptRow))
    assert len(delivered) == 10 and logged == 10
    assert all(r.lease_until is None and r.attempts == 1 and r.last_status_code == 204 for r in delivered)
    assert all(
        r.delivered_at is not None and r.delivered_at.replace(tzinfo=None) == NOW.replace(tzinfo=None)
        for r in delivered
    )
