"""The newest alert-event seq, polled once for every open event stream of this process.

An idle stream asks the database nothing: it waits here until an event newer than what it has checked
exists (for any tenant), then runs its own query. Fifty idle streams cost one small query per poll interval
instead of fifty. The poller runs only while some stream waits.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.logging import get_logger
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.alert_events import last_alert_event_seq

log = get_logger(__name__)


class NewestEventWatch:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        db_slot: Any,  # () -> async context manager that bounds database use (the API's gate)
        interval: float,
    ) -> None:
        self._sessions = sessions
        self._db_slot = db_slot
        self.interval = interval
        self.newest = -1  # unknown until the first poll
        self.polls = 0
        self._advanced = asyncio.Event()
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None

    async def wait_beyond(self, seq: int) -> None:
        """Return once an event with a seq above ``seq`` exists (for some tenant)."""
        if self.newest > seq:
            return
        self._waiting += 1
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._poll(), name="newest-alert-event")
            while self.newest <= seq:
                await self._advanced.wait()
        finally:
            self._waiting -= 1

    async def _poll(self) -> None:
        while self._waiting > 0:
            try:
                slot: AbstractAsyncContextManager[None] = self._db_slot()
                session: AsyncSession
                async with slot, self._sessions() as session:
                    newest = await last_alert_event_seq(session=session, provider_ids=None)
                self.polls += 1
            except Exception as exc:  # a busy or failing database delays the streams, never ends them
                log.warning("alert_event_poll_failed", error=str(exc))
                newest = self.newest
            if newest > self.newest:
                self.newest = newest
                advanced, self._advanced = self._advanced, asyncio.Event()
                advanced.set()
            await asyncio.sleep(self.interval)
