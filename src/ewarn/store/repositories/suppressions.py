"""Suppression rules: stored, listed (with their hit counts), expiring, soft-deleted for the audit trail."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.workflow import SuppressionRule, SuppressionRuleIn
from ewarn.store.db import as_utc
from ewarn.store.tables import SuppressionRuleRow


def rule_from_row(row: SuppressionRuleRow, *, now: datetime) -> SuppressionRule:
    expires = as_utc(row.expires_at)
    return SuppressionRule(
        id=row.id,
        provider_id=row.provider_id,
        asset_id=row.asset_id,
        indicator_key=row.indicator_key,
        vendor=row.vendor,
        product=row.product,
        version=row.version,
        cve=row.cve,
        reason=row.reason,
        expires_at=expires,
        created_by=row.created_by,
        created_at=as_utc(row.created_at) or now,
        source_alert_id=row.source_alert_id,
        hits=row.hits,
        last_hit_at=as_utc(row.last_hit_at),
        active=expires is None or expires > now,
    )


async def create_rule(
    *,
    session: AsyncSession,
    rule: SuppressionRuleIn,
    created_by: str,
    now: datetime,
    source_alert_id: str | None = None,
) -> SuppressionRule:
    row = SuppressionRuleRow(
        id=f"sup_{secrets.token_hex(12)}",
        provider_id=rule.provider_id,
        asset_id=rule.asset_id,
        indicator_key=rule.indicator_key,
        vendor=rule.vendor,
        product=rule.product,
        version=rule.version,
        cve=rule.cve.upper() if rule.cve else None,
        reason=rule.reason,
        created_by=created_by[:255],
        created_at=now,
        expires_at=rule.expires_at,
        source_alert_id=source_alert_id,
        hits=0,
        last_hit_at=None,
        deleted_at=None,
    )
    session.add(row)
    await session.flush()
    return rule_from_row(row, now=now)


async def rule_row(*, session: AsyncSession, rule_id: str) -> SuppressionRuleRow | None:
    row = await session.get(SuppressionRuleRow, rule_id, populate_existing=True)
    return row if row is not None and row.deleted_at is None else None


async def list_rules(
    *,
    session: AsyncSession,
    provider_ids: Collection[str] | None,
    now: datetime,
    include_expired: bool,
    after: str | None = None,
    limit: int = 100,
) -> list[SuppressionRule]:
    """Rules of these providers (None: all), by id; ``after`` is the last id of the previous page."""
    stmt = (
        select(SuppressionRuleRow)
        .where(SuppressionRuleRow.deleted_at.is_(None))
        .order_by(SuppressionRuleRow.id)
        .limit(limit)
    )
    if provider_ids is not None:
        stmt = stmt.where(SuppressionRuleRow.provider_id.in_(sorted(provider_ids)))
    if not include_expired:
        stmt = stmt.where(or_(SuppressionRuleRow.expires_at.is_(None), SuppressionRuleRow.expires_at > now))
    if after is not None:
        stmt = stmt.where(SuppressionRuleRow.id > after)
    return [rule_from_row(r, now=now) for r in await session.scalars(stmt)]


async def active_rules(
    *, session: AsyncSession, provider_ids: Collection[str], now: datetime
) -> list[SuppressionRule]:
    """Every rule in force for these providers (what the correlator applies; no page limit)."""
    if not provider_ids:
        return []
    stmt = select(SuppressionRuleRow).where(
        SuppressionRuleRow.deleted_at.is_(None),
        SuppressionRuleRow.provider_id.in_(sorted(provider_ids)),
        or_(SuppressionRuleRow.expires_at.is_(None), SuppressionRuleRow.expires_at > now),
    )
    return [rule_from_row(r, now=now) for r in await session.scalars(stmt)]


async def add_hits(*, session: AsyncSession, hits: Mapping[str, int], now: datetime) -> None:
    """Count suppressed matches on their rules."""
    for rule_id, count in sorted(hits.items()):
        await session.execute(
            update(SuppressionRuleRow)
            .where(SuppressionRuleRow.id == rule_id)
            .values(hits=SuppressionRuleRow.hits + count, last_hit_at=now)
        )
