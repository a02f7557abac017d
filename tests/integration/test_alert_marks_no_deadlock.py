"""Correlate's published marks and dispatch's alert events never deadlock on PostgreSQL.

Both write the same ``alert_events`` keys: correlate marks the revisions it published, dispatch writes the
stream's event when the alert reaches it, in its own order. Marked after the publish, correlate could hold one
key while waiting for another that dispatch held while waiting for the first: PostgreSQL found the deadlock
after its one-second timeout and correlate stalled (seen in the Kafka benchmark). The marks are now written
before the publish, in a transaction committed after the acknowledgement, so dispatch waits for that commit.
This test plays dispatch inside the bus's publish: it writes the keys in the other order, as soon as it can.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from sqlalchemy import func, select
from tests.support.receivers import sample_alert

from ewarn.correlate.revisions import RevisionWriter
from ewarn.models.common import utcnow
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.tables import AlertEventRow


class DispatchOnPublish:
    """A bus whose publish lets a concurrent 'dispatch' write the alerts' events in reverse order."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self.dispatch: asyncio.Task[None] | None = None

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> None:
        first_written = asyncio.Event()
        keys = [sample_alert(asset_id=f"ast_{i}") for i in range(2)]
        self.dispatch = asyncio.create_task(
            self._dispatch([(a.provider_id, a.id) for a in reversed(keys)], first_written)
        )
        # the bus acknowledges once dispatch wrote its first key, or could not (it waits for this commit)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_written.wait(), 0.5)

    async def _dispatch(self, keys: list[tuple[str, str]], first_written: asyncio.Event) -> None:
        async with self._sessions() as session, session.begin():
            for n, (provider, alert) in enumerate(keys):
                await outbox.insert_alert_events(
                    session=session,
                    events=[
                        {"provider_id": provider, "alert_id": alert, "revision": 1, "created_at": utcnow()}
                    ],
                )
                if n == 0:
                    first_written.set()
                    await asyncio.sleep(0.2)  # correlate marks meanwhile (if it marks after the publish)


async def test_marks_and_dispatch_events_do_not_deadlock(pg_sessions: SessionFactory) -> None:
    bus = DispatchOnPublish(pg_sessions)

    async def no_quarantine(bad: object) -> None:
        raise AssertionError("nothing to quarantine")

    writer = RevisionWriter(
        bus=bus,  # type: ignore[arg-type]
        sessions=pg_sessions,
        alerts_topic="alerts",
        quarantine=no_quarantine,  # type: ignore[arg-type]
        clock=utcnow,
    )
    alerts = [sample_alert(asset_id=f"ast_{i}") for i in range(2)]
    await writer.publish([(a, a.model_dump_json().encode()) for a in alerts])
    assert bus.dispatch is not None
    await asyncio.wait_for(bus.dispatch, 10)  # dispatch's write completes too, without an error
    async with pg_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(AlertEventRow))
    assert count == 2
