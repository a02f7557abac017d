"""Migrations are the only schema path: CLI commands on a fresh database leave it where ``db upgrade`` expects.

A CLI command that created the tables without Alembic made the next ``ewarn db upgrade`` and ``ewarn serve``
exit with ``table … already exists``.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from tests.support.postgres_server import temporary_database
from tests.support.processes import child_environment, ewarn_command

from ewarn.store.db import create_engine
from ewarn.store.migrate import alembic_config

BUNDLE = '{"type": "bundle", "id": "bundle--5e0f3c1e-0000-4000-8000-0000000000aa", "objects": []}'


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    async with temporary_database(postgres_url) as url:
        yield url


def _ewarn(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_environment({"EWARN_DATABASE_URL": url})
    return subprocess.run(
        [*ewarn_command(), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    finally:
        await engine.dispose()


async def test_cli_commands_first_then_db_upgrade(database_url: str, tmp_path: Path) -> None:
    bundle = tmp_path / "empty.json"
    bundle.write_text(BUNDLE)
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    for args in (
        ("feeds", "list"),
        ("feeds", "add", "fresh-feed", "--kind", "stix_bundle", "--location", str(bundle), "--disabled"),
        ("db", "upgrade"),
        ("db", "upgrade"),
    ):
        done = _ewarn(database_url, *args)
        assert done.returncode == 0, f"ewarn {' '.join(args)}: {done.stdout}\n{done.stderr}"
        assert await _revision(database_url) == head, f"after ewarn {' '.join(args)}"
