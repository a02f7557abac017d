"""Assets of providers: idempotent upserts keyed by deterministic ids, soft deletes, keyset pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.asset import Asset, AssetKind
from ewarn.models.common import utcnow
from ewarn.store.db import as_utc, upsert
from ewarn.store.repositories.readable import readable_rows
from ewarn.store.tables import AssetRow
from ewarn.textsafe import repair

# Keeps each IN (...) well under SQLite's and asyncpg's bind-parameter limits.
CHUNK = 500
MAX_PAGE = 1000
_TIMESTAMPS = ("created_at", "updated_at")


class Outcome(StrEnum):
    CREATED = "created"  # new, or registered again after a delete
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SavedAsset:
    asset: Asset
    outcome: Outcome


class AssetPage(BaseModel):
    items: list[Asset]
    next_cursor: str | None = None


def asset_from_row(row: AssetRow) -> Asset:
    """The stored asset; text it should never have held (lone surrogates, NUL) is shown as U+FFFD."""
    asset = Asset.model_validate(repair(row.data))
    asset.created_at = as_utc(row.created_at)
    asset.updated_at = as_utc(row.updated_at)
    return asset


async def save_assets(
    *,
    session: AsyncSession,
    provider_id: str,
    assets: Sequence[Asset],
    merge_not_affected: bool = True,
) -> list[SavedAsset]:
    """Upsert ``assets`` (already validated, ids set) and say for each whether it was new, changed or not.

    ``created_at`` survives updates. With ``merge_not_affected`` the CVEs a VEX marked stay marked when the
    same asset is registered again without them (re-importing an SBOM must not undo a VEX); VEX imports pass
    False to set the list exactly. Rows that did not change are not written, so ``updated_at`` stays put.
    """
    if any(a.provider_id != provider_id for a in assets):
        raise ValueError("every asset must belong to provider_id")
    unique = list({a.id: a for a in assets}.values())
    existing = await _rows_by_id(session, provider_id, [a.id for a in unique])
    now = utcnow()
    saved: list[SavedAsset] = []
    writes: list[dict[str, Any]] = []
    for incoming in unique:
        row = existing.get(incoming.id)
        asset = incoming.model_copy(deep=True)
        if row is not None and merge_not_affected:
            asset.not_affected = sorted(set(asset.not_affected) | set(row.data.get("not_affected") or []))
        if row is not None and not row.deleted and _same(row.data, asset):
            saved.append(SavedAsset(asset_from_row(row), Outcome.UNCHANGED))
            continue
        asset.created_at = as_utc(row.created_at) if row is not None and not row.deleted else now
        asset.updated_at = now
        outcome = Outcome.CREATED if row is None or row.deleted else Outcome.UPDATED
        saved.append(SavedAsset(asset, outcome))
        writes.append(
            {
                "id": asset.id,
                "provider_id": provider_id,
                "kind": asset.kind.value,
                "value": asset.value,
                "data": asset.model_dump(mode="json"),
                "deleted": False,
                "created_at": asset.created_at,
                "updated_at": now,
            }
        )
    for start in range(0, len(writes), CHUNK):
        await upsert(
            session,
            AssetRow,
            writes[start : start + CHUNK],
            conflict=["id"],
            update=["kind", "value", "data", "deleted", "created_at", "updated_at"],
        )
    return saved


async def upsert_assets(*, session: AsyncSession, provider_id: str, assets: Sequence[Asset]) -> list[Asset]:
    """Upsert assets; registering the same natural key again updates the same row."""
    return [s.asset for s in await save_assets(session=session, provider_id=provider_id, assets=assets)]


async def get_asset(*, session: AsyncSession, provider_id: str, asset_id: str) -> Asset | None:
    """One live asset of ``provider_id`` (None when missing, deleted or another tenant's)."""
    row = await session.get(AssetRow, asset_id, populate_existing=True)
    if row is None or row.provider_id != provider_id or row.deleted:
        return None
    readable = readable_assets([row])
    return readable[0] if readable else None  # an unreadable row reads as absent, never as a 500


async def list_assets(
    *,
    session: AsyncSession,
    provider_ids: Collection[str] | None,
    kind: AssetKind | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AssetPage:
    """Live assets of the given providers (None: all), ordered by id; ``cursor`` continues a page."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = select(AssetRow).where(AssetRow.deleted.is_(False)).order_by(AssetRow.id).limit(limit + 1)
    if provider_ids is not None:
        stmt = stmt.where(AssetRow.provider_id.in_(list(provider_ids)))
    if kind is not None:
        stmt = stmt.where(AssetRow.kind == kind.value)
    if cursor is not None:
        stmt = stmt.where(AssetRow.id > decode_cursor(cursor))
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return AssetPage(
        items=readable_assets(rows),
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


def readable_assets(rows: Sequence[AssetRow]) -> list[Asset]:
    """The rows that parse; an unreadable stored row is left out and logged, never a failed list."""
    return readable_rows(rows, asset_from_row, kind="asset")


async def provider_assets(
    *, session: AsyncSession, provider_id: str, kinds: Collection[AssetKind] | None = None
) -> list[Asset]:
    """Every live asset of one provider (optionally of some kinds), ordered by id."""
    stmt = (
        select(AssetRow)
        .where(AssetRow.provider_id == provider_id, AssetRow.deleted.is_(False))
        .order_by(AssetRow.id)
    )
    if kinds is not None:
        stmt = stmt.where(AssetRow.kind.in_([k.value for k in kinds]))
    return readable_assets((await session.scalars(stmt)).all())


async def delete_asset(*, session: AsyncSession, provider_id: str, asset_id: str) -> list[str]:
    """Soft-delete an asset and the components belonging to it; return the removed ids (empty: not found)."""
    return await delete_assets(session=session, provider_id=provider_id, asset_ids=[asset_id])


async def delete_assets(*, session: AsyncSession, provider_id: str, asset_ids: Sequence[str]) -> list[str]:
    """Soft-delete live assets of ``provider_id`` and their components; unknown ids are ignored."""
    live = await provider_assets(session=session, provider_id=provider_id)
    children: dict[str, list[str]] = {}
    for asset in live:
        if asset.parent_id:
            children.setdefault(asset.parent_id, []).append(asset.id)
    live_ids = {a.id for a in live}
    removed: dict[str, None] = {}  # ordered set: each asset, then its components
    pending = [i for i in reversed(asset_ids) if i in live_ids]
    while pending:
        current = pending.pop()
        if current not in removed:
            removed[current] = None
            pending.extend(children.get(current, []))
    ids = list(removed)
    now = utcnow()
    for start in range(0, len(ids), CHUNK):
        rows = await session.scalars(select(AssetRow).where(AssetRow.id.in_(ids[start : start + CHUNK])))
        for row in rows:
            row.deleted = True
            row.updated_at = now
    await session.flush()
    return ids


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The last id of the previous page; ``ValueError`` for a cursor this API did not hand out."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        last_id = raw.decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not last_id.isprintable():
        raise ValueError("invalid cursor")
    return last_id


async def _rows_by_id(session: AsyncSession, provider_id: str, ids: list[str]) -> dict[str, AssetRow]:
    found: dict[str, AssetRow] = {}
    for start in range(0, len(ids), CHUNK):
        stmt = (
            select(AssetRow)
            .where(AssetRow.id.in_(ids[start : start + CHUNK]), AssetRow.provider_id == provider_id)
            .execution_options(populate_existing=True)
        )
        found.update({row.id: row for row in (await session.scalars(stmt)).all()})
    return found


def _same(stored: dict[str, Any], asset: Asset) -> bool:
    # Both sides go through the model, so a field added to Asset since the row was written is no change.
    before = Asset.model_validate(stored).model_dump(mode="json", exclude=set(_TIMESTAMPS))
    return before == asset.model_dump(mode="json", exclude=set(_TIMESTAMPS))
