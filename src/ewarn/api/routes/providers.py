"""Providers (tenants) and CSIRTs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ewarn.api.deps import OperatorDep, PrincipalDep, SessionDep, ensure_provider_visible
from ewarn.api.pagination import (
    NEXT_PAGE_HEADERS,
    PAGED_RESPONSES,
    LimitQuery,
    PageCursor,
    announce_next,
    decode_cursor,
    encode_cursor,
    next_cursor,
    page_after,
)
from ewarn.api.params import ResourceIdPath
from ewarn.models.common import ONE_LINE, CountryCode, LanguageTag, Name, Slug, text_limits
from ewarn.models.provider import Csirt, Provider
from ewarn.store.repositories import principals as repo
from ewarn.store.repositories.audit import record_audit

router = APIRouter(prefix="/api/v1", tags=["providers"])


Contact = Annotated[str, text_limits(320, min_length=1), ONE_LINE]


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Name
    country: CountryCode
    csirt_id: Slug | None = None
    contacts: list[Contact] = Field(default_factory=list, max_length=50)
    language: LanguageTag = "en"


@router.post("/providers", status_code=status.HTTP_201_CREATED)
async def create_provider(body: ProviderIn, session: SessionDep, principal: OperatorDep) -> Provider:
    if body.csirt_id and body.csirt_id not in {c.id for c in await repo.list_csirts(session=session)}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown csirt_id {body.csirt_id!r}")
    provider = await repo.upsert_provider(session=session, provider=Provider(**body.model_dump()))
    await record_audit(session, principal, "upsert", "provider", [body.id], body, provider_id=body.id)
    await session.commit()
    return provider


@router.get("/providers", responses={200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}})
async def list_providers(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: PageCursor = None,
    limit: LimitQuery = 1000,
) -> list[Provider]:
    """By id; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    visible = await repo.visible_provider_ids(session=session, principal=principal)
    (after,) = decode_cursor(cursor, str) if cursor else (None,)
    items = await repo.list_providers(session=session, provider_ids=visible, after=after, limit=limit)
    announce_next(request, response, encode_cursor(items[-1].id) if len(items) == limit else None)
    return items


@router.get("/providers/{provider_id}")
async def get_provider(provider_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep) -> Provider:
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    provider = await repo.get_provider(session=session, provider_id=provider_id)
    if provider is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return provider


class CsirtIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Name
    country: CountryCode


@router.post("/csirts", status_code=status.HTTP_201_CREATED)
async def create_csirt(body: CsirtIn, session: SessionDep, principal: OperatorDep) -> Csirt:
    csirt = await repo.upsert_csirt(session=session, csirt=Csirt(**body.model_dump()))
    await record_audit(session, principal, "upsert", "csirt", [body.id], body)
    await session.commit()
    return csirt


@router.get("/csirts", responses=PAGED_RESPONSES)
async def list_csirts(
    request: Request,
    response: Response,
    session: SessionDep,
    _: OperatorDep,
    cursor: PageCursor = None,
    limit: LimitQuery = 1000,
) -> list[Csirt]:
    """By id; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    (after,) = page_after(cursor, str) or (None,)
    items = await repo.list_csirts(session=session, after=after, limit=limit)
    announce_next(request, response, next_cursor(items, limit, lambda c: (c.id,)))
    return items
