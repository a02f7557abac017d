"""Quarantined records: what a stage set aside alone (kind, key, reason, excerpt) so the rest of its batch flows.

Writing is idempotent per (kind, key): the same record met again (a restart's republish, a redelivered batch)
bumps ``occurrences`` and ``last_seen_at`` instead of adding a row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.store.db import as_utc, insert_for
from ewarn.store.tables import QuarantineRow
from ewarn.textsafe import excerpt, repair_text

MAX_REASON = 2000
MAX_EXCERPT = 1000


@dataclass(frozen=True)
class Quarantined:
    """One record to set aside: ``original`` is its bytes, text or JSON-like data (an excerpt is kept)."""

    kind: str
    key: str
    stage: str
    reason: str
    original: Any = None
    provider_id: str | None = None


class QuarantinedRecord(BaseModel):
    """A quarantined record as the status report shows it."""

    kind: str
    key: str
    stage: str
    provider_id: str | None
    reason: str
    excerpt: str
    occurrences: int
    first_seen_at: str
    last_seen_at: str


async def quarantine(*, session: AsyncSession, records: Sequence[Quarantined], now: datetime) -> None:
    """Store (or count again) each record; the caller commits."""
    for record in records:
        values = {
            "kind": record.kind[:32],
            "key": repair_text(record.key)[:255],
            "stage": record.stage[:32],
            "provider_id": repair_text(record.provider_id)[:64] if record.provider_id else None,
            "reason": excerpt(record.reason, MAX_REASON),
            "excerpt": excerpt(record.original, MAX_EXCERPT) if record.original is not None else "",
            "occurrences": 1,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        stmt: Any = insert_for(session, QuarantineRow).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={
                "occurrences": QuarantineRow.occurrences + 1,
                "last_seen_at": stmt.excluded.last_seen_at,
                "reason": stmt.excluded.reason,
                "excerpt": stmt.excluded.excerpt,
            },
        )
        await session.execute(stmt)


async def quarantined_keys(*, session: AsyncSession, kind: str, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` of ``kind`` are already quarantined."""
    out: set[str] = set()
    wanted = list(keys)
    for start in range(0, len(wanted), 500):
        rows = await session.scalars(
            select(QuarantineRow.key).where(
                QuarantineRow.kind == kind, QuarantineRow.key.in_(wanted[start : start + 500])
            )
        )
        out.update(rows)
    return out


async def quarantine_summary(
    *, session: AsyncSession, latest: int = 10
) -> tuple[int, dict[str, int], list[QuarantinedRecord]]:
    """(records quarantined, count by kind, the ``latest`` most recently seen) for the status report."""
    by_kind = {
        str(kind): int(n)
        for kind, n in (
            await session.execute(select(QuarantineRow.kind, func.count()).group_by(QuarantineRow.kind))
        ).all()
    }
    rows = await session.scalars(
        select(QuarantineRow)
        .order_by(QuarantineRow.last_seen_at.desc(), QuarantineRow.id.desc())
        .limit(latest)
    )
    recent = [
        QuarantinedRecord(
            kind=r.kind,
            key=r.key,
            stage=r.stage,
            provider_id=r.provider_id,
            reason=r.reason,
            excerpt=r.excerpt,
            occurrences=r.occurrences,
            first_seen_at=_iso(r.first_seen_at),
            last_seen_at=_iso(r.last_seen_at),
        )
        for r in rows
    ]
    return sum(by_kind.values()), by_kind, recent


def _iso(value: datetime) -> str:
    stamp = as_utc(value)
    return stamp.isoformat() if stamp is not None else ""
