"""Dispatch shutdown: the outcome writer ends after the last outcome is written, however the wake-ups fall.

A SIGTERM'd dispatcher once hung (killed after 30 s in the SIGTERM hand-over test): the end of the delivery
loop woke the outcome writer while it was still writing an earlier batch; the writer then took that wake-up
for the last outcome's, wrote it, and waited for a wake-up that never came. The interleaving is forced here
by holding the dispatch process's write lock, so the test fails every time the bug is present.
"""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import select
from tests.support.receivers import add_provider, add_subscription, dispatch_settings

from ewarn.dispatch.context import DispatchContext
from ewarn.dispatch.outcomes import OutcomeRecorder
from ewarn.models.common import utcnow
from ewarn.models.delivery import DeliveryStatus
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories.deliveries import AttemptOutcome
from ewarn.store.tables import DeliveryAttemptRow, DeliveryRow


async def _seed(sessions: SessionFactory, ids: list[str]) -> None:
    """Two leased outbox rows, as handed over to the senders."""
    await add_provider(sessions)
    sub, _ = await add_subscription(sessions, "http://127.0.0.1:9/hook")
    now = utcnow()
    rows = [
        {
            "id": delivery_id,
            "alert_id": f"alr_{delivery_id}",
            "alert_revision": 1,
            "subscription_id": sub.id,
            "provider_id": sub.provider_id,
            "channel": "webhook",
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "attempts_before_replay": 0,
            "last_error": None,
            "last_status_code": None,
            "next_attempt_at": now,
            "lease_until": now,
            "dispatched_at": now,
            "payload": {"id": f"alr_{delivery_id}"},
            "digest_key": None,
            "created_at": now,
        }
        for delivery_id in ids
    ]
    async with sessions() as session:
        await outbox.insert_deliveries(session=session, rows=rows)
        await session.commit()


def _outcome(delivery_id: str) -> AttemptOutcome:
    return AttemptOutcome(
        delivery_id=delivery_id,
        attempts=1,
        attempted=True,
        at=utcnow(),
        ok=True,
        status=DeliveryStatus.DELIVERED,
        status_code=204,
        latency_ms=1.0,
    )


async def test_the_outcome_writer_ends_after_a_stop_that_lands_mid_write(
    sqlite_sessions: SessionFactory,
) -> None:
    await _seed(sqlite_sessions, ["msg_first", "msg_last"])
    ctx = DispatchContext(
        sessions=sqlite_sessions, settings=dispatch_settings(), clock=utcnow, rand=random.random
    )
    recorder = OutcomeRecorder(ctx)
    ctx.stopping.set()  # stopping: the writer writes at once, without gathering
    writer = asyncio.create_task(recorder.run())
    async with ctx.writes.hold():  # the writer's first write waits here: "a write in progress"
        recorder.add([_outcome("msg_first")])
        await asyncio.sleep(0.05)  # the writer has taken the first batch and waits for the lock
        recorder.add([_outcome("msg_last")])  # the last send finishes...
        recorder.deliveries_finished()  # ...and the delivery loop ends, as the worker's run() then signals
    await asyncio.wait_for(writer, 5)  # waited forever before the fix
    async with sqlite_sessions() as session:
        logged = set((await session.scalars(select(DeliveryAttemptRow.delivery_id))).all())
        statuses = set((await session.scalars(select(DeliveryRow.status))).all())
    assert logged == {"msg_first", "msg_last"}, "both outcomes written before the writer ended"
    assert statuses == {"delivered"}
