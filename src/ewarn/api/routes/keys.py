"""API keys: created by operators, shown once, stored hashed."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict

from ewarn.api.deps import OperatorDep, PrincipalDep, SessionDep
from ewarn.models.common import ShortText, Slug
from ewarn.models.provider import Principal, Role
from ewarn.store.repositories import principals as repo

router = APIRouter(prefix="/api/v1", tags=["keys"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    provider_id: Slug | None = None
    csirt_id: Slug | None = None
    name: ShortText = ""


class KeyOut(BaseModel):
    principal: Principal
    key: str  # the only time the key is ever shown


@router.post("/keys", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyIn, session: SessionDep, _: OperatorDep) -> KeyOut:
    if body.provider_id and await repo.get_provider(session=session, provider_id=body.provider_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown provider_id")
    if body.csirt_id and body.csirt_id not in {c.id for c in await repo.list_csirts(session=session)}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown csirt_id")
    try:
        principal, key = await repo.create_api_key(
            session=session,
            role=body.role,
            provider_id=body.provider_id,
            csirt_id=body.csirt_id,
            name=body.name,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    await session.commit()
    return KeyOut(principal=principal, key=key)


@router.get("/whoami")
async def whoami(principal: PrincipalDep) -> Principal:
    return principal
