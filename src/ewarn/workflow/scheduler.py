"""The workflow scheduler: a loop in the dispatch role that keeps the deadline ledger and sends due notices.

Every ``scheduler_interval_seconds`` it brings the ledger in step with revised alerts, then writes the outbox
rows of every reminder and escalation that has fallen due; the dispatch worker sends them like any delivery.
Several dispatch processes may run it at once: ledger rows are claimed ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
and delivery ids are deterministic, so a notice is written once. The clock is injected for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

from ewarn.logging import get_logger
from ewarn.models.common import utcnow
from ewarn.settings import WorkflowSettings
from ewarn.store.db import SessionFactory
from ewarn.workflow.service import plan_unplanned, send_due_notices, sync_ledger

log = get_logger(__name__)

_MAX_PASSES = 100  # batches per step and tick: a backlog beyond it waits for the next tick


class WorkflowScheduler:
    """Keeps deadlines and sends reminders and escalations until ``stop()``."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        settings: WorkflowSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._stopping = asyncio.Event()
        self.synced = 0
        self.notices = 0
        self.failures = 0

    async def tick(self) -> tuple[int, int]:
        """One pass: (ledger rows brought in step, notices written). Safe to call at any time."""
        now = self._clock()
        batch = self._settings.batch_size
        synced = notices = 0
        for _ in range(_MAX_PASSES):  # catch up on revised alerts before judging deadlines
            async with self._sessions() as session, session.begin():
                moved = await sync_ledger(session=session, settings=self._settings, now=now, limit=batch)
            synced += moved
            if moved < batch:
                break
        async with self._sessions() as session, session.begin():
            await plan_unplanned(session=session, settings=self._settings, now=now, limit=batch)
        for _ in range(_MAX_PASSES):
            async with self._sessions() as session, session.begin():
                sent = await send_due_notices(session=session, settings=self._settings, now=now, limit=batch)
            notices += sent
            if sent < batch:
                break
        self.synced += synced
        self.notices += notices
        return synced, notices

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the next pass retries; the dispatch role must go on meanwhile
                self.failures += 1
                log.warning("workflow_tick_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.scheduler_interval_seconds)

    def stop(self) -> None:
        self._stopping.set()

    def stats(self) -> dict[str, int]:
        return {"ledger_synced": self.synced, "notices": self.notices, "failures": self.failures}
