"""Firewall blocklists (external dynamic lists) of relayed sightings, per principal, with ETag."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ewarn.api.deps import PrincipalDep, SessionDep
from ewarn.models.alert import Severity
from ewarn.models.common import utcnow
from ewarn.models.sighting import HeldReason, SightingStatus
from ewarn.sightings.blocklist import TYPES, Filters, ListName, etag, render, select_entries
from ewarn.store.repositories import sightings as repo
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1/blocklists", tags=["blocklists"])


@router.get(
    "/{name}.txt",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 304: {"description": "Not modified (ETag)"}},
)
async def blocklist(
    name: ListName,
    session: SessionDep,
    principal: PrincipalDep,
    min_corroboration: Annotated[int, Query(ge=1, le=1000)] = 1,
    max_age_hours: Annotated[float | None, Query(gt=0, le=24 * 365)] = None,
    min_severity: Severity | None = None,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """One entry per line (``ip``, ``ipv4``, ``ipv6``: addresses and networks; ``domain``; ``url`` without the
    scheme) for Palo Alto EDL, Fortinet external threat feeds and pfSense/OPNsense URL tables."""
    now = utcnow()
    types = [t.value for t in TYPES[name]]
    own = await visible_provider_ids(session=session, principal=principal)
    sightings = await repo.live_sightings(session=session, now=now, types=types)
    if own is None or own:
        red = await repo.live_sightings(
            session=session, now=now, types=types, statuses=(SightingStatus.HELD,)
        )
        sightings += [s for s in red if s.held_reason is HeldReason.TLP_RED]
    filters = Filters(
        min_corroboration=min_corroboration,
        max_age=timedelta(hours=max_age_hours) if max_age_hours is not None else None,
        min_severity=min_severity,
    )
    body = render(select_entries(sightings, principal, own, now=now, filters=filters))
    tag = etag(body)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="text/plain; charset=us-ascii", headers=headers)
