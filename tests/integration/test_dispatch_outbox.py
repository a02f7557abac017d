"""The outbox on SQLite and PostgreSQL: idempotent inserts, leases, outcomes, replays, several workers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from tests.support.outbox_rows import outbox_row
from tests.support.receivers import (
    WebhookReceiver,
    add_provider,
    add_subscription,
    deliveries,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_settled,
)

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.alert import Severity
from ewarn.models.common import utcnow
from ewarn.models.delivery import DeliveryStatus
from ewarn.models.provider import Provider
from ewarn.models.subscription import Channel, SubscriptionFilters
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories.deliveries import AttemptOutcome
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.repositories.subscriptions import create_subscription
from ewarn.store.tables import AlertEventRow, DeliveryAttemptRow

NOW = utcnow()


def _row(i: int, sub_id: str, **kw: Any) -> dict[str, Any]:
    return outbox_row(f"msg_{i:04d}", f"alr_{i}", sub_id, now=NOW, **kw)


async def _seed(sessions: SessionFactory, rows: list[dict[str, Any]]) -> None:
    async with sessions() as session:
        await outbox.insert_deliveries(session=session, rows=rows)
        await session.commit()


async def _claim(sessions: SessionFactory, *, now: Any = NOW, limit: int = 100, **kw: Any) -> list[str]:
    async with sessions() as session:
        got = await outbox.claim_due(
            session=session, now=now, lease_until=now + timedelta(seconds=60), limit=limit, **kw
        )
        await session.commit()
    return sorted(d.id for d in got)


async def test_inserts_are_idempotent_and_never_overwrite(sessions: SessionFactory) -> None:
    await add_provider(sessions)
    sub, _ = await add_subscription(sessions, "https://hooks.example.org/h")
    await _seed(sessions, [_row(1, sub.id)])
    async with sessions() as session:
        again = [_row(1, sub.id, status="skipped", last_error="other"), _row(2, sub.id), _row(2, sub.id)]
        inserted = await outbox.insert_deliveries(session=session, rows=again)
        await session.commit()
    assert inserted == {"msg_0002"}, "only rows this insert created are reported (and handed to a sender)"
    rows = {r.id: r for r in await deliveries(sessions)}
    assert set(rows) == {"msg_0001", "msg_0002"}
    assert rows["msg_0001"].status == "pending" and rows["msg_0001"].last_error is None
    async with sessions() as session:
        event = {"provider_id": "st-elsewhere", "alert_id": "alr_1", "revision": 1, "created_at": NOW}
        await outbox.insert_alert_events(session=session, events=[event, event])
        await outbox.insert_alert_events(session=session, events=[event, {**event, "revision": 2}])
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(AlertEventRow)) == 2


async def test_claims_are_leased_exclusive_and_due_only(sessions: SessionFactory) -> None:
    await add_provider(sessions)
    sub, _ = await add_subscription(sessions, "https://hooks.example.org/h")
    other, _ = await add_subscription(sessions, "https://other.example.org/h")
    rows = [_row(i, sub.id) for i in range(40)]
    rows.append(_row(90, sub.id, next_attempt_at=NOW + timedelta(minutes=5)))  # not due yet
    rows.append(_row(91, other.id))
    rows.append(_row(92, sub.id, status="delivered"))
    await _seed(sessions, rows)
    first, second = await asyncio.gather(
        _claim(sessions, limit=25, exclude_subscriptions={other.id}),
        _claim(sessions, limit=25, exclude_subscriptions={other.id}),
    )
    assert not set(first) & set(second), "a row is leased to one claimer only"
    assert sorted(first + second) == [f"msg_{i:04d}" for i in range(40)]
    assert await _claim(sessions) == ["msg_0091"], "leased rows stay with their holder; excluded ones wait"
    assert len(await _claim(sessions, now=NOW + timedelta(seconds=61))) == 41, "expired leases are claimable"
    assert "msg_0090" in await _claim(sessions, now=NOW + timedelta(minutes=5)), "due now"
    async with sessions() as session:
        got = await outbox.claim_due(session=session, now=NOW, lease_until=NOW, limit=10)
        assert got == []


async def test_outcomes_move_deliveries_and_log_attempts(sessions: SessionFactory) -> None:
    await add_provider(sessions)
    sub, _ = await add_subscription(sessions, "https://hooks.example.org/h")
    await _seed(sessions, [_row(1, sub.id), _row(2, sub.id), _row(3, sub.id)])
    await _claim(sessions)
    later = NOW + timedelta(seconds=5)
    outcomes = [
        AttemptOutcome("msg_0001", 1, True, NOW, True, DeliveryStatus.DELIVERED, 204, 3.5, None, None, later),
        AttemptOutcome("msg_0002", 1, True, NOW, False, DeliveryStatus.PENDING, 503, 2.0, "HTTP 503", later),
        AttemptOutcome("msg_0003", 1, True, NOW, False, DeliveryStatus.DEAD, None, 1.0, "refused: x"),
    ]
    async with sessions() as session:
        await outbox.record_outcomes(session=session, outcomes=outcomes)
        # A late duplicate outcome (another worker after a lost lease) cannot undo a final state.
        await outbox.record_outcomes(
            session=session,
            outcomes=[
                AttemptOutcome("msg_0001", 1, True, NOW, False, DeliveryStatus.PENDING, 500, 1.0, "late")
            ],
        )
        await session.commit()
    rows = {r.id: r for r in await deliveries(sessions)}
    assert rows["msg_0001"].status == "delivered" and rows["msg_0001"].delivered_at is not None
    assert rows["msg_0002"].status == "pending" and rows["msg_0002"].lease_until is None
    assert rows["msg_0002"].last_status_code == 503 and rows["msg_0002"].attempts == 1
    assert rows["msg_0003"].status == "dead" and rows["msg_0003"].last_error == "refused: x"
    assert await _claim(sessions, now=later) == ["msg_0002"]
    async with sessions() as session:
        logged = (
            await session.scalars(select(DeliveryAttemptRow).order_by(DeliveryAttemptRow.delivery_id))
        ).all()
        assert [(a.delivery_id, a.attempt, a.ok) for a in logged] == [
            ("msg_0001", 1, True),
            ("msg_0002", 1, False),
            ("msg_0003", 1, False),
        ]
        assert await outbox.replay(session=session, delivery_id="msg_0003", now=later)
        assert not await outbox.replay(session=session, delivery_id="msg_0001", now=later), (
            "only dead letters"
        )
        assert not await outbox.replay(session=session, delivery_id="msg_nope", now=later)
        await session.commit()
    assert "msg_0003" in await _claim(sessions, now=later + timedelta(seconds=61))


async def test_two_dispatch_workers_share_the_outbox_without_double_delivery(
    sessions: SessionFactory,
) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        await add_provider(sessions)
        _, secret = await add_subscription(sessions, receiver.url())
        receiver.secrets = [secret or ""]
        topics_a, topics_b = Topics(prefix="t-a"), Topics(prefix="t-b")
        bus_a, bus_b = MemoryBus(), MemoryBus()
        settings = dispatch_settings(concurrency=8)
        async with (
            running_dispatch(sessions=sessions, bus=bus_a, topics=topics_a, settings=settings) as a,
            running_dispatch(sessions=sessions, bus=bus_b, topics=topics_b, settings=settings) as b,
        ):
            await publish(bus_a, topics_a, *[sample_alert(asset_id=f"ast_{i}") for i in range(60)])
            await receiver.wait_accepted(60, timeout=30)
            rows = await wait_settled(sessions, 60, timeout=30)
        assert all(r.status == "delivered" and r.attempts == 1 for r in rows)
        per_id = Counter(r.webhook_id for r in receiver.requests)
        assert len(per_id) == 60 and set(per_id.values()) == {1}, "every delivery sent exactly once"
        assert a.counters["delivered"] + b.counters["delivered"] == 60
    finally:
        await receiver.down()


async def test_routing_sees_every_subscription_of_a_batch_not_one_page(sessions: SessionFactory) -> None:
    """400 alerts of 400 providers with 3 subscriptions each arrive as one batch: all 1,200 are routed.

    The subscription read used for routing once shared the API's page size (1,000): the last 200
    subscriptions of such a batch got no delivery row at all. The filter makes every row a recorded skip,
    so nothing is sent and the count is exact.
    """
    providers = [f"clinic-{i:03d}" for i in range(400)]
    async with sessions() as session:
        for provider_id in providers:
            await upsert_provider(
                session=session, provider=Provider(id=provider_id, name=provider_id, country="DE")
            )
            for n in range(3):
                await create_subscription(
                    session=session,
                    provider_id=provider_id,
                    channel=Channel.WEBHOOK,
                    target=f"http://127.0.0.1:9/hook/{n}",
                    filters=SubscriptionFilters(min_severity=Severity.CRITICAL),
                )
        await session.commit()
    bus, topics = MemoryBus(), Topics(prefix="t-many")
    alerts = [sample_alert(provider_id=p, asset_id=f"ast_{p}", severity="high") for p in providers]
    async with running_dispatch(sessions=sessions, bus=bus, topics=topics, settings=dispatch_settings()):
        await publish(bus, topics, *alerts)  # one publish: the runner takes them as one batch of 400
        rows = await wait_settled(sessions, 1200, timeout=30)
    assert len(rows) == 1200
    assert {r.status for r in rows} == {DeliveryStatus.SKIPPED.value}
    assert Counter(r.provider_id for r in rows) == dict.fromkeys(providers, 3)
