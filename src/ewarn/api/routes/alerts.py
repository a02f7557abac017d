"""Alerts for hospital SOCs (own tenant), CSIRTs (constituency) and operators."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from ewarn.api.deps import PrincipalDep, RuntimeDep, SessionDep, ensure_provider_visible
from ewarn.api.params import CursorQuery, ResourceIdPath, ResourceIdQuery, TextQuery
from ewarn.api.routes.workflow import change_alert_status
from ewarn.models.alert import Alert, AlertStatus, Severity
from ewarn.models.provider import Role
from ewarn.models.tlp_access import may_read, readable_tlps
from ewarn.models.workflow import StatusChange
from ewarn.store.repositories import alerts as repo
from ewarn.store.repositories.principals import visible_provider_ids

router = APIRouter(prefix="/api/v1", tags=["alerts"])


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = None


def _encode_cursor(alert: Alert) -> str:
    stamp = (alert.updated_at or alert.matched_at).isoformat()
    return base64.urlsafe_b64encode(f"{stamp}|{alert.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, alert_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), alert_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid cursor") from exc


@router.get("/alerts")
async def list_alerts(
    session: SessionDep,
    principal: PrincipalDep,
    provider_id: ResourceIdQuery = None,
    min_severity: Severity | None = None,
    alert_status: Annotated[AlertStatus | None, Query(alias="status")] = None,
    indicator_key: TextQuery = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertPage:
    visible = await visible_provider_ids(session=session, principal=principal)
    if provider_id is not None:
        await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
        visible = {provider_id}
    items = await repo.list_alerts(
        session=session,
        provider_ids=visible,
        min_severity=min_severity,
        status=alert_status,
        indicator_key=indicator_key,
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit,
        tlps=readable_tlps(principal.role),
    )
    return AlertPage(items=items, next_cursor=_encode_cursor(items[-1]) if len(items) == limit else None)


async def _visible_alert(session: SessionDep, principal: PrincipalDep, alert_id: str) -> Alert:
    alert = await repo.get_alert(session=session, alert_id=alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await ensure_provider_visible(session=session, principal=principal, provider_id=alert.provider_id)
    if not may_read(principal.role, alert.tlp):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")  # as if absent: its TLP is not for you
    return alert


@router.get("/alerts/{alert_id}")
async def get_alert(alert_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep) -> Alert:
    return await _visible_alert(session, principal, alert_id)


@router.post("/alerts/{alert_id}/status")
async def set_status(
    alert_id: ResourceIdPath,
    body: StatusChange,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> Alert:
    """Move the alert through the workflow (new → acknowledged → in_progress → resolved, or false_positive /
    accepted_risk) with an optional comment; 409 with the reason when the move is not allowed. A
    false_positive may propose a suppression rule. Every change is in ``GET /alerts/{id}/history``."""
    await _visible_alert(session, principal, alert_id)
    if principal.role is Role.CSIRT:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSIRT keys are read-only for provider data")
    return await change_alert_status(
        session=session, principal=principal, alert_id=alert_id, body=body, settings=runtime.settings.workflow
    )
