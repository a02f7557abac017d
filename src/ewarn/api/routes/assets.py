"""A provider's assets: register (one or many), list, get, delete, and bulk import of files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.api.deps import (
    PrincipalDep,
    RuntimeDep,
    SessionDep,
    ensure_provider_visible,
    ensure_provider_writable,
)
from ewarn.api.pagination import PAGED_RESPONSES, announce_next
from ewarn.api.params import CursorQuery, ResourceIdPath, ResourceIdQuery
from ewarn.api.problems import problem
from ewarn.inventory import service
from ewarn.inventory.importers import ImportFormat, ImportRejected
from ewarn.inventory.importers.bounded import ImportTooLarge
from ewarn.inventory.models import AssetIn, ImportReport
from ewarn.inventory.validate import AssetInvalid
from ewarn.models.asset import Asset, AssetKind
from ewarn.models.provider import Principal
from ewarn.store.repositories import assets as repo
from ewarn.store.repositories.assets import AssetPage, Outcome
from ewarn.store.repositories.audit import record_audit
from ewarn.store.repositories.principals import get_provider

router = APIRouter(prefix="/api/v1/providers/{provider_id}/assets", tags=["assets"])

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file: CSV (text/csv) or a CycloneDX / CSAF JSON document, as selected by format.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
            "application/vnd.cyclonedx+json": {"schema": {"type": "object"}},
        },
    }
}


@router.post("", response_model=Asset | list[Asset])
async def register_assets(
    provider_id: ResourceIdPath,
    body: AssetIn | list[AssetIn],
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> Asset | list[Asset] | JSONResponse:
    """Register one asset or a list (all or nothing); the same natural key again updates the same asset.

    201 when at least one asset is new, 200 when all existed; 422 names every invalid field.
    """
    await _ensure_writable(session, principal, provider_id)
    items = body if isinstance(body, list) else [body]
    await record_audit(
        session, principal, "register", "asset", [provider_id], _summary(items), provider_id=provider_id
    )
    try:
        saved = await service.register_assets(
            session=session,
            bus=runtime.bus,
            topics=runtime.topics,
            provider_id=provider_id,
            items=items,
            scope=runtime.settings.inventory.scope,
        )
    except AssetInvalid as exc:
        return problem(
            422,
            "Unprocessable Content",
            "asset validation failed",
            errors=[p.model_dump() for p in exc.problems],
        )
    if any(s.outcome is Outcome.CREATED for s in saved):
        response.status_code = status.HTTP_201_CREATED
    assets = [s.asset for s in saved]
    return assets if isinstance(body, list) else assets[0]


@router.get("", responses=PAGED_RESPONSES)
async def list_assets(
    request: Request,
    response: Response,
    provider_id: ResourceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    kind: AssetKind | None = None,
    limit: Annotated[int, Query(ge=1, le=repo.MAX_PAGE)] = 100,
    cursor: CursorQuery = None,
) -> AssetPage:
    """Live assets ordered by id; pass ``next_cursor`` back as ``cursor`` for the next page."""
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    try:
        page = await repo.list_assets(
            session=session, provider_ids={provider_id}, kind=kind, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    announce_next(request, response, page.next_cursor)
    return page


@router.post("/import", openapi_extra=_IMPORT_BODY)
async def import_assets(
    provider_id: ResourceIdPath,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    fmt: Annotated[ImportFormat, Query(alias="format")],
    device: ResourceIdQuery = None,
) -> ImportReport:
    """Import a file: valid rows are applied, the others reported with row and reason. Idempotent.

    The body is read only after the key is checked, and counted while it is read (413 beyond
    ``api.limits.max_import_bytes``); more rows than ``api.limits.max_import_rows`` are refused with 413
    before any is stored. Parsing and validation run off the event loop.
    """
    await _ensure_writable(session, principal, provider_id)
    data = await request.body()
    await record_audit(
        session,
        principal,
        "import",
        "asset",
        [provider_id],
        {"format": fmt, "bytes": len(data), "device": device},
        provider_id=provider_id,
    )
    try:
        return await service.import_file(
            session=session,
            bus=runtime.bus,
            topics=runtime.topics,
            provider_id=provider_id,
            data=data,
            fmt=fmt,
            device_id=device,
            max_rows=runtime.settings.api.limits.max_import_rows,
            scope=runtime.settings.inventory.scope,
        )
    except ImportTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except ImportRejected as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.get("/{asset_id}")
async def get_asset(
    provider_id: ResourceIdPath, asset_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> Asset:
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    asset = await repo.get_asset(session=session, provider_id=provider_id, asset_id=asset_id)
    if asset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return asset


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_asset(
    provider_id: ResourceIdPath,
    asset_id: ResourceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> Response:
    """Soft-delete the asset and the components that belong to it."""
    await _ensure_writable(session, principal, provider_id)
    await record_audit(session, principal, "delete", "asset", [asset_id], None, provider_id=provider_id)
    removed = await service.remove_asset(
        session=session, bus=runtime.bus, topics=runtime.topics, provider_id=provider_id, asset_id=asset_id
    )
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _summary(items: list[AssetIn]) -> dict[str, object]:
    """What a registration sent, in short (the service commits, so the audit row goes in before it)."""
    return {"count": len(items), "kinds": sorted({i.kind.value for i in items})}


async def _ensure_writable(session: AsyncSession, principal: Principal, provider_id: str) -> None:
    """Tenancy first (404 / 403), then the provider must exist (an operator may name any id)."""
    await ensure_provider_writable(session=session, principal=principal, provider_id=provider_id)
    if await get_provider(session=session, provider_id=provider_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
