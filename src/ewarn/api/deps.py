"""FastAPI dependencies: session, runtime, the calling principal and tenancy checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.provider import Principal, Role
from ewarn.runtime import Runtime
from ewarn.store.repositories.principals import can_see_provider, principal_for_key

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_principal(
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    key = bearer.credentials if bearer is not None else api_key
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing API key", headers={"WWW-Authenticate": "Bearer"}
        )
    principal = await principal_for_key(session=session, key=key)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "Bearer"}
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
