"""Providers, CSIRTs, API keys, and who may see which tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.api.auth import hash_api_key, new_api_key
from ewarn.models.common import utcnow
from ewarn.models.provider import Csirt, Principal, Provider, Role
from ewarn.store.db import as_utc, upsert
from ewarn.store.tables import ApiKeyRow, CsirtRow, ProviderRow


def provider_from_row(row: ProviderRow) -> Provider:
    return Provider(
        id=row.id,
        name=row.name,
        country=row.country,
        csirt_id=row.csirt_id,
        contacts=list(row.contacts or []),
        language=row.language,
        created_at=as_utc(row.created_at),
    )


async def upsert_provider(*, session: AsyncSession, provider: Provider) -> Provider:
    now = utcnow()
    await upsert(
        session,
        ProviderRow,
        [
            {
                "id": provider.id,
                "name": provider.name,
                "country": provider.country.upper(),
                "csirt_id": provider.csirt_id,
                "contacts": provider.contacts,
                "language": provider.language,
                "created_at": provider.created_at or now,
            }
        ],
        conflict=["id"],
        update=["name", "country", "csirt_id", "contacts", "language"],
    )
    row = await session.get(ProviderRow, provider.id, populate_existing=True)
    assert row is not None
    return provider_from_row(row)


async def get_provider(*, session: AsyncSession, provider_id: str) -> Provider | None:
    row = await session.get(ProviderRow, provider_id)
    return provider_from_row(row) if row else None


async def list_providers(*, session: AsyncSession, provider_ids: set[str] | None) -> list[Provider]:
    stmt = select(ProviderRow).order_by(ProviderRow.id)
    if provider_ids is not None:
        stmt = stmt.where(ProviderRow.id.in_(provider_ids))
    return [provider_from_row(r) for r in (await session.scalars(stmt)).all()]


async def upsert_csirt(*, session: AsyncSession, csirt: Csirt) -> Csirt:
    await upsert(
        session,
        CsirtRow,
        [{"id": csirt.id, "name": csirt.name, "country": csirt.country.upper()}],
        conflict=["id"],
        update=["name", "country"],
    )
    return csirt


async def list_csirts(*, session: AsyncSession) -> list[Csirt]:
    rows = (await session.scalars(select(CsirtRow).order_by(CsirtRow.id))).all()
    return [Csirt(id=r.id, name=r.name, country=r.country) for r in rows]


async def create_api_key(
    *,
    session: AsyncSession,
    role: Role,
    provider_id: str | None = None,
    csirt_id: str | None = None,
    name: str = "",
    key: str | None = None,
) -> tuple[Principal, str]:
    """Create a key; returns the principal and the full key (shown once). ``key`` pins a known key."""
    if role is Role.PROVIDER and not provider_id:
        raise ValueError("a provider key needs provider_id")
    if role is Role.CSIRT and not csirt_id:
        raise ValueError("a csirt key needs csirt_id")
    key_id, full = new_api_key()
    if key is not None:
        full = key
    session.add(
        ApiKeyRow(
            id=key_id,
            key_hash=hash_api_key(full),
            role=role.value,
            provider_id=provider_id if role is Role.PROVIDER else None,
            csirt_id=csirt_id if role is Role.CSIRT else None,
            name=name,
            revoked=False,
            created_at=utcnow(),
        )
    )
    await session.flush()
    principal = Principal(
        key_id=key_id,
        role=role,
        provider_id=provider_id if role is Role.PROVIDER else None,
        csirt_id=csirt_id if role is Role.CSIRT else None,
        name=name,
    )
    return principal, full


async def principal_for_key(*, session: AsyncSession, key: str) -> Principal | None:
    row = await session.scalar(
        select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_api_key(key), ApiKeyRow.revoked.is_(False))
    )
    if row is None:
        return None
    return Principal(
        key_id=row.id, role=Role(row.role), provider_id=row.provider_id, csirt_id=row.csirt_id, name=row.name
    )


async def visible_provider_ids(*, session: AsyncSession, principal: Principal) -> set[str] | None:
    """The tenants a principal may see; None means all (operator)."""
    if principal.role is Role.OPERATOR:
        return None
    if principal.role is Role.PROVIDER:
        return {principal.provider_id} if principal.provider_id else set()
    rows = await session.scalars(select(ProviderRow.id).where(ProviderRow.csirt_id == principal.csirt_id))
    return set(rows.all())


async def can_see_provider(*, session: AsyncSession, principal: Principal, provider_id: str) -> bool:
    visible = await visible_provider_ids(session=session, principal=principal)
    return visible is None or provider_id in visible
