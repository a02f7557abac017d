"""Rejections in the database: what a feed sent that was refused, and why (keyword-only, session first)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.ids import stable_id
from ewarn.models.common import storable_text
from ewarn.models.indicator import Rejection
from ewarn.store.db import as_utc, upsert
from ewarn.store.keyset import after_key
from ewarn.store.tables import RejectionRow

_CHUNK = 500


def rejection_id(rejection: Rejection) -> str:
    return stable_id("rej", rejection.feed_id, rejection.record, rejection.reason)


def _storable(rejection: Rejection) -> Rejection:
    """What was refused may hold NUL or lone surrogates, which PostgreSQL and JSON responses cannot carry."""
    excerpt = rejection.excerpt
    return rejection.model_copy(
        update={
            "record": storable_text(rejection.record),
            "reason": storable_text(rejection.reason),
            "excerpt": storable_text(excerpt) if excerpt is not None else None,
        }
    )


async def store_rejections(*, session: AsyncSession, rejections: Sequence[Rejection], now: datetime) -> None:
    """Insert rejections once each: the id is a hash of (feed, record, reason), so replays add nothing."""
    rows = {
        rejection_id(r): {
            "id": rejection_id(r),
            "feed_id": r.feed_id,
            "feed_kind": r.feed_kind,
            "record": r.record,
            "reason": r.reason,
            "excerpt": r.excerpt,
            "rejected_at": r.rejected_at or now,
        }
        for r in map(_storable, rejections)
    }
    items = list(rows.values())
    for start in range(0, len(items), _CHUNK):
        await upsert(session, RejectionRow, items[start : start + _CHUNK], conflict=["id"])


async def list_rejections(
    *, session: AsyncSession, feed_id: str, limit: int = 100, offset: int = 0
) -> list[Rejection]:
    stmt = (
        select(RejectionRow)
        .where(RejectionRow.feed_id == feed_id)
        .order_by(RejectionRow.rejected_at.desc(), RejectionRow.id)
        .limit(limit)
        .offset(offset)
    )
    return [_rejection(row) for row in (await session.scalars(stmt)).all()]


async def rejection_page(
    *, session: AsyncSession, feed_id: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[Rejection], tuple[datetime, str] | None]:
    """Newest first after the (rejected_at, id) key of the previous page; also the key of this page's last."""
    stmt = (
        select(RejectionRow)
        .where(RejectionRow.feed_id == feed_id)
        .order_by(RejectionRow.rejected_at.desc(), RejectionRow.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(after_key([(RejectionRow.rejected_at, True), (RejectionRow.id, False)], after))
    rows = (await session.scalars(stmt)).all()
    items = [_rejection(row) for row in rows]
    last = rows[-1] if rows else None
    return items, ((as_utc(last.rejected_at) or last.rejected_at, last.id) if last else None)


def _rejection(row: RejectionRow) -> Rejection:
    return Rejection(
        feed_id=row.feed_id,
        feed_kind=row.feed_kind,
        record=row.record,
        reason=row.reason,
        excerpt=row.excerpt,
        rejected_at=as_utc(row.rejected_at),
    )


async def count_rejections(*, session: AsyncSession, feed_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(RejectionRow)
    if feed_id is not None:
        stmt = stmt.where(RejectionRow.feed_id == feed_id)
    return int(await session.scalar(stmt) or 0)
