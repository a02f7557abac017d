"""Alerts oldest change first, for readers that follow a collection (TAXII): ``added_after`` and key-set pages.

The date an alert revision was added is its ``updated_at``: a new revision (or a status change) moves it to
the end of the feed, so a client asking for what was added after its last visit gets it again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.alert import Alert, Severity
from ewarn.models.common import TLP
from ewarn.store.repositories.alerts import alert_from_row, alert_tlp_in
from ewarn.store.repositories.readable import readable_rows
from ewarn.store.tables import AlertRow


@dataclass(frozen=True)
class FeedScope:
    """Which alerts a reader may follow: providers (None: all), TLPs (None: all), severities (None: all)."""

    provider_ids: Collection[str] | None
    tlps: Collection[TLP] | None = None
    severities: Collection[Severity] | None = None


@dataclass(frozen=True)
class FeedItem:
    alert: Alert
    added: datetime  # the stored ``updated_at``, exactly (the cursor and ``added_after`` compare on it)


async def alerts_added(
    *,
    session: AsyncSession,
    scope: FeedScope,
    added_after: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[FeedItem]:
    """Oldest change first; ``after`` is the (added, id) of the last item of the previous page."""
    stmt = select(AlertRow).order_by(AlertRow.updated_at, AlertRow.id).limit(limit)
    if scope.provider_ids is not None:
        stmt = stmt.where(AlertRow.provider_id.in_(list(scope.provider_ids)))
    if scope.tlps is not None:
        stmt = stmt.where(alert_tlp_in(scope.tlps))
    if scope.severities is not None:
        stmt = stmt.where(AlertRow.severity.in_(sorted(s.value for s in scope.severities)))
    if added_after is not None:
        stmt = stmt.where(AlertRow.updated_at > added_after)
    if after is not None:
        ts, last_id = after
        stmt = stmt.where(
            or_(AlertRow.updated_at > ts, and_(AlertRow.updated_at == ts, AlertRow.id > last_id))
        )
    rows = (await session.scalars(stmt)).all()
    return readable_rows(rows, lambda row: FeedItem(alert_from_row(row), _utc(row.updated_at)), kind="alert")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
