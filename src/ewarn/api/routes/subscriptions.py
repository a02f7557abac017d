"""Subscriptions: where a provider's alerts go. The signing secret is shown once, at creation or rotation.

The bodies are in ``subscription_bodies``, the target and format checks (shared with CSIRT subscriptions) in
``subscription_checks``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ewarn.api.deps import (
    PrincipalDep,
    RuntimeDep,
    SessionDep,
    ensure_provider_visible,
    ensure_provider_writable,
)
from ewarn.api.pagination import (
    NEXT_PAGE_HEADERS,
    LimitQuery,
    PageCursor,
    announce_next,
    decode_cursor,
    encode_cursor,
)
from ewarn.api.params import ResourceIdPath
from ewarn.api.routes.subscription_bodies import (
    DisableIn,
    RotatedOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from ewarn.api.routes.subscription_checks import check_format, check_target
from ewarn.dispatch.formats.rules import API_KEY_FORMATS, default_format
from ewarn.models.provider import Principal
from ewarn.models.subscription import Channel, Subscription
from ewarn.store.repositories import principals
from ewarn.store.repositories import subscriptions as repo
from ewarn.store.repositories.audit import record_audit
from ewarn.store.repositories.subscription_api_keys import store_api_key

router = APIRouter(prefix="/api/v1", tags=["subscriptions"])


class RotateIn(BaseModel):
    # here, not with the other bodies: the OpenAPI document names it by this module (keys.py has a RotateIn)
    model_config = ConfigDict(extra="forbid")

    overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30, strict=True)


async def _owned(
    session: SessionDep, principal: Principal, subscription_id: str, *, write: bool
) -> Subscription:
    sub = await repo.get_subscription(session=session, subscription_id=subscription_id)
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    check = ensure_provider_writable if write else ensure_provider_visible
    await check(session=session, principal=principal, provider_id=sub.provider_id)
    return sub


@router.post("/providers/{provider_id}/subscriptions", status_code=status.HTTP_201_CREATED)
async def create_subscription(
    provider_id: ResourceIdPath,
    body: SubscriptionIn,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> SubscriptionCreated:
    await ensure_provider_writable(session=session, principal=principal, provider_id=provider_id)
    if await principals.get_provider(session=session, provider_id=provider_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    check_target(body.channel, body.target, runtime.settings.dispatch.allowed_networks)
    payload_format = body.payload_format or default_format(body.channel)
    check_format(
        body.channel, payload_format, body.digest, body.filters, has_api_key=body.api_key is not None
    )
    sub, secret = await repo.create_subscription(
        session=session,
        provider_id=provider_id,
        channel=body.channel,
        target=body.target,
        filters=body.filters,
        payload_format=payload_format.value,
        digest=body.digest,
    )
    if body.api_key is not None:  # the integration's key takes the secret's place; no whsec_ to show
        stored = await store_api_key(
            session=session, subscription_id=sub.id, api_key=body.api_key.get_secret_value()
        )
        assert stored is not None
        sub, secret = stored, None
    await record_audit(session, principal, "create", "subscription", [sub.id], body, provider_id=provider_id)
    await session.commit()
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=secret)


@router.get(
    "/providers/{provider_id}/subscriptions",
    responses={200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}},
)
async def list_provider_subscriptions(
    provider_id: ResourceIdPath,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQuery = 1000,
    cursor: PageCursor = None,
) -> list[SubscriptionOut]:
    """Oldest first; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    return await _subscription_page(request, response, session, {provider_id}, limit, cursor)


async def _subscription_page(
    request: Request,
    response: Response,
    session: SessionDep,
    provider_ids: set[str] | None,
    limit: int,
    cursor: str | None,
) -> list[SubscriptionOut]:
    after = decode_cursor(cursor, datetime, str) if cursor else None
    subs = await repo.list_subscriptions(
        session=session, provider_ids=provider_ids, limit=limit, after=(after[0], after[1]) if after else None
    )
    last = subs[-1] if len(subs) == limit else None
    announce_next(
        request, response, encode_cursor(last.created_at, last.id) if last and last.created_at else None
    )
    return [SubscriptionOut.of(s) for s in subs]


@router.get("/subscriptions", responses={200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}})
async def list_subscriptions(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQuery = 500,
    cursor: PageCursor = None,
) -> list[SubscriptionOut]:
    """Oldest first; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    visible = await principals.visible_provider_ids(session=session, principal=principal)
    return await _subscription_page(request, response, session, visible, limit, cursor)


@router.get("/subscriptions/{subscription_id}")
async def get_subscription(
    subscription_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> SubscriptionOut:
    return SubscriptionOut.of(await _owned(session, principal, subscription_id, write=False))


@router.patch("/subscriptions/{subscription_id}")
async def update_subscription(
    subscription_id: ResourceIdPath,
    body: SubscriptionPatch,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> SubscriptionOut:
    sub = await _owned(session, principal, subscription_id, write=True)
    if body.target is not None:
        check_target(sub.channel, body.target, runtime.settings.dispatch.allowed_networks)
    new_format = body.payload_format or sub.payload_format
    if (new_format in API_KEY_FORMATS) != (sub.payload_format in API_KEY_FORMATS):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"a subscription cannot switch between {sub.payload_format.value} and {new_format.value} "
            "(one authenticates with an API key, the other signs): create a new subscription",
        )
    check_format(
        sub.channel,
        new_format,
        body.digest or sub.digest,
        body.filters or sub.filters,
        has_api_key=new_format in API_KEY_FORMATS or body.api_key is not None,
    )
    updated = await repo.update_subscription(
        session=session,
        subscription_id=subscription_id,
        target=body.target,
        filters=body.filters,
        payload_format=body.payload_format.value if body.payload_format else None,
        digest=body.digest,
    )
    if body.api_key is not None:
        updated = await store_api_key(
            session=session, subscription_id=subscription_id, api_key=body.api_key.get_secret_value()
        )
    assert updated is not None
    await record_audit(
        session, principal, "update", "subscription", [subscription_id], body, provider_id=sub.provider_id
    )
    await session.commit()
    return SubscriptionOut.of(updated)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(
    subscription_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> Response:
    sub = await _owned(session, principal, subscription_id, write=True)
    await repo.delete_subscription(session=session, subscription_id=subscription_id)
    await record_audit(
        session, principal, "delete", "subscription", [subscription_id], None, provider_id=sub.provider_id
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/rotate-secret")
async def rotate_secret(
    subscription_id: ResourceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    body: RotateIn | None = None,
) -> RotatedOut:
    sub = await _owned(session, principal, subscription_id, write=True)
    if sub.channel is not Channel.WEBHOOK:
        raise HTTPException(status.HTTP_409_CONFLICT, "only webhook subscriptions have a signing secret")
    if sub.payload_format in API_KEY_FORMATS:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"a {sub.payload_format.value} subscription signs nothing: set a new api_key with PATCH instead",
        )
    overlap = timedelta(hours=(body or RotateIn()).overlap_hours)
    rotated = await repo.rotate_secret(session=session, subscription_id=subscription_id, overlap=overlap)
    assert rotated is not None
    await record_audit(
        session,
        principal,
        "rotate_secret",
        "subscription",
        [subscription_id],
        {"overlap_hours": overlap.total_seconds() / 3600},
        provider_id=sub.provider_id,
    )
    await session.commit()
    updated, secret = rotated
    return RotatedOut(secret=secret, rotation_ends_at=updated.previous_secret_expires_at)


@router.post("/subscriptions/{subscription_id}/enable")
async def enable_subscription(
    subscription_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> SubscriptionOut:
    await _owned(session, principal, subscription_id, write=True)
    sub = await repo.set_enabled(session=session, subscription_id=subscription_id, enabled=True)
    assert sub is not None
    await record_audit(
        session, principal, "enable", "subscription", [subscription_id], None, provider_id=sub.provider_id
    )
    await session.commit()
    return SubscriptionOut.of(sub)


@router.post("/subscriptions/{subscription_id}/disable")
async def disable_subscription(
    subscription_id: ResourceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    body: DisableIn | None = None,
) -> SubscriptionOut:
    await _owned(session, principal, subscription_id, write=True)
    reason = (body or DisableIn()).reason
    sub = await repo.set_enabled(
        session=session, subscription_id=subscription_id, enabled=False, reason=reason
    )
    assert sub is not None
    await record_audit(
        session,
        principal,
        "disable",
        "subscription",
        [subscription_id],
        {"reason": reason},
        provider_id=sub.provider_id,
    )
    await session.commit()
    return SubscriptionOut.of(sub)
