"""Feeds: operator-only CRUD, health, an on-demand poll and the rejections a feed produced."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import Field, StrictBool

from ewarn.api.deps import OperatorDep, RuntimeDep, SessionDep
from ewarn.api.pagination import (
    NEXT_PAGE_HEADERS,
    LimitQuery,
    PageCursor,
    announce_next,
    decode_cursor,
    encode_cursor,
)
from ewarn.api.params import OffsetQuery, ResourceIdPath
from ewarn.errors import ConfigurationError
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.audit import audit_ingest
from ewarn.ingest.models import Feed, FeedHealth, FeedIn, FeedPatch, IngestReport
from ewarn.ingest.service import ingest_service_for
from ewarn.models.common import ONE_LINE, json_problem, text_limits
from ewarn.models.indicator import Rejection
from ewarn.store.repositories.audit import record_audit

router = APIRouter(prefix="/api/v1/feeds", tags=["feeds"])


_Interval = Annotated[int, Field(ge=10, le=7 * 24 * 3600, strict=True)]


_Name = Annotated[str, text_limits(200), ONE_LINE]  # the column holds 200
_Location = Annotated[str, text_limits(4096, min_length=1), ONE_LINE]


class NewFeed(FeedIn):
    """``FeedIn`` as the API takes it: text without NUL or control characters and within its column, a flag
    a JSON boolean and an interval a JSON integer (no 0 for false, no "60" for 60)."""

    name: _Name = ""
    location: _Location
    interval_seconds: _Interval = 3600
    enabled: StrictBool = True


class FeedChange(FeedPatch):
    """``FeedPatch`` as the API takes it (the same rules as ``NewFeed``)."""

    name: _Name | None = None
    location: _Location | None = None
    interval_seconds: _Interval | None = None
    enabled: StrictBool | None = None


def _check_json(body: FeedIn | FeedPatch) -> None:
    """Free-form JSON a database can store and a response can carry (no NUL, surrogates, controls)."""
    for name in ("config", "credentials"):
        why = json_problem(getattr(body, name))
        if why is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {why}")


def _missing(feed_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {feed_id!r}")


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_feed(body: NewFeed, session: SessionDep, principal: OperatorDep) -> Feed:
    """Register a feed; its credentials are stored and never returned."""
    _check_json(body)
    try:
        feed = await repository.create_feed(session=session, feed=body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await record_audit(session, principal, "create", "feed", [feed.id], body)
    await session.commit()
    return feed


@router.get("", responses={200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}})
async def list_feeds(
    request: Request,
    response: Response,
    session: SessionDep,
    _: OperatorDep,
    limit: LimitQuery = 1000,
    cursor: PageCursor = None,
) -> list[Feed]:
    """By id; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    (after,) = decode_cursor(cursor, str) if cursor else (None,)
    feeds = await repository.list_feeds(session=session, after=after, limit=limit)
    announce_next(request, response, encode_cursor(feeds[-1].id) if len(feeds) == limit else None)
    return feeds


@router.get("/{feed_id}")
async def get_feed(feed_id: ResourceIdPath, session: SessionDep, _: OperatorDep) -> Feed:
    feed = await repository.get_feed(session=session, feed_id=feed_id)
    if feed is None:
        raise _missing(feed_id)
    return feed


@router.patch("/{feed_id}")
async def update_feed(
    feed_id: ResourceIdPath, body: FeedChange, session: SessionDep, principal: OperatorDep
) -> Feed:
    _check_json(body)
    feed = await repository.update_feed(session=session, feed_id=feed_id, patch=body)
    if feed is None:
        raise _missing(feed_id)
    await record_audit(session, principal, "update", "feed", [feed_id], body)
    await session.commit()
    return feed


@router.delete("/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_feed(feed_id: ResourceIdPath, session: SessionDep, principal: OperatorDep) -> Response:
    if not await repository.delete_feed(session=session, feed_id=feed_id):
        raise _missing(feed_id)
    await record_audit(session, principal, "delete", "feed", [feed_id])
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{feed_id}/health")
async def feed_health(feed_id: ResourceIdPath, session: SessionDep, _: OperatorDep) -> FeedHealth:
    health = await repository.feed_health(session=session, feed_id=feed_id)
    if health is None:
        raise _missing(feed_id)
    return health


@router.post("/{feed_id}/poll")
async def poll_feed(
    feed_id: ResourceIdPath, session: SessionDep, runtime: RuntimeDep, principal: OperatorDep
) -> IngestReport:
    """Poll the feed now (from its cursor) and return what it read (recorded in the audit log)."""
    if await repository.get_feed(session=session, feed_id=feed_id) is None:
        raise _missing(feed_id)
    await session.close()
    try:
        report = await ingest_service_for(runtime).poll_feed(feed_id)
    except ConfigurationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    await audit_ingest(runtime.sessions, principal, "poll", report)
    return report


@router.get("/{feed_id}/rejections", responses={200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}})
async def feed_rejections(
    feed_id: ResourceIdPath,
    request: Request,
    response: Response,
    session: SessionDep,
    _: OperatorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetQuery = 0,
    cursor: PageCursor = None,
) -> list[Rejection]:
    """Newest first; more pages: follow ``X-Next-Cursor`` (``offset`` still works, without a cursor)."""
    if await repository.get_feed(
        session=session, feed_id=feed_id
    ) is None and not await rejection_store.count_rejections(session=session, feed_id=feed_id):
        raise _missing(feed_id)
    if offset and not cursor:
        return await rejection_store.list_rejections(
            session=session, feed_id=feed_id, limit=limit, offset=offset
        )
    after = decode_cursor(cursor, datetime, str) if cursor else None
    items, last = await rejection_store.rejection_page(
        session=session, feed_id=feed_id, limit=limit, after=(after[0], after[1]) if after else None
    )
    announce_next(request, response, encode_cursor(*last) if last and len(items) == limit else None)
    return items
