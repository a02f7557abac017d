"""Live operator status: JSON for tools, an event stream of it, and a live page for the operations room."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from ewarn.api.deps import GuardDep, OperatorDep, RuntimeDep, SessionDep
from ewarn.api.limits import ApiGuard
from ewarn.api.limits.dbgate import ServiceBusy
from ewarn.api.limits.streams import StreamSlot
from ewarn.runtime import Runtime
from ewarn.status.report import StatusReport, build_status
from ewarn.status.stream import status_reports

router = APIRouter(tags=["status"])

PING_SECONDS = 15
SEND_TIMEOUT = 30  # seconds a client may leave a report unread before its stream is closed


@router.get("/api/v1/status")
async def status_report(session: SessionDep, _: OperatorDep) -> StatusReport:
    return await build_status(session=session)


@router.get("/api/v1/status/stream", response_class=EventSourceResponse)
async def status_stream(principal: OperatorDep, runtime: RuntimeDep, guard: GuardDep) -> EventSourceResponse:
    """``text/event-stream`` of ``status`` events (the status report) as its figures change, at least every 3 s.

    Operators only; the stream ends when the key is revoked or expires. It counts against
    ``api.limits.max_streams_per_key`` like the alert stream (429 beyond).
    """
    slot = guard.streams.acquire(principal.key_id)
    if slot is None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"this key already has {guard.streams.per_key} event streams open; close one first",
            headers={"Retry-After": "5"},
        )
    return EventSourceResponse(
        _events(runtime, guard, principal.key_id, slot),
        ping=PING_SECONDS,
        send_timeout=SEND_TIMEOUT,
        background=BackgroundTask(slot.release),
    )


async def _events(
    runtime: Runtime, guard: ApiGuard, key_id: str, slot: StreamSlot
) -> AsyncIterator[ServerSentEvent]:
    @contextlib.asynccontextmanager
    async def scope() -> AsyncIterator[AsyncSession]:
        async with guard.db.slot(), runtime.sessions() as session:
            yield session

    try:
        async for report in status_reports(session_scope=scope, key_id=key_id, busy=ServiceBusy):
            yield ServerSentEvent(data=report.model_dump_json(), event="status")
    finally:
        slot.release()


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
async def status_page() -> HTMLResponse:
    """The page holds no data itself; its script reads /api/v1/status/stream with the operator's key."""
    page = resources.files("ewarn.status").joinpath("status.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
