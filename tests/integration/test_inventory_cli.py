"""``ewarn assets import`` / ``list`` against a real SQLite database file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ewarn.inventory.cli import EXIT_REJECTED, EXIT_ROW_ERRORS, app
from ewarn.models.provider import Provider
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.assets import provider_assets
from ewarn.store.repositories.principals import upsert_provider


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("EWARN_DATABASE_URL", url)
    monkeypatch.delenv("EWARN_KAFKA__BOOTSTRAP", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    async def setup() -> None:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        async with session_factory(engine)() as session:
            await upsert_provider(session=session, provider=Provider(id="hosp-a", name="A", country="DE"))
            await session.commit()
        await engine.dispose()

    asyncio.run(setup())
    return url


def stored_purls(url: str) -> list[str | None]:
    async def read() -> list[str | None]:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            assets = await provider_assets(session=session, provider_id="hosp-a")
        await engine.dispose()
        return [a.purl for a in assets]

    return asyncio.run(read())


def test_import_sbom_then_list(database: str, shared_data: Path) -> None:
    path = shared_data / "cyclonedx" / "VEX__bom.json"
    purls = [c["purl"] for c in json.loads(path.read_text())["components"]]
    runner = CliRunner()

    result = runner.invoke(app, ["import", "hosp-a", str(path), "--format", "cyclonedx"])
    assert result.exit_code == 0, result.output
    assert f"imported {len(purls)}, updated 0, unchanged 0, removed 0, errors 0" in result.output
    assert sorted(p for p in stored_purls(database) if p) == sorted(purls)

    again = runner.invoke(app, ["import", "hosp-a", str(path), "--format", "cyclonedx"])
    assert f"imported 0, updated 0, unchanged {len(purls)}" in again.output

    listed = runner.invoke(app, ["list", "hosp-a", "--kind", "software", "--limit", "2"])
    assert listed.exit_code == 0, listed.output
    assert "more: --cursor" in listed.output


def test_row_errors_and_refusals_set_the_exit_code(database: str, tmp_path: Path) -> None:
    csv = tmp_path / "assets.csv"
    csv.write_text("kind,value\nnetwork,10.0.0.0/16\nnetwork,10.0.0.300\n")
    runner = CliRunner()

    partial = runner.invoke(app, ["import", "hosp-a", str(csv), "--format", "csv"])
    assert partial.exit_code == EXIT_ROW_ERRORS
    assert "imported 1" in partial.output and "10.0.0.300" in partial.output

    unknown = runner.invoke(app, ["import", "no-such", str(csv), "--format", "csv"])
    assert unknown.exit_code == EXIT_REJECTED
    assert "no provider 'no-such'" in unknown.output
