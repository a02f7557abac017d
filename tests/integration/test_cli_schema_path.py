"""Migrations are the only schema path: CLI commands on a fresh database leave it where ``db upgrade`` and
``ewarn serve`` expect it.

A CLI command that created the tables without Alembic made the next ``ewarn db upgrade`` and ``ewarn serve``
exit with ``table … already exists``.

The first command (on the fresh database), the last ``db upgrade`` and ``ewarn serve`` run as ``ewarn``
processes, as an operator runs them; the commands between run in this process (the same typer app and code,
each with its own engine and event loop), which spared about 2.7 CPU-seconds of start-up per command.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from tests.support.netutil import LOOPBACK, free_port
from tests.support.postgres_server import temporary_database
from tests.support.processes import child_environment, ewarn_command
from typer.testing import CliRunner

from ewarn.cli import app
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


def _ewarn(url: str, *args: str) -> tuple[int, str]:
    """An ``ewarn`` process: its exit code and output."""
    env = child_environment({"EWARN_DATABASE_URL": url})
    done = subprocess.run(
        [*ewarn_command(), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, f"{done.stdout}\n{done.stderr}"


async def _ewarn_here(url: str, *args: str) -> tuple[int, str]:
    """The same command in this process (in a thread: the command runs its own event loop)."""
    # As child_environment does for a process: none of the runner's EWARN_* settings but the secrets keys.
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EWARN_")}
    env.pop("EWARN_SECRETS__KEYS", None)
    env["EWARN_DATABASE_URL"] = url
    done = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return done.exit_code, done.output


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
    commands = [
        ("feeds", "list"),
        ("feeds", "add", "fresh-feed", "--kind", "stix_bundle", "--location", str(bundle), "--disabled"),
        ("providers", "list"),
        ("providers", "add", "--id", "hosp-a", "--name", "Hospital A", "--country", "DE"),
        ("assets", "list", "hosp-a"),
        ("subscriptions", "list"),
        ("keys", "list"),
        ("aliases", "list"),
        ("prune",),
        ("secrets", "rotate"),
        ("db", "upgrade"),
        ("db", "upgrade"),
    ]
    last = len(commands) - 1
    for number, args in enumerate(commands):
        as_process = number in (0, last)
        code, output = _ewarn(database_url, *args) if as_process else await _ewarn_here(database_url, *args)
        assert code == 0, f"ewarn {' '.join(args)}: {output}"
        assert await _revision(database_url) == head, f"after ewarn {' '.join(args)}"
    await _serve_starts_and_stops(database_url, tmp_path)


async def _serve_starts_and_stops(url: str, tmp_path: Path) -> None:
    """``ewarn serve`` on the database the commands above left: healthy, then exit 0 on SIGTERM."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = child_environment({"EWARN_DATABASE_URL": url, "EWARN_API_PORT": str(port)})
    with log.open("wb") as out:
        proc = subprocess.Popen([*ewarn_command(), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as client:
            for _ in range(300):
                assert proc.poll() is None, (
                    f"ewarn serve exited {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"ewarn serve never became healthy:\n{log.read_text()[-3000:]}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
