"""Feeds: operator-only CRUD, health, an on-demand poll and the rejections a feed produced."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import Field, StrictBool

from ewarn.api.deps import OperatorDep, RuntimeDep, SessionDep
from ewarn.api.params import OffsetQuery, ResourceIdPath
from ewarn.errors import ConfigurationError
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


@router.get("")
async def list_feeds(session: SessionDep, _: OperatorDep) -> list[Feed]:
    return await repository.list_feeds(session=session)


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


@router.get("/{feed_id}/rejections")
async def feed_rejections(
    feed_id: ResourceIdPath,
    session: SessionDep,
    _: OperatorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetQuery = 0,
) -> list[Rejection]:
    if await repository.get_feed(
        session=session, feed_id=feed_id
    ) is None and not await repository.count_rejections(session=session, feed_id=feed_id):
        raise _missing(feed_id)
    return await repository.list_rejections(session=session, feed_id=feed_id, limit=limit, offset=offset)
