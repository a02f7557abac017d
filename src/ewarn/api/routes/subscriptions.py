"""Subscriptions: where a provider's alerts go. The signing secret is shown once, at creation or rotation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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
from ewarn.dispatch.formats.rules import API_KEY_FORMATS, default_format, format_refusal
from ewarn.dispatch.syslog import parse_target
from ewarn.hostaddress import NotAHost, host_addresses
from ewarn.models.common import ONE_LINE, text_limits, utcnow
from ewarn.models.provider import Principal
from ewarn.models.subscription import Channel, Digest, PayloadFormat, Subscription, SubscriptionFilters
from ewarn.netguard import SsrfGuard, SsrfRefused, StaticResolver
from ewarn.store.repositories import principals
from ewarn.store.repositories import subscriptions as repo
from ewarn.store.repositories.audit import record_audit
from ewarn.store.repositories.subscription_api_keys import store_api_key

router = APIRouter(prefix="/api/v1", tags=["subscriptions"])

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SubscriptionOut(BaseModel):
    """A subscription as the API shows it: never its secrets."""

    id: str
    provider_id: str
    channel: Channel
    target: str
    filters: SubscriptionFilters
    payload_format: PayloadFormat
    digest: Digest
    enabled: bool
    disabled_reason: str | None = None
    created_at: datetime | None = None
    rotation_ends_at: datetime | None = Field(
        default=None, description="Until then deliveries are also signed with the previous secret"
    )

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        ends = sub.previous_secret_expires_at
        return cls(
            id=sub.id,
            provider_id=sub.provider_id,
            channel=sub.channel,
            target=sub.target,
            filters=sub.filters,
            payload_format=sub.payload_format,
            digest=sub.digest,
            enabled=sub.enabled,
            disabled_reason=sub.disabled_reason,
            created_at=sub.created_at,
            rotation_ends_at=ends if ends is not None and ends > utcnow() else None,
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        description="The whsec_ signing secret (webhooks); shown only in this response"
    )


Target = Annotated[str, text_limits(2000, min_length=3), ONE_LINE]
_API_KEY_CHARS = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces: it goes into a request header


def _api_key_shape(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not _API_KEY_CHARS.match(value.get_secret_value()):
        raise ValueError("api_key must be printable ASCII without spaces")
    return value


ApiKey = Annotated[
    SecretStr,
    Field(
        min_length=8,
        max_length=100,  # sealed, it must fit the 256-character secret column
        description="The key an integration authenticates with (TheHive); stored sealed, never shown",
    ),
]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    target: Target
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    payload_format: PayloadFormat | None = Field(
        default=None, description="Default: json for webhook and email, cef for syslog"
    )
    digest: Digest = Digest.NONE
    api_key: ApiKey | None = None

    _check_api_key = field_validator("api_key")(_api_key_shape)


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target | None = None
    filters: SubscriptionFilters | None = None
    payload_format: PayloadFormat | None = None
    digest: Digest | None = None
    api_key: ApiKey | None = None

    _check_api_key = field_validator("api_key")(_api_key_shape)


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30, strict=True)


class RotatedOut(BaseModel):
    secret: str = Field(description="The new whsec_ secret; shown only in this response")
    rotation_ends_at: datetime | None


class DisableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, text_limits(500), ONE_LINE] = "disabled by its owner"


def _check_target(channel: Channel, target: str, allowed_networks: list[str]) -> None:
    """Reject what can be known wrong now; names are resolved and checked again at every delivery.

    A host that is an address in any spelling a resolver accepts (``2130706433``, ``0x7f.0.0.1``, ``127.1``,
    ``[::ffff:127.0.0.1]``, ``localhost``) is decided here, by the dispatch guard's rule and allow-list.
    """
    if channel is Channel.EMAIL:
        if not _EMAIL.match(target):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "target must be an e-mail address")
        return
    if channel is Channel.SYSLOG:
        try:
            host = parse_target(target).host
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target: {exc}") from exc
    else:
        try:
            url = httpx.URL(target)
        except (httpx.InvalidURL, ValueError) as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "target must be an http(s) URL"
            ) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "target must be an http(s) URL")
        host = url.host
    try:
        addresses = host_addresses(host)
    except NotAHost as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target host: {exc}") from exc
    guard = SsrfGuard(resolver=StaticResolver({}), allowed_networks=allowed_networks)
    try:
        for address in addresses or ():
            guard.check_address(address)
    except SsrfRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"target not allowed: {exc}") from exc


def _check_format(
    channel: Channel,
    payload_format: PayloadFormat,
    digest: Digest,
    filters: SubscriptionFilters,
    *,
    has_api_key: bool,
) -> None:
    """422 with the reason when the channel cannot carry the format or the format cannot work this way."""
    reason = format_refusal(
        channel=channel,
        payload_format=payload_format,
        digest=digest,
        tlp_ceiling=filters.tlp_ceiling,
        has_api_key=has_api_key,
    )
    if reason is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, reason)


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
    _check_target(body.channel, body.target, runtime.settings.dispatch.allowed_networks)
    payload_format = body.payload_format or default_format(body.channel)
    _check_format(
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
        _check_target(sub.channel, body.target, runtime.settings.dispatch.allowed_networks)
    new_format = body.payload_format or sub.payload_format
    if (new_format in API_KEY_FORMATS) != (sub.payload_format in API_KEY_FORMATS):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"a subscription cannot switch between {sub.payload_format.value} and {new_format.value} "
            "(one authenticates with an API key, the other signs): create a new subscription",
        )
    _check_format(
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
