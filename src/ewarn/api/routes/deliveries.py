"""The delivery log (every attempt: status code, latency, error) and dead letters, with replay.

Every read follows the TLP read rule of the alert delivered (``ewarn.models.tlp_access``): a CSIRT sees no
delivery of a TLP:RED or AMBER+STRICT alert, not even its id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from ewarn.api.deps import PrincipalDep, SessionDep, ensure_provider_visible, ensure_provider_writable
from ewarn.api.pagination import NEXT_PAGE_HEADERS, PageCursor, announce_next, decode_cursor, encode_cursor
from ewarn.api.params import ResourceIdPath, ResourceIdQuery
from ewarn.models.common import utcnow
from ewarn.models.delivery import Delivery, DeliveryAttempt, DeliveryStatus
from ewarn.models.tlp_access import readable_tlps
from ewarn.store.repositories import deliveries as repo
from ewarn.store.repositories import subscriptions as subs_repo
from ewarn.store.repositories.audit import record_audit
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1", tags=["deliveries"])

Limit = Annotated[int, Query(ge=1, le=500)]
_PAGED: dict[int | str, dict[str, object]] = {200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}}


class DeliveryLog(Delivery):
    """A delivery with every attempt made."""

    attempt_log: list[DeliveryAttempt]


async def _with_attempts(session: SessionDep, items: list[Delivery]) -> list[DeliveryLog]:
    attempts = await repo.list_attempts(session=session, delivery_ids=[d.id for d in items])
    by_delivery: dict[str, list[DeliveryAttempt]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(a)
    return [DeliveryLog(**d.model_dump(), attempt_log=by_delivery.get(d.id, [])) for d in items]


@router.get("/subscriptions/{subscription_id}/deliveries", responses=_PAGED)
async def subscription_deliveries(
    subscription_id: ResourceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Limit = 100,
    cursor: PageCursor = None,
) -> list[DeliveryLog]:
    """Newest first. A deleted subscription's log stays readable. More pages: ``X-Next-Cursor``."""
    owner = await repo.subscription_owner(session=session, subscription_id=subscription_id)
    if owner is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await ensure_provider_visible(session=session, principal=principal, provider_id=owner)
    items = await repo.list_deliveries(
        session=session,
        subscription_id=subscription_id,
        status=delivery_status,
        limit=limit,
        after=_after(cursor),
        tlps=readable_tlps(principal.role),
    )
    announce_next(request, response, _next(items, limit))
    return await _with_attempts(session, items)


@router.get("/deliveries/dead", responses=_PAGED)
async def dead_letters(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    provider_id: ResourceIdQuery = None,
    limit: Limit = 100,
    cursor: PageCursor = None,
) -> list[DeliveryLog]:
    """Deliveries that gave up, across the tenants the caller may see. More pages: ``X-Next-Cursor``."""
    visible = await visible_provider_ids(session=session, principal=principal)
    if provider_id is not None:
        await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
        visible = {provider_id}
    items = await repo.list_deliveries(
        session=session,
        provider_ids=visible,
        status=DeliveryStatus.DEAD,
        limit=limit,
        after=_after(cursor),
        tlps=readable_tlps(principal.role),
    )
    announce_next(request, response, _next(items, limit))
    return await _with_attempts(session, items)


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    created, delivery_id = decode_cursor(cursor, datetime, str)
    return created, delivery_id


def _next(items: list[Delivery], limit: int) -> str | None:
    return encode_cursor(items[-1].created_at, items[-1].id) if len(items) == limit else None


async def _visible(
    session: SessionDep, principal: PrincipalDep, delivery_id: str, *, write: bool
) -> Delivery:
    tlps = readable_tlps(principal.role)  # a delivery of an alert the caller may not read is not there
    delivery = await repo.get_delivery(session=session, delivery_id=delivery_id, tlps=tlps)
    if delivery is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    check = ensure_provider_writable if write else ensure_provider_visible
    await check(session=session, principal=principal, provider_id=delivery.provider_id)
    return delivery


@router.get("/deliveries/{delivery_id}")
async def get_delivery(
    delivery_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> DeliveryLog:
    [log] = await _with_attempts(session, [await _visible(session, principal, delivery_id, write=False)])
    return log


class Replayed(BaseModel):
    delivery: Delivery
    queued: bool


@router.post("/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED)
async def replay_delivery(
    delivery_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> Replayed:
    """Queue a dead letter again with a fresh attempt budget; it is delivered once (same webhook-id)."""
    delivery = await _visible(session, principal, delivery_id, write=True)
    sub = await subs_repo.get_subscription(session=session, subscription_id=delivery.subscription_id)
    if sub is None or not sub.enabled:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the subscription is deleted or disabled; enable it first"
        )
    if not await repo.replay(session=session, delivery_id=delivery_id, now=utcnow()):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"only dead deliveries can be replayed (this one is {delivery.status.value})",
        )
    await record_audit(
        session,
        principal,
        "replay",
        "delivery",
        [delivery_id],
        {"subscription_id": sub.id},
        provider_id=sub.provider_id,
    )
    await session.commit()
    refreshed = await repo.get_delivery(session=session, delivery_id=delivery_id)
    assert refreshed is not None
    return Replayed(delivery=refreshed, queued=True)
