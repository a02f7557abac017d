"""The retention part of the status report: rows pruned in total and by the latest pass, per table."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.retention.prune import retention_totals


class RetentionStatus(BaseModel):
    total: int
    last_run: int
    total_by_table: dict[str, int]
    last_run_by_table: dict[str, int]
    last_run_at: str | None
    last_run_seconds: float | None
    passes: int


async def retention_status(*, session: AsyncSession) -> RetentionStatus | None:
    """None until the first pass (background or ``ewarn prune``) has run against this database."""
    totals = await retention_totals(conn_or_session=session)
    if totals is None:
        return None
    return RetentionStatus(
        total=sum(totals.total.values()),
        last_run=sum(totals.last_run.values()),
        total_by_table=totals.total,
        last_run_by_table=totals.last_run,
        last_run_at=totals.last_run_at.isoformat() if totals.last_run_at else None,
        last_run_seconds=totals.last_run_seconds,
        passes=totals.passes,
    )
