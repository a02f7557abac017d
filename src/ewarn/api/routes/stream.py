"""Alerts as they are published, per tenant: Server-Sent Events with Last-Event-ID resume, or polling.

The stream is the ``alert_events`` table (one row per alert revision, ``seq`` ascending), so a client that
reconnects with the last ``seq`` it saw gets exactly what it missed. A provider key sees its tenant, a CSIRT
key its constituency, an operator key everything; visibility is re-read on every poll.

The paths are ``/api/v1/alert-events`` and ``/api/v1/alert-events/stream``: under ``/api/v1/alerts/`` they
would be shadowed by ``GET /api/v1/alerts/{alert_id}``, whose router is mounted first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from ewarn.api.deps import PrincipalDep, RuntimeDep, SessionDep
from ewarn.models.provider import Principal
from ewarn.runtime import Runtime
from ewarn.store.repositories.deliveries import AlertEventRecord, alert_events_after, last_alert_event_seq
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1", tags=["alerts"])

POLL_SECONDS = 0.25
PING_SECONDS = 15
BATCH = 200


class AlertEventOut(BaseModel):
    seq: int
    provider_id: str
    alert_id: str
    revision: int
    created_at: datetime
    alert: dict[str, Any] | None  # the alert as it is now; None if it is not stored (yet)

    @classmethod
    def of(cls, e: AlertEventRecord) -> AlertEventOut:
        return cls(
            seq=e.seq,
            provider_id=e.provider_id,
            alert_id=e.alert_id,
            revision=e.revision,
            created_at=e.created_at,
            alert=e.alert,
        )


class AlertEventPage(BaseModel):
    events: list[AlertEventOut]
    next_after: int  # pass as ``after`` to get what comes next


def _cursor(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{what} must be a non-negative integer")
    return int(value)


@router.get("/alert-events")
async def poll_alert_events(
    session: SessionDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertEventPage:
    """Alert events after the cursor, oldest first; keep calling with ``next_after``."""
    visible = await visible_provider_ids(session=session, principal=principal)
    events = await alert_events_after(session=session, provider_ids=visible, after=after, limit=limit)
    return AlertEventPage(
        events=[AlertEventOut.of(e) for e in events], next_after=events[-1].seq if events else after
    )


async def _events(runtime: Runtime, principal: Principal, after: int) -> AsyncIterator[ServerSentEvent]:
    cursor = after
    while True:
        async with runtime.sessions() as session:
            visible = await visible_provider_ids(session=session, principal=principal)
            batch = await alert_events_after(session=session, provider_ids=visible, after=cursor, limit=BATCH)
        for event in batch:
            cursor = event.seq
            body = AlertEventOut.of(event).model_dump(mode="json")
            yield ServerSentEvent(
                data=json.dumps(body, separators=(",", ":")), id=str(event.seq), event="alert"
            )
        if len(batch) < BATCH:
            await asyncio.sleep(POLL_SECONDS)


@router.get("/alert-events/stream", response_class=EventSourceResponse)
async def alert_stream(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        str | None, Query(description="Start after this seq (else: Last-Event-ID, else: now)")
    ] = None,
) -> EventSourceResponse:
    """``text/event-stream`` of ``alert`` events, ``id`` = seq. Reconnect with ``Last-Event-ID`` to resume."""
    start = _cursor(last_event_id, "Last-Event-ID")
    if start is None:
        start = _cursor(after, "after")
    if start is None:
        visible = await visible_provider_ids(session=session, principal=principal)
        start = await last_alert_event_seq(session=session, provider_ids=visible)
    return EventSourceResponse(_events(runtime, principal, start), ping=PING_SECONDS)
