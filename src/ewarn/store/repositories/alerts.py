"""Reading alerts and recording provider feedback on them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.alert import Alert, AlertStatus, Severity
from ewarn.models.common import TLP, utcnow
from ewarn.store.repositories.readable import readable_rows
from ewarn.store.tables import AlertRow
from ewarn.textsafe import repair


def alert_from_row(row: AlertRow) -> Alert:
    """The stored alert; text it should never have held (lone surrogates, NUL) is shown as U+FFFD."""
    alert = Alert.model_validate(repair(row.data))
    return alert.model_copy(update={"status": AlertStatus(row.status)})


def _readable(rows: Sequence[AlertRow]) -> list[Alert]:
    """The rows that parse; an unreadable stored row is left out and logged, never a failed list."""
    return readable_rows(rows, alert_from_row, kind="alert")


async def list_alerts(
    *,
    session: AsyncSession,
    provider_ids: set[str] | None,
    min_severity: Severity | None = None,
    status: AlertStatus | None = None,
    indicator_key: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
    tlps: Collection[TLP] | None = None,
) -> list[Alert]:
    """Newest first; ``after`` is the (updated_at, id) of the last alert of the previous page.

    ``tlps``: only alerts marked with one of these (None: any), see ``ewarn.models.tlp_access``.
    """
    stmt = select(AlertRow).order_by(AlertRow.updated_at.desc(), AlertRow.id.desc()).limit(limit)
    if provider_ids is not None:
        stmt = stmt.where(AlertRow.provider_id.in_(provider_ids))
    if min_severity is not None:
        stmt = stmt.where(AlertRow.severity.in_([s.value for s in Severity if s.rank >= min_severity.rank]))
    if status is not None:
        stmt = stmt.where(AlertRow.status == status.value)
    if indicator_key is not None:
        stmt = stmt.where(AlertRow.indicator_key == indicator_key)
    if after is not None:
        ts, last_id = after
        stmt = stmt.where(
            or_(AlertRow.updated_at < ts, and_(AlertRow.updated_at == ts, AlertRow.id < last_id))
        )
    if tlps is not None:
        stmt = stmt.where(alert_tlp_in(tlps))
    return _readable((await session.scalars(stmt)).all())


def alert_tlp_in(tlps: Collection[TLP]) -> ColumnElement[bool]:
    """SQL: the stored alert's TLP is one of ``tlps`` (no TLP column: read from the JSON on both databases)."""
    tlp: ColumnElement[str] = AlertRow.data["tlp"].as_string()
    return tlp.in_(sorted(t.value for t in tlps))


async def get_alert(*, session: AsyncSession, alert_id: str) -> Alert | None:
    row = await session.get(AlertRow, alert_id)
    readable = _readable([row]) if row else []
    return readable[0] if readable else None  # an unreadable row reads as absent, never as a 500


async def set_alert_status(*, session: AsyncSession, alert_id: str, status: AlertStatus) -> Alert | None:
    """Provider feedback; the correlator keeps it across later revisions."""
    row = await session.get(AlertRow, alert_id, with_for_update=True)
    if row is None:
        return None
    row.status = status.value
    row.data = {**row.data, "status": status.value}
    row.updated_at = utcnow()
    await session.flush()
    return alert_from_row(row)
