"""API keys: created by operators, shown once, stored hashed; listed, revoked and rotated by who owns them.

Who may do what (another tenant's key is answered 404, as if it did not exist):

- operators: create, list, read, revoke and rotate every key;
- a provider key: list, read, revoke and rotate the keys of its own tenant (a compromised key is replaced
  without waiting for an operator); it cannot create keys;
- a CSIRT key: list and read its own CSIRT's keys and those of its constituency's providers; nothing else.

A key's secret appears in exactly two answers: the one creating it and the one rotating it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ewarn.api.deps import OperatorDep, PrincipalDep, SessionDep
from ewarn.api.pagination import (
    PAGED_RESPONSES,
    LimitQuery,
    PageCursor,
    announce_next,
    next_cursor,
    page_after,
)
from ewarn.api.params import ResourceIdPath
from ewarn.models.apikey import ApiKeyInfo
from ewarn.models.common import ShortText, Slug, UtcDatetime, utcnow
from ewarn.models.provider import Principal, Role
from ewarn.store.repositories import principals as repo
from ewarn.store.repositories.audit import record_audit
from ewarn.store.tables import ApiKeyRow

router = APIRouter(prefix="/api/v1", tags=["keys"])

MAX_GRACE_SECONDS = 7 * 24 * 3600


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    provider_id: Slug | None = None
    csirt_id: Slug | None = None
    name: ShortText = ""
    expires_at: UtcDatetime | None = None  # must lie in the future; none: the key lives until revoked


class KeyOut(BaseModel):
    principal: Principal
    info: ApiKeyInfo
    key: str  # the only time the key is ever shown


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_at: UtcDatetime | None = None  # of the new key
    grace_seconds: int = Field(default=0, ge=0, le=MAX_GRACE_SECONDS)  # the old key keeps working this long


class RotateOut(BaseModel):
    replaced: ApiKeyInfo
    info: ApiKeyInfo
    key: str  # the new key, shown once


def _future(expires_at: UtcDatetime | None) -> None:
    if expires_at is not None and expires_at <= utcnow():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "expires_at must lie in the future")


async def _visible(session: SessionDep, principal: Principal, key_id: str) -> ApiKeyRow:
    row = await repo.get_api_key(session=session, principal=principal, key_id=key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return row


async def _managed(session: SessionDep, principal: Principal, key_id: str) -> ApiKeyRow:
    """A key the caller may revoke or rotate: 404 if unseen, 403 for a CSIRT (read-only)."""
    row = await _visible(session, principal, key_id)
    if principal.role is Role.CSIRT:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSIRT keys are read-only for keys")
    return row


@router.post("/keys", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyIn, session: SessionDep, caller: OperatorDep) -> KeyOut:
    _future(body.expires_at)
    if body.provider_id and await repo.get_provider(session=session, provider_id=body.provider_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown provider_id")
    if body.csirt_id and body.csirt_id not in {c.id for c in await repo.list_csirts(session=session)}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown csirt_id")
    try:
        principal, key = await repo.create_api_key(
            session=session,
            role=body.role,
            provider_id=body.provider_id,
            csirt_id=body.csirt_id,
            name=body.name,
            expires_at=body.expires_at,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    row = await session.get(ApiKeyRow, principal.key_id)
    assert row is not None
    info = repo.key_info(row)
    await record_audit(session, caller, "create", "api_key", [info.id], body, provider_id=info.provider_id)
    await session.commit()
    return KeyOut(principal=principal, info=info, key=key)


@router.get("/keys", responses=PAGED_RESPONSES)
async def list_keys(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    include_inactive: Annotated[bool, Query(description="Also revoked and expired keys.")] = False,
    cursor: PageCursor = None,
    limit: LimitQuery = 1000,
) -> list[ApiKeyInfo]:
    """Oldest first; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    items = await repo.list_api_keys(
        session=session,
        principal=principal,
        include_inactive=include_inactive,
        after=page_after(cursor, datetime, str),
        limit=limit,
    )
    announce_next(request, response, next_cursor(items, limit, lambda k: (k.created_at, k.id)))
    return items


@router.get("/keys/{key_id}")
async def get_key(key_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep) -> ApiKeyInfo:
    return repo.key_info(await _visible(session, principal, key_id))


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep) -> ApiKeyInfo:
    """Revoke at once: the next request with this key fails in every process. Revoking twice is harmless."""
    row = await _managed(session, principal, key_id)
    info = await repo.revoke_api_key(session=session, row=row, by=f"key:{principal.key_id}")
    await record_audit(session, principal, "revoke", "api_key", [key_id], None, provider_id=info.provider_id)
    await session.commit()
    return info


@router.post("/keys/{key_id}/rotate")
async def rotate_key(
    key_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep, body: RotateIn | None = None
) -> RotateOut:
    """A new key with the same role, tenant and name; the old one is revoked now or after ``grace_seconds``."""
    body = body or RotateIn()
    _future(body.expires_at)
    row = await _managed(session, principal, key_id)
    try:
        info, key = await repo.rotate_api_key(
            session=session,
            row=row,
            by=f"key:{principal.key_id}",
            expires_at=body.expires_at,
            grace=timedelta(seconds=body.grace_seconds),
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    replaced = repo.key_info(row)
    await record_audit(
        session, principal, "rotate", "api_key", [key_id, info.id], body, provider_id=info.provider_id
    )
    await session.commit()
    return RotateOut(replaced=replaced, info=info, key=key)


@router.get("/whoami")
async def whoami(principal: PrincipalDep) -> Principal:
    return principal
