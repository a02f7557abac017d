"""``ewarn feeds poll``: progress on stderr (JSON lines when stderr is not a terminal, none with --quiet),
the report on stdout, and an audit row with the counts; ``--from-start`` backfills the whole feed again."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner

from ewarn.cli import app
from ewarn.store.db import create_engine, session_factory
from ewarn.store.tables import AuditLogRow, FeedRow

INDICATORS = 3


def _bundle() -> dict[str, Any]:
    return {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-00000000b001",
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--00000000-0000-4000-8000-00000000c00{n}",
                "created": "2026-11-01T00:00:00Z",
                "modified": "2026-11-01T00:00:00Z",
                "pattern": f"[ipv4-addr:value = '198.51.100.{n + 10}']",
                "pattern_type": "stix",
                "valid_from": "2026-11-01T00:00:00Z",
            }
            for n in range(INDICATORS)
        ],
    }


class Runner(CliRunner):
    """A CLI runner that leaves no logging bound to its closed streams for the next command or test."""

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        self._unbind()
        try:
            return super().invoke(*args, **kwargs)
        finally:
            self._unbind()

    @staticmethod
    def _unbind() -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
                root.removeHandler(handler)
        structlog.reset_defaults()


@pytest.fixture
def feed_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ewarn.db'}"
    monkeypatch.setenv("EWARN_DATABASE_URL", url)
    monkeypatch.setenv("EWARN_INGEST__FILE_ROOT", str(tmp_path))
    monkeypatch.delenv("EWARN_KAFKA__BOOTSTRAP", raising=False)
    (tmp_path / "bundle.json").write_text(json.dumps(_bundle()))
    added = Runner().invoke(
        app, ["feeds", "add", "local", "--kind", "stix_bundle", "--location", str(tmp_path / "bundle.json")]
    )
    assert added.exit_code == 0, added.output
    yield url


def _read(url: str) -> tuple[list[AuditLogRow], FeedRow | None]:
    async def read() -> tuple[list[AuditLogRow], FeedRow | None]:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            rows = list((await session.scalars(select(AuditLogRow).order_by(AuditLogRow.id))).all())
            feed = await session.get(FeedRow, "local")
        await engine.dispose()
        return rows, feed

    return asyncio.run(read())


def _progress_lines(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for text in stderr.splitlines():
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and "progress" in parsed:
            lines.append(parsed)
    return lines


def test_poll_shows_progress_and_is_audited(feed_db: str) -> None:
    result = Runner().invoke(app, ["feeds", "poll", "local"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert (report["accepted"], report["error"]) == (INDICATORS, None)
    lines = _progress_lines(result.stderr)
    assert (lines[0]["state"], lines[-1]["state"]) == ("started", "finished")
    assert {line["progress"] for line in lines} == {"poll local"}
    assert (lines[-1]["done"], lines[-1]["unit"], lines[-1]["accepted"]) == (
        report["pages"],
        "pages",
        INDICATORS,
    )
    assert "progress" not in result.stdout, "standard output holds the report only"

    rows, _ = _read(feed_db)
    poll = rows[-1]
    assert (poll.actor, poll.action, poll.resource, poll.target_ids) == (
        f"cli:{getpass.getuser()}",
        "poll",
        "feed",
        ["local"],
    )
    assert (poll.summary["accepted"], poll.summary["rejected"], poll.summary["from_start"]) == (
        INDICATORS,
        0,
        False,
    )


def test_backfill_quietly_reads_the_whole_feed_again(feed_db: str) -> None:
    first = Runner().invoke(app, ["feeds", "poll", "local", "--quiet"])
    assert first.exit_code == 0, first.output
    assert _progress_lines(first.stderr) == [], "--quiet prints no progress"
    _, feed = _read(feed_db)
    assert feed is not None and feed.accepted_total == INDICATORS

    again = Runner().invoke(app, ["feeds", "poll", "local", "--from-start", "-q"])
    assert again.exit_code == 0, again.output
    assert _progress_lines(again.stderr) == []
    rows, feed = _read(feed_db)
    assert [(r.action, r.target_ids) for r in rows[-2:]] == [("backfill", ["local"]), ("poll", ["local"])]
    assert rows[-1].summary["from_start"] is True and rows[-1].summary["accepted"] == INDICATORS
    assert rows[-1].summary["published"] == 0, "read again, nothing new: nothing published twice"
    assert feed is not None and feed.accepted_total == 2 * INDICATORS


def test_backfill_of_an_unknown_feed_fails_and_records_nothing(feed_db: str) -> None:
    before, _ = _read(feed_db)
    result = Runner().invoke(app, ["feeds", "poll", "nope", "--from-start", "--quiet"])
    assert result.exit_code == 2, result.output
    after, _ = _read(feed_db)
    assert [r.id for r in after] == [r.id for r in before]
