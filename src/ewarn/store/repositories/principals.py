"""Providers, CSIRTs, API keys, and who may see which tenant."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.apikeys import hash_api_key, new_api_key
from ewarn.models.apikey import ApiKeyInfo, KeyState
from ewarn.models.common import utcnow
from ewarn.models.provider import Csirt, Principal, Provider, Role
from ewarn.store.db import as_utc, upsert
from ewarn.store.keyset import after_key
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


async def list_providers(
    *,
    session: AsyncSession,
    provider_ids: set[str] | None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Provider]:
    """By id; ``after``: the last id of the previous page."""
    stmt = select(ProviderRow).order_by(ProviderRow.id).limit(limit)
    if provider_ids is not None:
        stmt = stmt.where(ProviderRow.id.in_(provider_ids))
    if after is not None:
        stmt = stmt.where(ProviderRow.id > after)
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


async def list_csirts(
    *, session: AsyncSession, after: str | None = None, limit: int | None = None
) -> list[Csirt]:
    """By id; ``after``: the last id of the previous page."""
    stmt = select(CsirtRow).order_by(CsirtRow.id).limit(limit)
    if after is not None:
        stmt = stmt.where(CsirtRow.id > after)
    rows = (await session.scalars(stmt)).all()
    return [Csirt(id=r.id, name=r.name, country=r.country) for r in rows]


async def create_api_key(
    *,
    session: AsyncSession,
    role: Role,
    provider_id: str | None = None,
    csirt_id: str | None = None,
    name: str = "",
    key: str | None = None,
    expires_at: datetime | None = None,
    rotated_from: str | None = None,
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
            expires_at=expires_at,
            rotated_from=rotated_from,
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
    """The principal of an active key (not revoked, not expired), read from the database every time."""
    row = await _active_row(session=session, key=key, now=utcnow())
    return _principal(row) if row is not None else None


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


# --- key lifecycle ------------------------------------------------------------------------------------------

LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often per key


def _principal(row: ApiKeyRow) -> Principal:
    return Principal(
        key_id=row.id, role=Role(row.role), provider_id=row.provider_id, csirt_id=row.csirt_id, name=row.name
    )


def _active_clause(now: datetime) -> ColumnElement[bool]:
    return ApiKeyRow.revoked.is_(False) & or_(ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > now)


async def _active_row(*, session: AsyncSession, key: str, now: datetime) -> ApiKeyRow | None:
    return await session.scalar(
        select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_api_key(key), _active_clause(now))
    )


async def authenticate_key(
    *, session: AsyncSession, key: str, now: datetime | None = None
) -> Principal | None:
    """The principal of an active key, noting its use when the stored last use is over a minute old.

    No cache: every request reads the key's row, so a revocation or an expiry holds at once in every process.
    The conditional update makes concurrent processes write last_used_at at most about once a minute per key;
    the caller commits.
    """
    now = now or utcnow()
    row = await _active_row(session=session, key=key, now=now)
    if row is None:
        return None
    last_used = as_utc(row.last_used_at)
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        await session.execute(
            update(ApiKeyRow)
            .where(
                ApiKeyRow.id == row.id,
                or_(ApiKeyRow.last_used_at.is_(None), ApiKeyRow.last_used_at <= now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return _principal(row)


def key_state(row: ApiKeyRow, now: datetime) -> KeyState:
    if row.revoked:
        return KeyState.REVOKED
    expires = as_utc(row.expires_at)
    return KeyState.EXPIRED if expires is not None and expires <= now else KeyState.ACTIVE


def key_info(row: ApiKeyRow, now: datetime | None = None) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        role=Role(row.role),
        provider_id=row.provider_id,
        csirt_id=row.csirt_id,
        name=row.name,
        state=key_state(row, now or utcnow()),
        created_at=as_utc(row.created_at) or row.created_at,
        expires_at=as_utc(row.expires_at),
        last_used_at=as_utc(row.last_used_at),
        revoked_at=as_utc(row.revoked_at),
        revoked_by=row.revoked_by,
        rotated_from=row.rotated_from,
    )


async def _visible_key_clause(*, session: AsyncSession, principal: Principal) -> ColumnElement[bool] | None:
    """Keys a principal may see: all (operator, None), its tenant's (provider), its own and its constituency's
    (CSIRT)."""
    if principal.role is Role.OPERATOR:
        return None
    if principal.role is Role.PROVIDER:
        return ApiKeyRow.provider_id == (principal.provider_id or "")
    providers = await visible_provider_ids(session=session, principal=principal) or set()
    return (ApiKeyRow.csirt_id == (principal.csirt_id or "")) | ApiKeyRow.provider_id.in_(providers)


async def list_api_keys(
    *,
    session: AsyncSession,
    principal: Principal,
    include_inactive: bool = False,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[ApiKeyInfo]:
    """Oldest first; ``after``: (created_at, id) of the previous page's last key."""
    now = utcnow()
    stmt = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id).limit(limit)
    if after is not None:
        stmt = stmt.where(after_key([(ApiKeyRow.created_at, False), (ApiKeyRow.id, False)], after))
    visible = await _visible_key_clause(session=session, principal=principal)
    if visible is not None:
        stmt = stmt.where(visible)
    if not include_inactive:
        stmt = stmt.where(_active_clause(now))
    return [key_info(row, now) for row in (await session.scalars(stmt)).all()]


async def get_api_key(*, session: AsyncSession, principal: Principal, key_id: str) -> ApiKeyRow | None:
    """The key row if ``principal`` may see it (None otherwise: another tenant's key does not exist)."""
    stmt = select(ApiKeyRow).where(ApiKeyRow.id == key_id)
    visible = await _visible_key_clause(session=session, principal=principal)
    if visible is not None:
        stmt = stmt.where(visible)
    row: ApiKeyRow | None = await session.scalar(stmt)
    return row


async def revoke_api_key(*, session: AsyncSession, row: ApiKeyRow, by: str) -> ApiKeyInfo:
    """Revoke at once (idempotent: a revoked key keeps its first revocation's time and author)."""
    if not row.revoked:
        row.revoked = True
        row.revoked_at = utcnow()
        row.revoked_by = by
        await session.flush()
    return key_info(row)


async def rotate_api_key(
    *,
    session: AsyncSession,
    row: ApiKeyRow,
    by: str,
    expires_at: datetime | None = None,
    grace: timedelta = timedelta(0),
    key: str | None = None,
) -> tuple[ApiKeyInfo, str]:
    """A new key for the same role, tenant and name; the old one is revoked now, or expires after ``grace``.

    Returns the new key's info and its full secret (shown once).
    """
    if row.revoked:
        raise ValueError("a revoked key cannot be rotated; create a new key instead")
    now = utcnow()
    if grace > timedelta(0):
        ends = now + grace
        old_expiry = as_utc(row.expires_at)
        row.expires_at = ends if old_expiry is None else min(old_expiry, ends)
    else:
        row.revoked, row.revoked_at, row.revoked_by = True, now, by
    principal, full = await create_api_key(
        session=session,
        role=Role(row.role),
        provider_id=row.provider_id,
        csirt_id=row.csirt_id,
        name=row.name,
        key=key,
        expires_at=expires_at,
        rotated_from=row.id,
    )
    new_row = await session.get(ApiKeyRow, principal.key_id)
    assert new_row is not None
    return key_info(new_row, now), full


async def active_operator_exists(*, session: AsyncSession) -> bool:
    found = await session.scalar(
        select(ApiKeyRow.id).where(ApiKeyRow.role == Role.OPERATOR.value, _active_clause(utcnow())).limit(1)
    )
    return found is not None


BOOTSTRAP_NAME = "bootstrap"


async def rotate_bootstrap_key(*, session: AsyncSession, key: str, by: str) -> ApiKeyInfo:
    """Revoke every active bootstrap operator key and store ``key`` as the new one (the caller commits)."""
    now = utcnow()
    old = (
        await session.scalars(
            select(ApiKeyRow).where(
                ApiKeyRow.role == Role.OPERATOR.value, ApiKeyRow.name == BOOTSTRAP_NAME, _active_clause(now)
            )
        )
    ).all()
    if await session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.key_hash == hash_api_key(key))) is not None:
        raise ValueError("this key is (or was) already an API key; choose a new one")
    for row in old:
        row.revoked, row.revoked_at, row.revoked_by = True, now, by
    await session.flush()
    principal, _ = await create_api_key(
        session=session,
        role=Role.OPERATOR,
        name=BOOTSTRAP_NAME,
        key=key,
        rotated_from=old[-1].id if old else None,
    )
    new_row = await session.get(ApiKeyRow, principal.key_id)
    assert new_row is not None
    return key_info(new_row, now)


async def ensure_bootstrap_operator(*, session: AsyncSession, key: str) -> str:
    """Store the configured bootstrap key only while no active operator key exists (the caller commits).

    Returns what happened: ``created``; ``present`` (this key is already an active key); ``skipped`` (another
    operator key exists: the configured key is not added; ``ewarn keys rotate-bootstrap`` replaces it).
    """
    if await _active_row(session=session, key=key, now=utcnow()) is not None:
        return "present"
    if await active_operator_exists(session=session):
        return "skipped"
    await create_api_key(session=session, role=Role.OPERATOR, name=BOOTSTRAP_NAME, key=key)
    return "created"


async def commit_key_use(session: AsyncSession) -> None:
    """Commit the last-use note of ``authenticate_key``; a busy database only loses the note, not the call."""
    try:
        await session.commit()
    except OperationalError:
        await session.rollback()
