"""A CSIRT's subscriptions to its constituency's alerts (webhook or e-mail), within the TLP each alert allows.

The CSIRT's own key or an operator creates, lists and deletes them; anyone else gets 404. Filters: minimum
severity, KEV only, device class (asset kinds, equipment categories), providers; the router adds the CSIRT's
TLP rule (never RED nor AMBER+STRICT) on top of the channel's.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ewarn.api.deps import PrincipalDep, RuntimeDep, SessionDep
from ewarn.api.pagination import (
    PAGED_RESPONSES,
    LimitQuery,
    PageCursor,
    announce_next,
    next_cursor,
    page_after,
)
from ewarn.api.params import ResourceIdPath
from ewarn.api.routes.subscription_bodies import Target
from ewarn.api.routes.subscription_checks import check_target
from ewarn.api.routes.workflow import csirt_in_scope
from ewarn.models.common import utcnow
from ewarn.models.subscription import Channel, PayloadFormat, Subscription, SubscriptionFilters
from ewarn.store.repositories import csirt_subscriptions as repo
from ewarn.store.repositories.audit import record_audit

router = APIRouter(prefix="/api/v1", tags=["csirt subscriptions"])
_CHANNELS = frozenset({Channel.WEBHOOK, Channel.EMAIL})


class CsirtSubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel = Field(description="webhook or email")
    target: Target
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    payload_format: PayloadFormat = PayloadFormat.JSON


class CsirtSubscriptionOut(BaseModel):
    id: str
    csirt_id: str
    channel: Channel
    target: str
    filters: SubscriptionFilters
    payload_format: PayloadFormat
    enabled: bool
    created_at: datetime | None


class CsirtSubscriptionCreated(CsirtSubscriptionOut):
    secret: str | None = Field(default=None, description="The whsec_ signing secret; shown only here")


class CsirtSubscriptionPage(BaseModel):
    items: list[CsirtSubscriptionOut]


def _out(sub: Subscription, csirt_id: str) -> CsirtSubscriptionOut:
    return CsirtSubscriptionOut(
        id=sub.id,
        csirt_id=csirt_id,
        channel=sub.channel,
        target=sub.target,
        filters=sub.filters,
        payload_format=sub.payload_format,
        enabled=sub.enabled,
        created_at=sub.created_at,
    )


@router.post("/csirts/{csirt_id}/subscriptions", status_code=status.HTTP_201_CREATED)
async def create_csirt_subscription(
    csirt_id: ResourceIdPath,
    body: CsirtSubscriptionIn,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> CsirtSubscriptionCreated:
    """Subscribe the CSIRT to every alert of its constituency that passes the filters and its TLP rule."""
    await csirt_in_scope(session, principal, csirt_id)
    if body.channel not in _CHANNELS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a CSIRT subscribes by webhook or email")
    if body.channel is Channel.EMAIL and body.payload_format is not PayloadFormat.JSON:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "e-mail takes payload_format json")
    if body.channel is Channel.WEBHOOK and body.payload_format not in (
        PayloadFormat.JSON,
        PayloadFormat.STIX,
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a CSIRT webhook takes json or stix")
    check_target(body.channel, body.target, runtime.settings.dispatch.allowed_networks)
    sub, secret = await repo.create_csirt_subscription(
        session=session,
        csirt_id=csirt_id,
        channel=body.channel,
        target=body.target,
        filters=body.filters,
        payload_format=body.payload_format,
        now=utcnow(),
    )
    await record_audit(session, principal, "create", "csirt_subscription", [sub.id], body)
    await session.commit()
    return CsirtSubscriptionCreated(**_out(sub, csirt_id).model_dump(), secret=secret)


@router.get("/csirts/{csirt_id}/subscriptions", responses=PAGED_RESPONSES)
async def list_csirt_subscriptions(
    request: Request,
    response: Response,
    csirt_id: ResourceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: PageCursor = None,
    limit: LimitQuery = 1000,
) -> CsirtSubscriptionPage:
    """Oldest first; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    await csirt_in_scope(session, principal, csirt_id)
    after = page_after(cursor, datetime, str)
    subs = await repo.list_csirt_subscriptions(session=session, csirt_id=csirt_id, after=after, limit=limit)
    announce_next(request, response, next_cursor(subs, limit, lambda s: (s.created_at or utcnow(), s.id)))
    return CsirtSubscriptionPage(items=[_out(s, csirt_id) for s in subs])


@router.delete("/csirts/{csirt_id}/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_csirt_subscription(
    csirt_id: ResourceIdPath, subscription_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> Response:
    await csirt_in_scope(session, principal, csirt_id)
    row = await repo.csirt_subscription_row(session=session, subscription_id=subscription_id)
    if row is None or row.csirt_id != csirt_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    row.deleted_at = utcnow()
    await record_audit(session, principal, "delete", "csirt_subscription", [subscription_id], None)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
