"""A bound on API requests that hold a database session, so a flood answers 503 instead of queueing.

The engine's connection pool is shared with the workers of ``ewarn serve``; the API takes at most
``api.limits.db_concurrency`` of its connections at once and waits ``db_wait_seconds`` for one, then answers
503 with Retry-After. A pool that is exhausted anyway (SQLAlchemy's pool timeout) maps to the same 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException, status


class ServiceBusy(HTTPException):
    """503: no database connection within the wait; the client should retry after ``retry_after`` s."""

    def __init__(self, retry_after: int, detail: str = "the service is busy; retry shortly") -> None:
        super().__init__(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": str(retry_after)}
        )


class DbGate:
    """At most ``size`` holders at once; waiting longer than ``wait_seconds`` raises ``ServiceBusy``."""

    def __init__(self, *, size: int, wait_seconds: float, retry_after: int) -> None:
        self._free = asyncio.Semaphore(size)
        self.size = size
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self.in_use = 0
        self.refused = 0  # 503s answered because no slot came free in time

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._free.acquire()
        except TimeoutError:
            self.refused += 1
            raise ServiceBusy(self.retry_after) from None
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._free.release()
