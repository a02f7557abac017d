"""Sightings: providers report what attacked them; CSIRTs confirm; the relay warns the sector."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from ewarn.api.deps import PrincipalDep, RuntimeDep, SessionDep, ensure_provider_visible
from ewarn.api.pagination import PAGED_RESPONSES, PageCursor, announce_next, next_cursor, page_after
from ewarn.api.params import ResourceIdPath
from ewarn.models.provider import Principal, Role
from ewarn.models.sighting import Sighting, SightingIn, SightingReceipt, StixSightingReport
from ewarn.sightings.observables import InvalidSighting
from ewarn.sightings.relay import AuditAs, QuotaExceeded, relay_for
from ewarn.sightings.stix import read_stix_sightings
from ewarn.store.repositories import sightings as repo
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1/sightings", tags=["sightings"])


def _reporter(principal: Principal) -> str:
    """Only a provider reports sightings (of what attacked it); CSIRTs confirm, operators read."""
    if principal.role is not Role.PROVIDER or principal.provider_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only provider keys submit sightings")
    return principal.provider_id


async def _submit(
    runtime: RuntimeDep, principal: Principal, sightings: list[SightingIn]
) -> list[SightingReceipt]:
    provider_id = _reporter(principal)
    try:
        receipts = await relay_for(runtime).submit(
            provider_id=provider_id, sightings=sightings, audit=AuditAs(principal, "submit")
        )
    except InvalidSighting as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except QuotaExceeded as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from exc
    return receipts


@router.post("", status_code=status.HTTP_201_CREATED)
async def submit_sighting(body: SightingIn, runtime: RuntimeDep, principal: PrincipalDep) -> SightingReceipt:
    """Report a sighting; it is relayed to the sector (never naming you unless ``share_identity``)."""
    (receipt,) = await _submit(runtime, principal, [body])
    return receipt


@router.post("/stix", status_code=status.HTTP_201_CREATED)
async def submit_stix_sightings(
    runtime: RuntimeDep, principal: PrincipalDep, body: Annotated[dict[str, Any], Body()]
) -> StixSightingReport:
    """Report the STIX 2.1 ``sighting`` objects of a bundle (all of them or, when one is invalid, none)."""
    _reporter(principal)
    try:
        sightings, ignored = read_stix_sightings(body)
    except InvalidSighting as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return StixSightingReport(receipts=await _submit(runtime, principal, sightings), ignored=ignored)


@router.get("", responses=PAGED_RESPONSES)
async def list_sightings(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: PageCursor = None,
) -> list[Sighting]:
    """Your own sightings (a CSIRT: its constituency's; an operator: all), newest first; follow ``X-Next-Cursor``."""
    visible = await visible_provider_ids(session=session, principal=principal)
    after = page_after(cursor, datetime, str)
    items = await repo.list_sightings(session=session, provider_ids=visible, limit=limit, after=after)
    announce_next(request, response, next_cursor(items, limit, lambda s: (s.received_at, s.id)))
    return items


async def _visible(session: SessionDep, principal: PrincipalDep, sighting_id: str) -> Sighting:
    sighting = await repo.get_sighting(session=session, sighting_id=sighting_id)
    if sighting is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await ensure_provider_visible(session=session, principal=principal, provider_id=sighting.provider_id)
    return sighting


@router.get("/{sighting_id}")
async def get_sighting(sighting_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep) -> Sighting:
    return await _visible(session, principal, sighting_id)


@router.post("/{sighting_id}/confirm")
async def confirm_sighting(
    sighting_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> SightingReceipt:
    """A CSIRT confirms a sighting of its constituency: the entry's severity rises (corroboration rule)."""
    sighting = await _visible(session, principal, sighting_id)
    if principal.role is not Role.CSIRT or principal.csirt_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only CSIRT keys confirm sightings")
    await session.close()  # the relay writes (the confirmation with its audit row) in its own sessions
    return await relay_for(runtime).confirm(
        sighting=sighting, csirt_id=principal.csirt_id, audit=AuditAs(principal, "confirm")
    )
