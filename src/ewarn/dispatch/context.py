"""What the parts of one dispatch process share: dependencies, the write lock, the stop signal, counters.

Intake, the delivery loop, the senders and the outcome recorder each take one ``DispatchContext``; the
``DispatchWorker`` builds it once and wires the parts together.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.dispatch.writelock import PriorityWriteLock
from ewarn.logging import get_logger
from ewarn.settings import DispatchSettings, Settings
from ewarn.store.db import SessionFactory
from ewarn.store.tables import ProviderRow

log = get_logger(__name__)

DB_ERRORS = (OperationalError, DBAPIError, OSError)


def refused_for_good(exc: BaseException) -> bool:
    """The database refuses a value itself (SQLSTATE class 22, a data exception): retrying cannot help."""
    if isinstance(exc, DataError | UnicodeEncodeError):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and str(sqlstate or "").startswith("22")


async def provider_languages(session: AsyncSession, provider_ids: Collection[str]) -> dict[str, str]:
    """The e-mail language of each provider."""
    rows = await session.execute(
        select(ProviderRow.id, ProviderRow.language).where(ProviderRow.id.in_(list(provider_ids)))
    )
    return {r.id: r.language for r in rows}


@dataclass
class DispatchContext:
    """The dependencies and state every part of one dispatch process shares."""

    sessions: SessionFactory
    settings: Settings
    clock: Callable[[], datetime]
    rand: Callable[[], float]
    writes: PriorityWriteLock = field(default_factory=PriorityWriteLock)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    counters: Counter[str] = field(default_factory=Counter)
    # Jobs and their follow-ups (410: disable); the delivery loop waits for all of them before it ends.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def cfg(self) -> DispatchSettings:
        return self.settings.dispatch

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task the delivery loop waits for when it ends."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def retry_db(
        self, what: str, work: Callable[[], Awaitable[None]], *, refusable: bool = False
    ) -> None:
        """Retry a database step until it succeeds; give up only when stopping (it is then redone later).

        ``refusable``: a value the database refuses for good is raised at once (the caller sets it aside).
        """
        attempt = 0
        while True:
            try:
                await work()
                return
            except DB_ERRORS as exc:
                if refusable and refused_for_good(exc):
                    raise
                attempt += 1
                if self.stopping.is_set() and attempt > 3:
                    raise
                delay = min(5.0, 0.05 * 2**attempt) * (0.5 + self.rand() / 2)
                log.warning("dispatch_db_retry", step=what, attempt=attempt, error=str(exc)[:300])
                await asyncio.sleep(delay)
