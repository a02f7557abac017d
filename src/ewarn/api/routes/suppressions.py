"""Suppression rules: listed, created, changed (reason, expiry) and deleted by providers and operators, audited.

CSIRTs read the rules of their constituency. A rule created from a false-positive verdict names its source alert.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from ewarn.api.deps import PrincipalDep, SessionDep, ensure_provider_visible, ensure_provider_writable
from ewarn.api.pagination import PAGED_RESPONSES, announce_next
from ewarn.api.params import ResourceIdPath, ResourceIdQuery
from ewarn.models.common import Contract, utcnow
from ewarn.models.provider import Principal
from ewarn.models.workflow import SuppressionRule, SuppressionRuleIn, SuppressionRuleUpdate
from ewarn.store.repositories import suppressions as repo
from ewarn.store.repositories.audit import actor_of, record_audit
from ewarn.store.repositories.principals import visible_provider_ids
from ewarn.store.tables import ProviderRow, SuppressionRuleRow

router = APIRouter(prefix="/api/v1", tags=["suppressions"])


class SuppressionPage(Contract):
    items: list[SuppressionRule]
    next_cursor: str | None = None


@router.get("/suppressions", responses=PAGED_RESPONSES)
async def list_suppressions(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    provider_id: ResourceIdQuery = None,
    include_expired: bool = False,
    cursor: ResourceIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SuppressionPage:
    """Rules in the caller's scope, with how many matches each has suppressed; expired ones on request."""
    visible = await visible_provider_ids(session=session, principal=principal)
    if provider_id is not None:
        await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
        visible = {provider_id}
    items = await repo.list_rules(
        session=session,
        provider_ids=visible,
        now=utcnow(),
        include_expired=include_expired,
        after=cursor,
        limit=limit,
    )
    following = items[-1].id if len(items) == limit else None
    announce_next(request, response, following)
    return SuppressionPage(items=items, next_cursor=following)


@router.post("/suppressions", status_code=status.HTTP_201_CREATED)
async def create_suppression(
    body: SuppressionRuleIn, session: SessionDep, principal: PrincipalDep
) -> SuppressionRule:
    await ensure_provider_writable(session=session, principal=principal, provider_id=body.provider_id)
    if await session.get(ProviderRow, body.provider_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    rule = await repo.create_rule(session=session, rule=body, created_by=actor_of(principal).id, now=utcnow())
    await record_audit(
        session, principal, "create", "suppression", [rule.id], body, provider_id=body.provider_id
    )
    await session.commit()
    return rule


async def _visible_row(session: SessionDep, principal: Principal, rule_id: str) -> SuppressionRuleRow:
    row = await repo.rule_row(session=session, rule_id=rule_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    await ensure_provider_visible(session=session, principal=principal, provider_id=row.provider_id)
    return row


@router.get("/suppressions/{rule_id}")
async def get_suppression(
    rule_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> SuppressionRule:
    return repo.rule_from_row(await _visible_row(session, principal, rule_id), now=utcnow())


@router.patch("/suppressions/{rule_id}")
async def update_suppression(
    rule_id: ResourceIdPath, body: SuppressionRuleUpdate, session: SessionDep, principal: PrincipalDep
) -> SuppressionRule:
    """Change the reason or the expiry (``expires_at: null`` keeps the rule until deleted)."""
    row = await _visible_row(session, principal, rule_id)
    await ensure_provider_writable(session=session, principal=principal, provider_id=row.provider_id)
    if body.reason is not None:
        row.reason = body.reason
    if "expires_at" in body.model_fields_set:
        row.expires_at = body.expires_at
    await record_audit(
        session, principal, "update", "suppression", [rule_id], body, provider_id=row.provider_id
    )
    await session.commit()
    return repo.rule_from_row(row, now=utcnow())


@router.delete("/suppressions/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_suppression(
    rule_id: ResourceIdPath, session: SessionDep, principal: PrincipalDep
) -> Response:
    """The rule stops applying at once; its row stays for the audit trail."""
    row = await _visible_row(session, principal, rule_id)
    await ensure_provider_writable(session=session, principal=principal, provider_id=row.provider_id)
    row.deleted_at = utcnow()
    await record_audit(
        session, principal, "delete", "suppression", [rule_id], None, provider_id=row.provider_id
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
