"""One log format for every logger, and no SQL parameters (secrets among them) at any level."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SECRET = "whsec_do-not-log-me-0123456789"

_PROGRAM = textwrap.dedent(
    f"""
    import asyncio
    import logging
    import sqlalchemy as sa
    from ewarn.logging import configure_logging, get_logger
    from ewarn.store.db import create_engine

    async def write_secret():
        engine = create_engine("sqlite+aiosqlite:///{{path}}")
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE s (v TEXT)"))
            await conn.execute(sa.text("INSERT INTO s VALUES (:v)"), {{{{"v": "{SECRET}"}}}})
        await engine.dispose()

    configure_logging(level="DEBUG", json={{json}})
    asyncio.run(write_secret())
    logging.getLogger("uvicorn.error").info("Uvicorn running")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
    get_logger("ewarn.test").info("role_started", role="api")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("aiokafka").exception("consumer failed")
    """
)


def _run(json_output: bool, path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(json=json_output, path=path / "log.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_every_logger_writes_json_lines_without_sql_parameters(tmp_path: Path) -> None:
    lines = _run(True, tmp_path)
    records = [json.loads(line) for line in lines if not line.startswith((" ", "Traceback"))]
    assert len(records) == len(lines), f"a line that is not one JSON object: {lines}"
    by_event = {r["event"]: r for r in records}
    assert by_event["Uvicorn running"]["logger"] == "uvicorn.error"
    assert by_event["Uvicorn running"]["level"] == "info"
    assert by_event["Running upgrade 0001 -> 0002"]["logger"] == "alembic.runtime.migration"
    assert by_event["role_started"]["role"] == "api"
    assert "ValueError: boom" in by_event["consumer failed"]["exception"]
    assert all("timestamp" in r for r in records)
    assert SECRET not in "\n".join(lines)


@pytest.mark.parametrize("json_output", [pytest.param(False, id="console")])
def test_console_format_keeps_sql_parameters_out_too(json_output: bool, tmp_path: Path) -> None:
    lines = _run(json_output, tmp_path)
    assert any("Uvicorn running" in line for line in lines)
    assert SECRET not in "\n".join(lines)


def test_loggers_write_to_the_current_stderr_after_a_harness_closed_its_own() -> None:
    program = textwrap.dedent(
        """
        import io, logging, sys
        from ewarn.logging import configure_logging, get_logger

        harness = io.StringIO()
        real, sys.stderr = sys.stderr, harness
        configure_logging(level="INFO", json=True)   # as a CLI command run inside a test harness does
        sys.stderr = real
        harness.close()
        get_logger("ewarn.test").info("after_harness")
        logging.getLogger("uvicorn.error").info("stdlib_after_harness")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line)["event"] for line in done.stderr.splitlines() if line.startswith("{")]
    assert events == ["after_harness", "stdlib_after_harness"]
    assert "Logging error" not in done.stderr
