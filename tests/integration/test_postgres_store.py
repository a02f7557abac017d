"""The store on a real PostgreSQL, and upserts behaving the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ewarn.store.db import SessionFactory, as_utc, create_schema, upsert
from ewarn.store.tables import Base, CsirtRow, IndicatorRow

SEEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _indicator(key: str, *, confidence: int, seen: datetime) -> dict[str, object]:
    return {
        "key": key,
        "type": key.split(":", 1)[0],
        "data": {"key": key, "confidence": confidence, "labels": ["ransomware", "c2"]},
        "tlp": "amber",
        "revoked": False,
        "valid_until": None,
        "first_seen": seen,
        "last_seen": seen,
    }


async def _table_names(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_create_schema_on_postgres_creates_every_table(pg_sessions: SessionFactory) -> None:
    async with pg_sessions() as session:
        conn = await session.connection()
        assert conn.dialect.name == "postgresql"
        assert await _table_names(conn) == set(Base.metadata.tables)


async def test_create_schema_twice_is_harmless(pg_sessions: SessionFactory) -> None:
    engine = pg_sessions.kw["bind"]
    await create_schema(engine)
    async with pg_sessions() as session:
        assert await _table_names(await session.connection()) == set(Base.metadata.tables)


async def test_each_test_gets_a_fresh_database(pg_sessions: SessionFactory) -> None:
    async with pg_sessions() as session:
        name = (await session.execute(text("select current_database()"))).scalar_one()
        count = (await session.execute(select(func.count()).select_from(IndicatorRow))).scalar_one()
    assert name.startswith("t_") and count == 0


async def _count(sessions: SessionFactory, table: type[Base]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_upsert_without_update_keeps_the_first_row(sessions: SessionFactory) -> None:
    for confidence in (50, 90):
        rows = [
            _indicator(key, confidence=confidence, seen=SEEN)
            for key in ("ipv4:203.0.113.7", "cve:CVE-2024-1")
        ]
        async with sessions.begin() as session:
            await upsert(session, IndicatorRow.__table__, rows, conflict=["key"])

    assert await _count(sessions, IndicatorRow) == 2
    async with sessions() as session:
        stored = await session.get(IndicatorRow, "ipv4:203.0.113.7")
    assert stored is not None and stored.data["confidence"] == 50


async def test_upsert_with_update_overwrites_named_columns_only(sessions: SessionFactory) -> None:
    later = SEEN + timedelta(hours=3)
    first = _indicator("domain:evil.example", confidence=40, seen=SEEN)
    second = {**_indicator("domain:evil.example", confidence=80, seen=later), "first_seen": later}
    for row in (first, second, second):
        async with sessions.begin() as session:
            await upsert(
                session, IndicatorRow.__table__, [row], conflict=["key"], update=["data", "last_seen"]
            )

    assert await _count(sessions, IndicatorRow) == 1
    async with sessions() as session:
        stored = await session.get(IndicatorRow, "domain:evil.example")
    assert stored is not None
    assert stored.data == {"key": "domain:evil.example", "confidence": 80, "labels": ["ransomware", "c2"]}
    assert as_utc(stored.last_seen) == later
    assert as_utc(stored.first_seen) == SEEN


@pytest.mark.parametrize("batch", [1, 250], ids=["one-row", "many-rows"])
async def test_upsert_is_idempotent_for_repeated_batches(sessions: SessionFactory, batch: int) -> None:
    rows = [{"id": f"csirt-{i}", "name": f"CSIRT {i}", "country": "DE"} for i in range(batch)]
    for _ in range(3):
        async with sessions.begin() as session:
            await upsert(session, CsirtRow.__table__, rows, conflict=["id"], update=["name"])
    assert await _count(sessions, CsirtRow) == batch
