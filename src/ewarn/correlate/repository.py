"""The correlator's reads and writes: live assets, valid indicators, alert revisions and their publish marks.

An alert revision is written with optimistic concurrency (the row must still hold the revision and status that
were read), so a provider's feedback arriving through the API, or a second correlator, is never overwritten. A
new alert is inserted with ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike): when another writer (the
retro-hunt, a second process) created it first, nothing fails; the ids that lost either way are handed back
for the caller to read again and decide afresh.

A revision counts as published once its ``alert_events`` row exists; that row is written only after the bus
acknowledged the publish, which makes ``alert_events`` the outbox mark as well as the per-tenant stream.

Every read parses row by row: a stored row that no longer parses is appended to ``bad`` (to be quarantined by
the worker) and left out, and text a row should never have held (lone surrogates, NUL) is repaired, so one
poisoned row never stops a batch, an indicator or a start-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import String, Text, and_, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models import Alert, AlertStatus, Asset, Indicator
from ewarn.store.db import EncodedJson, insert_for
from ewarn.store.repositories.alerts import alert_from_row
from ewarn.store.repositories.quarantine import Quarantined
from ewarn.store.tables import AlertEventRow, AlertRow, AssetRow, IndicatorRow, QuarantineRow
from ewarn.textsafe import repair

STAGE = "correlate"

CHUNK = 500  # keeps IN (...) lists under SQLite's and asyncpg's bind-parameter limits


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def alert_key(alert_id: str, revision: int) -> str:
    """The quarantine key of one alert revision."""
    return f"{alert_id}@{revision}"


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _asset(asset_id: str, provider_id: str, data: Any, bad: list[Quarantined] | None) -> Asset | None:
    try:
        return Asset.model_validate(repair(data))
    except (ValidationError, ValueError, TypeError) as exc:
        if bad is not None:
            bad.append(
                Quarantined(
                    kind="asset",
                    key=asset_id,
                    stage=STAGE,
                    reason=f"stored asset unreadable, left out of the index: {_why(exc)}",
                    original=data,
                    provider_id=provider_id,
                )
            )
        return None


def _unreadable(row: Any, data: Any, exc: Exception) -> Quarantined:
    """The quarantine record of a stored alert row that does not parse."""
    return Quarantined(
        kind="alert",
        key=alert_key(row.id, row.revision),
        stage=STAGE,
        reason=f"stored alert unreadable: {_why(exc)}",
        original=data,
        provider_id=row.provider_id,
    )


def _alert(row: AlertRow, bad: list[Quarantined] | None) -> Alert | None:
    try:
        return alert_from_row(row)
    except (ValidationError, ValueError, TypeError) as exc:
        if bad is not None:
            bad.append(_unreadable(row, row.data, exc))
        return None


def _indicator(key: str, data: Any, bad: list[Quarantined] | None) -> Indicator | None:
    try:
        return Indicator.model_validate(repair(data))
    except (ValidationError, ValueError, TypeError) as exc:
        if bad is not None:
            bad.append(
                Quarantined(
                    kind="indicator",
                    key=key,
                    stage=STAGE,
                    reason=f"stored indicator unreadable: {_why(exc)}",
                    original=data,
                )
            )
        return None


_ASSET_COLUMNS = (AssetRow.id, AssetRow.provider_id, AssetRow.data)


async def live_assets(
    *, session: AsyncSession, batch: int = 5000, bad: list[Quarantined] | None = None
) -> AsyncIterator[Asset]:
    """Every live asset, streamed provider by provider (a million rows do not fit one fetch comfortably)."""
    stmt = (
        select(*_ASSET_COLUMNS)
        .where(AssetRow.deleted.is_(False))
        .order_by(AssetRow.provider_id, AssetRow.id)
        .execution_options(yield_per=batch)
    )
    async for row in await session.stream(stmt):
        asset = _asset(row.id, row.provider_id, row.data, bad)
        if asset is not None:
            yield asset


async def assets_by_id(
    *, session: AsyncSession, provider_id: str, ids: Sequence[str], bad: list[Quarantined] | None = None
) -> list[Asset]:
    """The live assets among ``ids`` of one provider."""
    out: list[Asset] = []
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(*_ASSET_COLUMNS).where(
                AssetRow.provider_id == provider_id, AssetRow.id.in_(chunk), AssetRow.deleted.is_(False)
            )
        )
        out.extend(a for r in rows if (a := _asset(r.id, r.provider_id, r.data, bad)) is not None)
    return out


async def provider_live_assets(
    *, session: AsyncSession, provider_id: str, bad: list[Quarantined] | None = None
) -> list[Asset]:
    rows = await session.execute(
        select(*_ASSET_COLUMNS).where(AssetRow.provider_id == provider_id, AssetRow.deleted.is_(False))
    )
    return [a for r in rows if (a := _asset(r.id, r.provider_id, r.data, bad)) is not None]


async def valid_indicators(
    *,
    session: AsyncSession,
    types: Collection[str],
    now: datetime,
    batch: int = 1000,
    bad: list[Quarantined] | None = None,
    seen_since: datetime | None = None,
) -> AsyncIterator[list[Indicator]]:
    """Indicators of ``types`` neither revoked nor expired (and stored since ``seen_since``), in batches."""
    stmt = (
        select(IndicatorRow.key, IndicatorRow.data)
        .where(
            IndicatorRow.type.in_(list(types)),
            IndicatorRow.revoked.is_(False),
            or_(IndicatorRow.valid_until.is_(None), IndicatorRow.valid_until > now),
        )
        .execution_options(yield_per=batch)
    )
    if seen_since is not None:
        stmt = stmt.where(IndicatorRow.last_seen >= seen_since)
    result = await session.stream(stmt)
    async for part in result.partitions(batch):
        yield [i for r in part if (i := _indicator(r.key, r.data, bad)) is not None]


# Text ``repair`` would change: NUL or a surrogate, raw or as a JSON escape (a valid pair escaped, as json.dumps
# writes an emoji, also takes the slow path: correct, only slower).
_NEEDS_REPAIR = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\ud800-\udfff\x00]")
_ESCAPE_NEEDS_REPAIR = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _needs_repair(text: str) -> bool:
    if text.isascii():  # a flag of the string, no scan: then only an escape can need repair
        return "\x00" in text or ("\\u" in text and _ESCAPE_NEEDS_REPAIR.search(text) is not None)
    return _NEEDS_REPAIR.search(text) is not None


_STORED_COLUMNS = (
    AlertRow.id,
    AlertRow.revision,
    AlertRow.status,
    AlertRow.provider_id,
    # a cast in SQL: asyncpg hands a JSON column back as a dict even when the column is only coerced to Text
    cast(AlertRow.data, Text).label("text"),
)


def _alert_from_text(row: Any, bad: list[Quarantined] | None) -> Alert | None:
    """The stored alert from its row's JSON text: parsed by pydantic straight from the text when nothing in it
    needs repair (json.loads, repair and validating the dict cost ~5x as much: ~170 against ~30 µs), else as
    ``alert_from_row`` reads it."""
    text = row.text
    if isinstance(text, str) and not _needs_repair(text):
        try:
            alert = Alert.model_validate_json(text)
        except ValueError:  # ValidationError included: the slow path below says why, and quarantines it
            pass
        else:
            alert.status = AlertStatus(row.status)
            return alert
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        data = text
    try:
        return Alert.model_validate(repair(data)).model_copy(update={"status": AlertStatus(row.status)})
    except (ValidationError, ValueError, TypeError) as exc:
        if bad is not None:
            bad.append(_unreadable(row, data, exc))
        return None


async def stored_alerts(
    *, session: AsyncSession, ids: Sequence[str], bad: list[Quarantined] | None = None
) -> dict[str, Alert]:
    """The stored alerts among ``ids``; an unreadable one goes to ``bad`` (its id must not be rewritten)."""
    out: dict[str, Alert] = {}
    for chunk in _chunks(ids):
        for row in await session.execute(select(*_STORED_COLUMNS).where(AlertRow.id.in_(chunk))):
            alert = _alert_from_text(row, bad)
            if alert is not None:
                out[row.id] = alert
    return out


async def open_alerts(
    *,
    session: AsyncSession,
    indicator_key: str | None = None,
    provider_id: str | None = None,
    asset_ids: Sequence[str] | None = None,
    bad: list[Quarantined] | None = None,
    indicator_keys: Sequence[str] | None = None,
) -> list[Alert]:
    """Alerts not yet resolved, for one indicator (or several) or for some assets of one provider."""
    stmt = select(AlertRow).where(AlertRow.status != AlertStatus.RESOLVED.value)
    if indicator_key is not None:
        stmt = stmt.where(AlertRow.indicator_key == indicator_key)
    if indicator_keys is not None:
        out: list[Alert] = []
        for chunk in _chunks(indicator_keys):
            rows = await session.scalars(stmt.where(AlertRow.indicator_key.in_(chunk)))
            out.extend(a for r in rows if (a := _alert(r, bad)) is not None)
        return out
    if provider_id is not None:
        stmt = stmt.where(AlertRow.provider_id == provider_id)
    if asset_ids is None:
        return [a for r in await session.scalars(stmt) if (a := _alert(r, bad)) is not None]
    out = []
    for chunk in _chunks(asset_ids):
        rows = await session.scalars(stmt.where(AlertRow.asset_id.in_(chunk)))
        out.extend(a for r in rows if (a := _alert(r, bad)) is not None)
    return out


def _columns(alert: Alert, encoded: bytes | None = None) -> dict[str, Any]:
    # The message bytes already made go into the row as they are: dumping the alert again and json.dumps in
    # the driver cost ~40 % of the correlate stage's CPU per alert (cProfile, stage bench of 5,000 alerts).
    data: Any = EncodedJson(encoded.decode()) if encoded is not None else alert.model_dump(mode="json")
    return {
        "provider_id": alert.provider_id,
        "indicator_key": alert.indicator_key,
        "asset_id": alert.asset_id,
        "revision": alert.revision,
        "severity": alert.severity.value,
        "score": alert.score,
        "status": alert.status.value,
        "data": data,
        "matched_at": alert.matched_at,
        "created_at": alert.created_at or alert.matched_at,
        "updated_at": alert.updated_at or alert.matched_at,
    }


async def write_revisions(
    *,
    session: AsyncSession,
    revisions: Sequence[tuple[Alert | None, Alert]],
    encoded: Mapping[str, bytes] | None = None,
) -> set[str]:
    """Store each (previously stored, new revision); returns the ids another writer moved first (not written).

    ``encoded``: the message bytes of revisions already serialised (by alert id), stored as they are instead
    of serialising the alert a second time.

    New alerts go in one multi-row INSERT per chunk that skips ids already present; a later revision updates
    its row only if the row still holds the revision and status that were read.
    """
    lost: set[str] = set()
    known = encoded or {}
    fresh = [alert for stored, alert in revisions if stored is None]
    if fresh:
        # executemany with RETURNING: SQLAlchemy batches it into multi-row INSERTs of one cached statement. On
        # the table, not the mapped class: the ORM's bulk path cost more CPU per row than the insert itself.
        table = AlertRow.__table__
        insert: Any = insert_for(session, table)  # the dialect's Insert, which has ON CONFLICT
        stmt = insert.on_conflict_do_nothing(index_elements=["id"])
        result = await session.execute(
            stmt.returning(table.c.id), [{"id": a.id, **_columns(a, known.get(a.id))} for a in fresh]
        )
        written = set(result.scalars())
        lost.update(a.id for a in fresh if a.id not in written)
    for stored, alert in revisions:
        if stored is None:
            continue
        result = await session.execute(
            update(AlertRow)
            .where(
                AlertRow.id == alert.id,
                AlertRow.revision == stored.revision,
                AlertRow.status == stored.status.value,
            )
            .values(**_columns(alert, known.get(alert.id)))
        )
        if getattr(result, "rowcount", 0) != 1:
            lost.add(alert.id)
    return lost


async def published_revisions(*, session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    """Highest published revision per alert id (absent: none published)."""
    out: dict[str, int] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(AlertEventRow.alert_id, func.max(AlertEventRow.revision))
            .where(AlertEventRow.alert_id.in_(chunk))
            .group_by(AlertEventRow.alert_id)
        )
        out.update({alert_id: int(revision) for alert_id, revision in rows})
    return out


async def mark_published(*, session: AsyncSession, alerts: Sequence[Alert], now: datetime) -> None:
    """Record that these revisions reached the alerts topic (idempotent)."""
    if not alerts:
        return
    rows = [
        {"provider_id": a.provider_id, "alert_id": a.id, "revision": a.revision, "created_at": now}
        for a in alerts
    ]
    # executemany (one cached statement) rather than one VALUES list compiled anew for every batch size; on the
    # table, not the mapped class (the ORM's bulk path)
    insert: Any = insert_for(session, AlertEventRow.__table__)
    stmt = insert.on_conflict_do_nothing(index_elements=["alert_id", "revision"])
    await session.execute(stmt, rows)


async def unpublished_alerts(
    *, session: AsyncSession, limit: int = 10_000, bad: list[Quarantined] | None = None
) -> list[Alert]:
    """Alerts whose current revision was stored but never acknowledged by the bus (a crash in between).

    Revisions already quarantined are left out: they would fail again, and must not crowd out the rest.
    """
    event = AlertEventRow.__table__.alias("published")
    held = QuarantineRow.__table__.alias("held")
    key = AlertRow.id.concat("@").concat(cast(AlertRow.revision, String))
    stmt = (
        select(AlertRow)
        .outerjoin(event, and_(event.c.alert_id == AlertRow.id, event.c.revision == AlertRow.revision))
        .outerjoin(held, and_(held.c.kind == "alert", held.c.key == key))
        .where(event.c.alert_id.is_(None), held.c.id.is_(None))
        .limit(limit)
    )
    return [a for r in await session.scalars(stmt) if (a := _alert(r, bad)) is not None]


async def expired_with_open_alerts(
    *, session: AsyncSession, now: datetime, limit: int = 500, bad: list[Quarantined] | None = None
) -> list[Indicator]:
    """Indicators whose validity has ended while some alert they caused is still open."""
    open_keys = select(AlertRow.indicator_key).where(AlertRow.status != AlertStatus.RESOLVED.value)
    stmt = (
        select(IndicatorRow)
        .where(IndicatorRow.valid_until.is_not(None), IndicatorRow.valid_until <= now)
        .where(IndicatorRow.key.in_(open_keys))
        .order_by(IndicatorRow.valid_until)
        .limit(limit)
    )
    rows = await session.scalars(stmt)
    return [i for row in rows if (i := _indicator(row.key, row.data, bad)) is not None]
