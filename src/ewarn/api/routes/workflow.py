"""The alert workflow over HTTP: status changes with history, overdue alerts, response times, escalation contacts.

``POST /alerts/{id}/status`` itself stays in ``alerts.py`` and calls ``change_alert_status`` here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import Field

from ewarn.api.deps import PrincipalDep, SessionDep, ensure_provider_visible
from ewarn.api.pagination import PAGED_RESPONSES, PageCursor, announce_next, next_cursor, page_after
from ewarn.api.params import ResourceIdPath, ResourceIdQuery
from ewarn.api.routes.audit import SinceQuery, UntilQuery
from ewarn.models.alert import Alert, AlertStatus
from ewarn.models.common import Contract, text_limits, utcnow
from ewarn.models.provider import Principal, Role
from ewarn.models.tlp_access import may_read, readable_tlps
from ewarn.models.workflow import (
    AlertHistory,
    OverdueAlert,
    ResponseTimeReport,
    ResponseTimes,
    StatusChange,
    SuppressionRuleIn,
    SuppressionScope,
)
from ewarn.settings import WorkflowSettings
from ewarn.status.overdue import overdue_alerts
from ewarn.status.report import percentile
from ewarn.store.db import as_utc
from ewarn.store.repositories import alerts as alerts_repo
from ewarn.store.repositories import suppressions as rules_repo
from ewarn.store.repositories import workflow as repo
from ewarn.store.repositories.audit import actor_of, record_audit
from ewarn.store.repositories.principals import visible_provider_ids
from ewarn.store.tables import AlertWorkflowRow, AssetRow, CsirtRow, ProviderRow
from ewarn.workflow.deadlines import overdue
from ewarn.workflow.service import TransitionRefused, change_status

router = APIRouter(prefix="/api/v1", tags=["workflow"])

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_REPORT_ALERTS = 100_000


async def _rule_proposal(
    session: SessionDep, alert: Alert, body: StatusChange, actor: str
) -> SuppressionRuleIn:
    proposal = body.suppress
    assert proposal is not None
    reason = body.comment or f"false positive verdict on alert {alert.id}"
    if proposal.scope is SuppressionScope.ASSET_INDICATOR:
        return SuppressionRuleIn(
            provider_id=alert.provider_id,
            asset_id=alert.asset_id,
            indicator_key=alert.indicator_key,
            reason=reason,
            expires_at=proposal.expires_at,
        )
    asset = await session.get(AssetRow, alert.asset_id)
    data = asset.data if asset is not None else {}
    cve = proposal.cve or (alert.cves[0] if alert.cves else None)
    if not data.get("vendor") or not data.get("product") or cve is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "a product rule needs the asset's vendor and product and a CVE of the alert",
        )
    if cve.upper() not in {c.upper() for c in alert.cves}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{cve} is not a CVE of this alert")
    return SuppressionRuleIn(
        provider_id=alert.provider_id,
        vendor=str(data["vendor"])[:255],
        product=str(data["product"])[:255],
        version=proposal.version,
        cve=cve,
        reason=reason,
        expires_at=proposal.expires_at,
    )


async def change_alert_status(
    *,
    session: SessionDep,
    principal: Principal,
    alert_id: str,
    body: StatusChange,
    settings: WorkflowSettings,
) -> Alert:
    """Move one alert through the workflow (the alert is already known to be visible to ``principal``)."""
    if body.suppress is not None and body.status is not AlertStatus.FALSE_POSITIVE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "a suppression rule is proposed only with false_positive"
        )
    now = utcnow()
    actor = actor_of(principal)
    try:
        alert = await change_status(
            session=session,
            alert_id=alert_id,
            target=body.status,
            actor=actor,
            comment=body.comment,
            settings=settings,
            now=now,
        )
    except TransitionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await record_audit(
        session, principal, "set_status", "alert", [alert_id], body, provider_id=alert.provider_id
    )
    if body.suppress is not None:
        proposal = await _rule_proposal(session, alert, body, actor.id)
        rule = await rules_repo.create_rule(
            session=session, rule=proposal, created_by=actor.id, now=now, source_alert_id=alert.id
        )
        await record_audit(
            session, principal, "create", "suppression", [rule.id], proposal, provider_id=alert.provider_id
        )
    await session.commit()
    return alert


@router.get("/alerts/{alert_id}/history")
async def alert_history(
    alert_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> AlertHistory:
    """Every workflow transition of the alert, oldest first: who, when, from, to and the comment."""
    alert = await alerts_repo.get_alert(session=session, alert_id=alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await ensure_provider_visible(session=session, principal=principal, provider_id=alert.provider_id)
    if not may_read(principal.role, alert.tlp):  # the TLP read rule: absent for whom its TLP is not
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    transitions = await repo.transitions_of(session=session, alert_id=alert_id)
    return AlertHistory(alert_id=alert_id, status=alert.status, transitions=transitions)


class OverduePage(Contract):
    items: list[OverdueAlert]


@router.get("/workflow/overdue", responses=PAGED_RESPONSES)
async def list_overdue_alerts(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    provider_id: ResourceIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: PageCursor = None,
) -> OverduePage:
    """Open alerts past their acknowledgement or resolution deadline that the caller may read (its scope and
    the TLP read rule), raised earliest first; follow ``X-Next-Cursor``.

    Every page is read as of the first page's time (the cursor carries it), so a deadline passing while a
    client pages neither adds an alert to the pages nor moves one: the pages are one view at one time.
    """
    visible = await visible_provider_ids(session=session, principal=principal)
    if provider_id is not None:
        await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
        visible = {provider_id}
    after = page_after(cursor, datetime, datetime, str)
    as_of, last = (after[0], (after[1], after[2])) if after is not None else (utcnow(), None)
    items = await overdue_alerts(
        session=session,
        provider_ids=visible,
        now=as_of,
        limit=limit,
        tlps=readable_tlps(principal.role),
        after=last,
    )
    announce_next(request, response, next_cursor(items, limit, lambda o: (as_of, o.raised_at, o.alert_id)))
    return OverduePage(items=items)


def _seconds(values: list[float], q: float) -> float | None:
    value = percentile(values, q)  # nearest rank, as the status report's latencies
    return None if value is None else round(value, 3)


@router.get("/reports/response-times")
async def response_times(
    session: SessionDep,
    principal: PrincipalDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
    provider_id: ResourceIdQuery = None,
) -> ResponseTimeReport:
    """Per provider: time to acknowledge and to resolve (p50, p90) of alerts raised in [since, until).

    For CSIRTs (their constituency) and operators; default window: the last 30 days.
    """
    if principal.role is Role.PROVIDER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSIRT or operator role required")
    now = utcnow()
    until = until.astimezone(UTC) if until else now
    try:
        since = since.astimezone(UTC) if since else until - timedelta(days=30)
    except OverflowError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "until is too early for the default window"
        ) from exc
    if since >= until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must be before until")
    visible = await visible_provider_ids(session=session, principal=principal)
    if provider_id is not None:
        await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
        visible = {provider_id}
    rows = await repo.raised_between(
        session=session, since=since, until=until, provider_ids=visible, limit=MAX_REPORT_ALERTS
    )
    by_provider: dict[str, list[AlertWorkflowRow]] = {}
    for row in rows:
        by_provider.setdefault(row.provider_id, []).append(row)
    report: list[ResponseTimes] = []
    for pid, items in sorted(by_provider.items()):
        ack = [
            (a - r).total_seconds()
            for row in items
            if (a := as_utc(row.acknowledged_at)) is not None and (r := as_utc(row.raised_at)) is not None
        ]
        res = [
            (d - r).total_seconds()
            for row in items
            if (d := as_utc(row.resolved_at)) is not None and (r := as_utc(row.raised_at)) is not None
        ]
        late = sum(
            1
            for row in items
            if overdue(
                status=AlertStatus(row.status),
                acknowledge_due_at=as_utc(row.acknowledge_due_at),
                resolve_due_at=as_utc(row.resolve_due_at),
                now=now,
            )
            is not None
        )
        report.append(
            ResponseTimes(
                provider_id=pid,
                alerts=len(items),
                acknowledged=len(ack),
                resolved=len(res),
                acknowledge_p50_seconds=_seconds(ack, 50),
                acknowledge_p90_seconds=_seconds(ack, 90),
                resolve_p50_seconds=_seconds(res, 50),
                resolve_p90_seconds=_seconds(res, 90),
                open_overdue=late,
            )
        )
    return ResponseTimeReport(since=since, until=until, providers=report)


# --- escalation contacts -----------------------------------------------------------------------------------


class EscalationContact(Contract):
    email: Annotated[str, text_limits(320, min_length=3)] | None = Field(
        default=None, description="Where overdue alerts escalate to (None: nobody)"
    )


def _checked(body: EscalationContact) -> str | None:
    if body.email is not None and not _EMAIL.match(body.email):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "email must be an e-mail address")
    return body.email


@router.get("/providers/{provider_id}/escalation-contact")
async def get_provider_escalation_contact(
    provider_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> EscalationContact:
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    row = await session.get(ProviderRow, provider_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return EscalationContact(email=row.escalation_contact)


@router.put("/providers/{provider_id}/escalation-contact")
async def set_provider_escalation_contact(
    provider_id: ResourceIdPath, body: EscalationContact, session: SessionDep, principal: PrincipalDep
) -> EscalationContact:
    """The provider's own escalation contact (its key or an operator)."""
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    if principal.role is Role.CSIRT:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSIRT keys are read-only for provider data")
    row = await session.get(ProviderRow, provider_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    row.escalation_contact = _checked(body)
    await record_audit(
        session, principal, "set_escalation_contact", "provider", [provider_id], body, provider_id=provider_id
    )
    await session.commit()
    return EscalationContact(email=row.escalation_contact)


async def csirt_in_scope(session: SessionDep, principal: Principal, csirt_id: str) -> CsirtRow:
    if principal.role is Role.PROVIDER or (principal.role is Role.CSIRT and principal.csirt_id != csirt_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    row = await session.get(CsirtRow, csirt_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return row


@router.get("/csirts/{csirt_id}/escalation-contact")
async def get_csirt_escalation_contact(
    csirt_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> EscalationContact:
    row = await csirt_in_scope(session, principal, csirt_id)
    return EscalationContact(email=row.escalation_contact)


@router.put("/csirts/{csirt_id}/escalation-contact")
async def set_csirt_escalation_contact(
    csirt_id: ResourceIdPath, body: EscalationContact, session: SessionDep, principal: PrincipalDep
) -> EscalationContact:
    """The CSIRT's escalation contact (that CSIRT's key or an operator)."""
    row = await csirt_in_scope(session, principal, csirt_id)
    row.escalation_contact = _checked(body)
    await record_audit(session, principal, "set_escalation_contact", "csirt", [csirt_id], body)
    await session.commit()
    return EscalationContact(email=row.escalation_contact)
