"""One database writer at a time in a dispatch process, with new alerts ahead of bookkeeping.

SQLite takes one writer; queueing here beats "database is locked". Intake is on the path of every alert to its
receiver, while recording outcomes and claiming retries are not: an urgent holder goes before every ordinary
one that is waiting, so a new alert waits for at most the write in progress.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PriorityWriteLock:
    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @property
    def locked(self) -> bool:
        return self._held

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._ordinary:
            self._held = True
            return
        queue = self._urgent if urgent else self._ordinary
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed over just as we were cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in (self._urgent, self._ordinary):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes straight on: _held stays True
                    return
        self._held = False
