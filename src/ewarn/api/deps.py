"""FastAPI dependencies: session, runtime, the calling principal and tenancy checks.

The principal is resolved before the route by ``ewarn.api.limits.guard`` (before the body is read); the
security schemes below only document the two ways to send the key in the OpenAPI description.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.api.limits import PRINCIPAL_SCOPE_KEY, ApiGuard
from ewarn.models.provider import Principal, Role
from ewarn.runtime import Runtime
from ewarn.store.repositories.principals import can_see_provider

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_guard(request: Request) -> ApiGuard:
    guard: ApiGuard = request.app.state.guard
    return guard


GuardDep = Annotated[ApiGuard, Depends(get_guard)]


async def get_session(runtime: RuntimeDep, guard: GuardDep) -> AsyncIterator[AsyncSession]:
    """A session for this request, once a database slot is free (else 503 with Retry-After)."""
    async with guard.db.slot(), runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_principal(
    request: Request,
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _api_key_doc: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The principal the guard authenticated; 401 if none (a route outside ``/api/`` is never guarded)."""
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_operator(principal: PrincipalDep) -> Principal:
    if principal.role is not Role.OPERATOR:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operator role required")
    return principal


OperatorDep = Annotated[Principal, Depends(require_operator)]


async def ensure_provider_visible(*, session: AsyncSession, principal: Principal, provider_id: str) -> None:
    """404 (not 403) for another tenant, so a caller cannot even learn that the tenant exists."""
    if not await can_see_provider(session=session, principal=principal, provider_id=provider_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")


async def ensure_provider_writable(*, session: AsyncSession, principal: Principal, provider_id: str) -> None:
    """Providers write their own tenant, operators any; CSIRTs read their constituency but do not write."""
    await ensure_provider_visible(session=session, principal=principal, provider_id=provider_id)
    if principal.role is Role.CSIRT:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSIRT keys are read-only for provider data")
