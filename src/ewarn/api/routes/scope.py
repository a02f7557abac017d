"""Operator approvals of asset scopes wider than the rules allow (one provider, one exact value each).

An approval is the audit trail of that decision: who (the operator key), when, what and why. Once recorded,
the provider's own write of exactly that asset succeeds; every other wide asset is still refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ewarn.api.deps import OperatorDep, PrincipalDep, RuntimeDep, SessionDep, ensure_provider_visible
from ewarn.api.pagination import (
    PAGED_RESPONSES,
    LimitQuery,
    PageCursor,
    announce_next,
    next_cursor,
    page_after,
)
from ewarn.inventory.scope import ScopeApproval, approvable_value, approve_scope, list_approvals
from ewarn.logging import get_logger
from ewarn.models.asset import AssetKind
from ewarn.models.common import utcnow
from ewarn.store.repositories.audit import record_audit
from ewarn.store.repositories.principals import get_provider

log = get_logger(__name__)
router = APIRouter(prefix="/api/v1/providers/{provider_id}/scope-approvals", tags=["scope"])

ProviderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


def _printable(value: str) -> str:
    if not value.strip() or not all(c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must be printable text on one line")
    return value.strip()


class ScopeApprovalIn(BaseModel):
    """Allow this provider exactly this asset value although wider than the scope rules allow."""

    model_config = ConfigDict(extra="forbid")

    kind: AssetKind
    value: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]
    reason: Annotated[str, Field(min_length=3, max_length=2000), AfterValidator(_printable)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def approve(
    provider_id: ProviderId,
    body: ScopeApprovalIn,
    session: SessionDep,
    operator: OperatorDep,
    runtime: RuntimeDep,
) -> ScopeApproval:
    """Record the approval (again: renewed with the new reason); 422 says why a value cannot be approved."""
    if await get_provider(session=session, provider_id=provider_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    try:
        value = approvable_value(body.kind, body.value, runtime.settings.inventory.scope)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    approved_by = f"{operator.key_id} ({operator.name})" if operator.name else operator.key_id
    approval = await approve_scope(
        session=session,
        provider_id=provider_id,
        kind=body.kind,
        value=value,
        reason=body.reason,
        approved_by=approved_by[:255],
        now=utcnow(),
    )
    await record_audit(
        session,
        operator,
        "approve",
        "scope_approval",
        [f"{body.kind.value}:{value}"],
        body,
        provider_id=provider_id,
    )
    await session.commit()
    log.warning(
        "asset_scope_approved",
        provider_id=provider_id,
        kind=body.kind.value,
        value=value,
        approved_by=approved_by,
        reason=body.reason[:500],
    )
    return approval


@router.get("", responses=PAGED_RESPONSES)
async def list_scope_approvals(
    request: Request,
    response: Response,
    provider_id: ProviderId,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: PageCursor = None,
    limit: LimitQuery = 1000,
) -> list[ScopeApproval]:
    """The provider's approvals, newest first (the provider, its CSIRT and operators may read them)."""
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    after = page_after(cursor, datetime, str, str)
    items = await list_approvals(session=session, provider_id=provider_id, after=after, limit=limit)
    announce_next(
        request, response, next_cursor(items, limit, lambda a: (a.approved_at, a.kind.value, a.value))
    )
    return items
