"""Infrastructure equipment on the status page: live assets and open alerts per equipment category."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.asset import AssetKind, EquipmentCategory
from ewarn.store.tables import AlertRow, AssetRow

OPEN_STATUSES = ("new", "acknowledged")


class EquipmentStatus(BaseModel):
    category: str
    assets: int
    open_alerts: int


async def equipment_by_category(*, session: AsyncSession) -> list[EquipmentStatus]:
    """One line per category that has live equipment, in the category enumeration's order.

    Counted in the database (the category read from the stored asset JSON), so a page refreshed every few
    seconds never loads the inventory.
    """
    category = AssetRow.data["category"].as_string()
    live = (AssetRow.kind == AssetKind.INFRASTRUCTURE.value, AssetRow.deleted.is_(False))
    rows = await session.execute(select(category, func.count()).where(*live).group_by(category))
    assets: dict[str | None, int] = {c: n for c, n in rows.all()}
    if not assets:
        return []
    rows = await session.execute(
        select(category, func.count())
        .select_from(AlertRow)
        .join(AssetRow, AssetRow.id == AlertRow.asset_id)
        .where(*live, AlertRow.status.in_(OPEN_STATUSES))
        .group_by(category)
    )
    alerts: dict[str | None, int] = {c: n for c, n in rows.all()}
    return [
        EquipmentStatus(category=c.value, assets=assets[c.value], open_alerts=alerts.get(c.value, 0))
        for c in EquipmentCategory
        if assets.get(c.value)
    ]
