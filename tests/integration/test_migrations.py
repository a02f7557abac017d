"""The Alembic migrations build exactly the schema the tables declare."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from tests.support.postgres_server import temporary_database

from ewarn.store.db import create_engine
from ewarn.store.migrate import alembic_config, upgrade_to_head
from ewarn.store.tables import Base


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrations_match_tables_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await upgrade_to_head(engine)
    await upgrade_to_head(engine)  # idempotent: a second run is a no-op
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    await engine.dispose()
    assert diff == []


async def _migrated_diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_migrations_match_tables_on_postgres(postgres_url: str) -> None:
    async with temporary_database(postgres_url) as url:
        assert await _migrated_diff(url) == []


def _round_trip(sync_conn: Connection, url: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = sync_conn
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_downgrade_to_base_and_upgrade_again(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if dialect == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'round.db'}"
        else:
            url = await stack.enter_async_context(temporary_database(request.getfixturevalue("postgres_url")))
        engine = create_engine(url)
        stack.push_async_callback(engine.dispose)
        await upgrade_to_head(engine)
        async with engine.begin() as conn:
            await conn.run_sync(_round_trip, url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
