"""Periodic heartbeat of one role instance, with the counters it wants operators to see."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from ewarn.logging import get_logger
from ewarn.models.common import utcnow
from ewarn.store.db import SessionFactory, upsert
from ewarn.store.tables import HeartbeatRow

log = get_logger(__name__)


class Heartbeat:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        role: str,
        stats: Callable[[], dict[str, Any]],
        interval: float = 2.0,
    ) -> None:
        self.instance_id = f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._sessions = sessions
        self._role = role
        self._stats = stats
        self._interval = interval
        self._started = utcnow()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def beat(self) -> None:
        async with self._sessions() as session:
            await upsert(
                session,
                HeartbeatRow,
                [
                    {
                        "instance_id": self.instance_id,
                        "role": self._role,
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "started_at": self._started,
                        "last_beat_at": utcnow(),
                        "stats": self._stats(),
                    }
                ],
                conflict=["instance_id"],
                update=["last_beat_at", "stats"],
            )
            await session.commit()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.beat()
            except Exception as exc:  # a missed heartbeat must never stop the role itself
                log.warning("heartbeat_failed", role=self._role, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
