"""``ewarn export alerts``: the operator's export from the shell, every TLP, the filter applied."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
import stix2
from tests.support.read_world import seeded_alerts
from tests.support.served_api import OTHER, OWN
from typer.testing import CliRunner

from ewarn.cli import app
from ewarn.correlate.repository import mark_published, write_revisions
from ewarn.models.common import utcnow
from ewarn.models.provider import Provider
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import upsert_provider

ALERTS = seeded_alerts(own=12, other=3)


def _seed(url: str) -> None:
    async def seed() -> None:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        async with session_factory(engine)() as session:
            for pid in (OWN, OTHER):
                await upsert_provider(session=session, provider=Provider(id=pid, name=pid, country="DE"))
            await write_revisions(session=session, revisions=[(None, a) for a in ALERTS])
            await mark_published(session=session, alerts=ALERTS, now=utcnow())
            await session.commit()
        await engine.dispose()

    asyncio.run(seed())


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("EWARN_DATABASE_URL", url)
    monkeypatch.delenv("EWARN_KAFKA__BOOTSTRAP", raising=False)
    _seed(url)
    return url


def test_csv_export_to_a_file_holds_every_alert_of_the_filter(database: str, tmp_path: Path) -> None:
    out = tmp_path / "alerts.csv"
    result = CliRunner().invoke(
        app, ["export", "alerts", "--format", "csv", "--provider", OWN, "--output", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert sorted(r["id"] for r in rows) == sorted(a.id for a in ALERTS if a.provider_id == OWN)
    assert {r["tlp"] for r in rows} >= {"red", "amber+strict"}, "the operator's shell exports every TLP"


def test_stix_export_to_stdout_parses(database: str) -> None:
    result = CliRunner().invoke(
        app, ["export", "alerts", "--format", "stix", "--min-severity", "high", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    bundle = stix2.parse(result.stdout, allow_custom=False)
    sightings = [o for o in bundle.objects if o.type == "sighting"]
    assert len(sightings) == len([a for a in ALERTS if a.severity.rank >= 3])


def test_unknown_format_is_refused(database: str) -> None:
    result = CliRunner().invoke(app, ["export", "alerts", "--format", "xml"])
    assert result.exit_code == 2
