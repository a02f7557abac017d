"""Alerts as they are published, per tenant: Server-Sent Events with Last-Event-ID resume, or polling.

The stream is the ``alert_events`` table (one row per alert revision, ``seq`` ascending), so a client that
reconnects with the last ``seq`` it saw gets exactly what it missed. A provider key sees its tenant, a CSIRT
key its constituency, an operator key everything; visibility is re-read on every poll, and each event is
sent only if its alert's TLP is readable by the caller's role (``ewarn.models.tlp_access``). Any role may
narrow further with a subscription's filters (``min_severity``, ``known_exploited_only``, ``asset_kinds``,
``provider_ids``: ``ewarn.api.event_filters``); a CSIRT streams its constituency's alerts that way.

The paths are ``/api/v1/alert-events`` and ``/api/v1/alert-events/stream``: under ``/api/v1/alerts/`` they
would be shadowed by ``GET /api/v1/alerts/{alert_id}``, whose router is mounted first.

Bounded: a stream holds no database connection between polls (each poll takes a session through the API's
database gate and gives it back; a busy gate skips that poll), an idle stream does not poll at all (one
shared watch of the newest seq wakes it, ``ewarn.api.limits.eventwatch``), a key has at most
``api.limits.max_streams_per_key`` streams open (429 beyond), a client that stops reading is dropped after
``SEND_TIMEOUT`` seconds, and a disconnect ends the stream's loop (a poll in flight finishes on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from ewarn.api.deps import GuardDep, PrincipalDep, RuntimeDep, SessionDep
from ewarn.api.event_filters import EventFilters, EventFiltersDep
from ewarn.api.limits import ApiGuard
from ewarn.api.limits.dbgate import ServiceBusy
from ewarn.api.limits.streams import StreamSlot
from ewarn.models.provider import Principal
from ewarn.models.tlp_access import readable_tlps
from ewarn.runtime import Runtime
from ewarn.store.repositories.alert_events import AlertEventRecord, alert_events_after, last_alert_event_seq
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1", tags=["alerts"])

PING_SECONDS = 15
SEND_TIMEOUT = 30  # seconds a client may leave an event unread before its stream is closed
BATCH = 200
MAX_SEQ = 2**63 - 1  # the largest seq both databases store (BIGINT)


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
    # isdigit alone accepts "²" and other Unicode digits; the bound keeps the query inside BIGINT.
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_SEQ:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{what} must be an integer from 0 to {MAX_SEQ}")
    return int(value)


@router.get("/alert-events")
async def poll_alert_events(
    session: SessionDep,
    principal: PrincipalDep,
    filters: EventFiltersDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertEventPage:
    """Alert events after the cursor, oldest first; keep calling with ``next_after``.

    With filters a page may hold fewer than ``limit`` events (even none) before the end: ``next_after`` is the
    last event looked at, so keep following it.
    """
    visible = await visible_provider_ids(session=session, principal=principal)
    events = await alert_events_after(
        session=session,
        provider_ids=filters.scope(visible),
        after=after,
        limit=limit,
        tlps=readable_tlps(principal.role),
    )
    return AlertEventPage(
        events=[AlertEventOut.of(e) for e in events if filters.admits(e.alert)],
        next_after=events[-1].seq if events else after,
    )


async def _poll(
    runtime: Runtime, guard: ApiGuard, principal: Principal, filters: EventFilters, cursor: int
) -> list[AlertEventRecord]:
    """One poll in its own short session; the connection goes back to the pool before the events go out."""
    async with guard.db.slot(), runtime.sessions() as session:
        visible = await visible_provider_ids(session=session, principal=principal)
        return await alert_events_after(
            session=session,
            provider_ids=filters.scope(visible),
            after=cursor,
            limit=BATCH,
            tlps=readable_tlps(principal.role),
        )


def _retrieve(task: asyncio.Task[list[AlertEventRecord]]) -> None:
    """A poll whose stream went away finishes alone; its outcome no longer matters to anyone."""
    if not task.cancelled():
        task.exception()


async def _events(
    runtime: Runtime,
    guard: ApiGuard,
    principal: Principal,
    filters: EventFilters,
    after: int,
    slot: StreamSlot,
) -> AsyncIterator[ServerSentEvent]:
    cursor = after  # the last event sent
    checked = after  # every event up to here has been looked for
    try:
        while True:
            await guard.newest_event.wait_beyond(checked)
            newest = guard.newest_event.newest
            poll = asyncio.ensure_future(_poll(runtime, guard, principal, filters, cursor))
            poll.add_done_callback(_retrieve)
            try:
                # Shielded: a disconnect must not cancel a database call halfway (the session closes cleanly).
                batch = await asyncio.shield(poll)
            except ServiceBusy:
                batch = []
            for event in batch:
                cursor = event.seq
                if not filters.admits(event.alert):
                    continue
                body = AlertEventOut.of(event).model_dump(mode="json")
                yield ServerSentEvent(
                    data=json.dumps(body, separators=(",", ":")), id=str(event.seq), event="alert"
                )
            if len(batch) < BATCH:
                checked = max(checked, cursor, newest)
    finally:
        slot.release()


@router.get("/alert-events/stream", response_class=EventSourceResponse)
async def alert_stream(
    principal: PrincipalDep,
    runtime: RuntimeDep,
    guard: GuardDep,
    filters: EventFiltersDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        str | None, Query(description="Start after this seq (else: Last-Event-ID, else: now)")
    ] = None,
) -> EventSourceResponse:
    """``text/event-stream`` of ``alert`` events, ``id`` = seq. Reconnect with ``Last-Event-ID`` to resume.

    A key may hold ``api.limits.max_streams_per_key`` streams at once; one more is refused with 429.
    """
    start = _cursor(last_event_id, "Last-Event-ID")
    if start is None:
        start = _cursor(after, "after")
    slot = guard.streams.acquire(principal.key_id)
    if slot is None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"this key already has {guard.streams.per_key} event streams open; close one first",
            headers={"Retry-After": "5"},
        )
    with _released_on_error(slot):
        if start is None:
            async with guard.db.slot(), runtime.sessions() as session:
                visible = await visible_provider_ids(session=session, principal=principal)
                start = await last_alert_event_seq(session=session, provider_ids=filters.scope(visible))
        return EventSourceResponse(
            _events(runtime, guard, principal, filters, start, slot),
            ping=PING_SECONDS,
            send_timeout=SEND_TIMEOUT,
            background=BackgroundTask(slot.release),
        )


@contextlib.contextmanager
def _released_on_error(slot: StreamSlot) -> Iterator[None]:
    try:
        yield
    except BaseException:
        slot.release()
        raise
