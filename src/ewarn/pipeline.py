"""Run the correlate and dispatch stages in this process and wait until a run has been fully handled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import func, select

from ewarn.bus.memory import MemoryBus
from ewarn.roles import RoleSet, build_roles, run_roles
from ewarn.runtime import Runtime
from ewarn.store.tables import DeliveryRow

CORRELATE_GROUP = "ewarn-correlate"
DISPATCH_GROUP = "ewarn-dispatch"


@asynccontextmanager
async def running_stages(
    runtime: Runtime, http: httpx.AsyncClient, roles: set[str] | None = None
) -> AsyncIterator[RoleSet]:
    """Start ``roles`` (default correlate + dispatch) as tasks; stop them gracefully on exit."""
    rs = build_roles(runtime, roles or {"correlate", "dispatch"}, http)
    task = asyncio.create_task(run_roles(rs))
    try:
        yield rs
    finally:
        rs.stop()
        await asyncio.wait_for(task, 30)


async def pending_deliveries(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "pending")
            )
            or 0
        )


async def wait_until_drained(runtime: Runtime, *, timeout: float, settle: float = 0.3) -> bool:
    """True once every bus record is committed by both stages and no delivery is pending (or timeout)."""
    deadline = time.monotonic() + timeout
    bus = runtime.bus
    while time.monotonic() < deadline:
        lag = 0
        if isinstance(bus, MemoryBus):
            lag = bus.lag(runtime.topics.indicators, group=CORRELATE_GROUP) + bus.lag(
                runtime.topics.alerts, group=DISPATCH_GROUP
            )
        if lag == 0 and await pending_deliveries(runtime) == 0:
            await asyncio.sleep(settle)  # a record may be between two stages' commits; look twice
            if (
                not isinstance(bus, MemoryBus) or bus.lag(runtime.topics.alerts, group=DISPATCH_GROUP) == 0
            ) and (await pending_deliveries(runtime) == 0):
                return True
        await asyncio.sleep(0.05)
    return False
