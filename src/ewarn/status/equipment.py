"""Infrastructure equipment on the status page: live assets and open alerts per equipment category."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.asset import AssetKind, EquipmentCategory
from ewarn.store.tables import AlertRow, AssetRow

OPEN_STATUSES = ("new", "acknowledged")


class EquipmentStatus(BaseModel):
    category: str
    assets: int
    open_alerts: int


async def equipment_by_category(*, session: AsyncSession) -> list[EquipmentStatus]:
    """One line per category that has live equipment, in the category enumeration's order."""
    rows = (
        await session.execute(
            select(AssetRow.id, AssetRow.data).where(
                AssetRow.kind == AssetKind.INFRASTRUCTURE.value, AssetRow.deleted.is_(False)
            )
        )
    ).all()
    category_of = {
        asset_id: str((data or {}).get("category") or EquipmentCategory.OTHER) for asset_id, data in rows
    }
    if not category_of:
        return []
    alerted = (
        await session.scalars(
            select(AlertRow.asset_id)
            .join(AssetRow, AssetRow.id == AlertRow.asset_id)
            .where(AssetRow.kind == AssetKind.INFRASTRUCTURE.value, AlertRow.status.in_(OPEN_STATUSES))
        )
    ).all()
    assets = Counter(category_of.values())
    alerts = Counter(category_of[a] for a in alerted if a in category_of)
    return [
        EquipmentStatus(category=c.value, assets=assets[c.value], open_alerts=alerts[c.value])
        for c in EquipmentCategory
        if assets[c.value]
    ]
