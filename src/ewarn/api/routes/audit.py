"""The audit log: read (paginated by cursor, filtered) and exported (CSV or JSON Lines, streamed).

Operators read every row; a provider key the rows of its own tenant; a CSIRT key those of its constituency.
Rows of global writes (feeds, keys, aliases, tenants) have no tenant and are shown to operators only.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BeforeValidator

from ewarn.api.deps import PrincipalDep, RuntimeDep, SessionDep
from ewarn.api.pagination import PAGED_RESPONSES, announce_next
from ewarn.api.params import CursorQuery, ResourceIdQuery
from ewarn.runtime import Runtime
from ewarn.store.repositories import audit as repo
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_text(value: object) -> object:
    """Only an RFC 3339 date-time (pydantic would also read ``0.5`` as seconds since the epoch)."""
    if isinstance(value, str) and not _ISO_TIME.match(value):
        raise ValueError("expected an RFC 3339 date-time with its offset, e.g. 2026-12-03T10:00:00Z")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
SinceQuery = Annotated[IsoTime | None, Query(description="From this time (inclusive)")]
UntilQuery = Annotated[IsoTime | None, Query(description="Before this time (exclusive)")]
_CSV_FIELDS = (
    "id",
    "at",
    "actor",
    "actor_role",
    "actor_name",
    "action",
    "resource",
    "target_ids",
    "provider_id",
    "summary",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _filters(
    since: AwareDatetime | None,
    until: AwareDatetime | None,
    actor: str | None,
    action: str | None,
    resource: str | None,
    provider_id: str | None,
) -> repo.AuditFilter:
    return repo.AuditFilter(
        since=since.astimezone(UTC) if since else None,
        until=until.astimezone(UTC) if until else None,
        actor=actor,
        action=action,
        resource=resource,
        provider_id=provider_id,
    )


@router.get("", responses=PAGED_RESPONSES)
async def list_audit(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
    actor: ResourceIdQuery = None,
    action: ResourceIdQuery = None,
    resource: ResourceIdQuery = None,
    provider_id: ResourceIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=repo.MAX_PAGE)] = 100,
    cursor: CursorQuery = None,
) -> repo.AuditPage:
    """Audit rows the caller may read, newest first; pass ``next_cursor`` back as ``cursor``."""
    visible = await visible_provider_ids(session=session, principal=principal)
    try:
        page = await repo.list_audit(
            session=session,
            provider_ids=visible,
            filters=_filters(since, until, actor, action, resource, provider_id),
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    announce_next(request, response, page.next_cursor)
    return page


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_audit(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "jsonl",
    since: SinceQuery = None,
    until: UntilQuery = None,
    actor: ResourceIdQuery = None,
    action: ResourceIdQuery = None,
    resource: ResourceIdQuery = None,
    provider_id: ResourceIdQuery = None,
) -> StreamingResponse:
    """Every audit row the caller may read, newest first, streamed as CSV or JSON Lines."""
    visible = await visible_provider_ids(session=session, principal=principal)
    filters = _filters(since, until, actor, action, resource, provider_id)
    lines = _csv_lines if fmt == "csv" else _jsonl_lines
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(
        lines(runtime, visible, filters),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit.{fmt}"'},
    )


async def _entries(
    runtime: Runtime, visible: set[str] | None, filters: repo.AuditFilter
) -> AsyncIterator[repo.AuditEntry]:
    # A session of its own: the request's session may be closed before the body has been streamed.
    async with runtime.sessions() as session:
        async for entry in repo.iter_audit(session=session, provider_ids=visible, filters=filters):
            yield entry


async def _jsonl_lines(
    runtime: Runtime, visible: set[str] | None, filters: repo.AuditFilter
) -> AsyncIterator[str]:
    async for entry in _entries(runtime, visible, filters):
        yield entry.model_dump_json() + "\n"


def _cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


async def _csv_lines(
    runtime: Runtime, visible: set[str] | None, filters: repo.AuditFilter
) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_CSV_FIELDS)
    async for entry in _entries(runtime, visible, filters):
        writer.writerow(
            [
                str(entry.id),
                entry.at.isoformat(),
                _cell(entry.actor),
                entry.actor_role,
                _cell(entry.actor_name),
                _cell(entry.action),
                _cell(entry.resource),
                _cell(" ".join(entry.target_ids)),
                entry.provider_id or "",
                _cell(json.dumps(entry.summary, sort_keys=True, ensure_ascii=False)),
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
