"""``GET /api/v1/exports/alerts``: the alerts of a filter as a STIX 2.1 bundle, CSV or a MISP event, streamed.

The filter is the alert list's (provider, minimum severity, status, indicator key), the order its order
(newest change first), and the alerts those the key may read: tenancy, then the TLP read rule
(``ewarn.models.tlp_access``). Pages are read one at a time, each in its own short session, so an export
of any size holds neither a database connection nor the whole result while the client reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ewarn.api.deps import GuardDep, PrincipalDep, RuntimeDep, SessionDep, ensure_provider_visible
from ewarn.api.limits import ApiGuard
from ewarn.api.params import ResourceIdQuery, TextQuery
from ewarn.exports.formats import EXTENSIONS, MEDIA_TYPES, ExportWriter, writer_for
from ewarn.models.alert import Alert, AlertStatus, Severity
from ewarn.models.common import TLP, utcnow
from ewarn.models.tlp_access import readable_tlps
from ewarn.runtime import Runtime
from ewarn.store.repositories import alerts as repo
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1", tags=["alerts"])

PAGE = 500
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export: a STIX 2.1 bundle, CSV (RFC 4180) or a MISP event (core format)",
        "content": {
            MEDIA_TYPES["stix"]: {"schema": {"type": "object"}},
            MEDIA_TYPES["csv"]: {"schema": {"type": "string"}},
            MEDIA_TYPES["misp"]: {"schema": {"type": "object"}},
        },
    }
}


async def _stream(
    runtime: Runtime,
    guard: ApiGuard,
    writer: ExportWriter,
    *,
    provider_ids: set[str] | None,
    tlps: frozenset[TLP] | None,
    filters: dict[str, Any],
) -> AsyncIterator[bytes]:
    yield writer.head()
    after = None
    while True:
        async with guard.db.slot(), runtime.sessions() as session:
            items: list[Alert] = await repo.list_alerts(
                session=session, provider_ids=provider_ids, after=after, limit=PAGE, tlps=tlps, **filters
            )
        for alert in items:
            yield writer.item(alert)
        if len(items) < PAGE:
            break
        last = items[-1]
        after = (last.updated_at or last.matched_at, last.id)
    yield writer.tail()


@router.get("/exports/alerts", response_class=StreamingResponse, responses=_RESPONSES)
async def export_alerts(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    guard: GuardDep,
    export_format: Annotated[Literal["stix", "csv", "misp"], Query(alias="format")] = "stix",
    provider_id: ResourceIdQuery = None,
    min_severity: Severity | None = None,
    alert_status: Annotated[AlertStatus | None, Query(alias="status")] = None,
    indicator_key: TextQuery = None,
) -> StreamingResponse:
    """Every alert of the filter the key may read, in the alert list's order, streamed."""
    visible = await visible_provider_ids(session=session, principal=principal)
    if provider_id is not None:
        await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
        visible = {provider_id}
    now = utcnow()
    export_id = f"{principal.key_id}\x1f{now.isoformat()}"
    info = f"ewarn alerts export {now:%Y-%m-%d %H:%M} UTC" + (f" ({provider_id})" if provider_id else "")
    writer = writer_for(export_format, export_id=export_id, info=info, now=lambda: now)
    body = _stream(
        runtime,
        guard,
        writer,
        provider_ids=visible,
        tlps=readable_tlps(principal.role),
        filters={"min_severity": min_severity, "status": alert_status, "indicator_key": indicator_key},
    )
    filename = f"ewarn-alerts-{now:%Y%m%dT%H%M%SZ}.{EXTENSIONS[export_format]}"
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[export_format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
