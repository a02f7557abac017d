"""``ewarn aliases`` against real databases (SQLite and PostgreSQL): add, list, resolve, export, import, remove."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ewarn import names
from ewarn.cli import app
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.tables import VendorAliasChangeRow


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("EWARN_DATABASE_URL", database_url)
    monkeypatch.delenv("EWARN_KAFKA__BOOTSTRAP", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    async def migrate() -> None:
        engine = create_engine(database_url)
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(migrate())
    yield database_url
    names.set_operator_aliases(())  # the CLI applies aliases in this process too


def _audit(url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            rows = await session.scalars(select(VendorAliasChangeRow).order_by(VendorAliasChangeRow.id))
            out = [(r.action, r.alias_key, r.actor) for r in rows]
        await engine.dispose()
        return out

    return asyncio.run(read())


def test_add_list_resolve_export_remove_import(database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "aliases",
            "add",
            "Flowtek GmbH",
            "--brand",
            "Flowtek",
            "--group",
            "Welch Allyn",
            "--actor",
            "ops-anna",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "add: Flowtek GmbH" in added.output and "group baxter" in added.output

    listed = runner.invoke(app, ["aliases", "list"])
    assert listed.exit_code == 0, listed.output
    assert "Flowtek GmbH" in listed.output and "ops-anna" in listed.output

    resolved = runner.invoke(app, ["aliases", "resolve", "FLOWTEK", "Nobody Ltd"])
    assert "'FLOWTEK': brand 'flowtek', group 'baxter', known" in resolved.output
    assert "'Nobody Ltd': brand 'nobody', group 'nobody', unknown" in resolved.output

    exported = tmp_path / "aliases.json"
    assert runner.invoke(app, ["aliases", "export", str(exported)]).exit_code == 0
    assert json.loads(exported.read_text()) == {
        "aliases": [{"alias": "Flowtek GmbH", "brand": "Flowtek", "group": "Welch Allyn", "note": ""}]
    }

    removed = runner.invoke(app, ["aliases", "remove", "flowtek"])
    assert removed.exit_code == 0, removed.output
    assert runner.invoke(app, ["aliases", "remove", "flowtek"]).exit_code == 1
    assert names.canonical_vendor("Flowtek").known is False

    imported = runner.invoke(app, ["aliases", "import", str(exported)])
    assert imported.exit_code == 0, imported.output
    assert "added 1, updated 0, unchanged 0" in imported.output
    assert names.canonical_vendor("Flowtek GmbH").group == "baxter"

    actions = [(action, key) for action, key, _ in _audit(database)]
    assert actions == [("add", "flowtek"), ("remove", "flowtek"), ("add", "flowtek")]
    assert _audit(database)[0][2] == "ops-anna" and _audit(database)[1][2].startswith("cli:")


def test_refused_input_stores_nothing(database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "aliases.csv"
    bad.write_text("alias,brand\nAcme,Acme\n")
    result = runner.invoke(app, ["aliases", "import", str(bad)])
    assert result.exit_code == 1
    assert "CSV header lacks group" in result.output
    assert runner.invoke(app, ["aliases", "add", "GmbH", "--brand", "X", "--group", "Y"]).exit_code == 1
    assert _audit(database) == []
