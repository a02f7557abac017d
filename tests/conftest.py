"""Shared fixtures. Real services (Kafka, PostgreSQL) come from tests/plugins/services.py."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ewarn import names
from ewarn.bus.memory import MemoryBus
from ewarn.crypto.secretbox import generate_key
from ewarn.store.db import SessionFactory, create_engine, create_schema, session_factory

pytest_plugins = ["tests.plugins.services"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# One secrets key for the whole test run (PostgreSQL requires one); every ``ewarn`` child process inherits it.
os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())


@pytest.fixture(autouse=True)
def _default_vendor_aliases() -> Iterator[None]:
    """The operator's vendor aliases are process-wide (one deployment, one operator): a test that stores aliases
    through the API or CLI of an in-process app changes them for every later test on the same worker (a
    schemathesis run once mapped "General Electric (GE)" to a random group), so each test ends on the default."""
    yield
    names.set_operator_aliases(())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public feeds in ../shared/data; required in CI, skipped with a clear reason elsewhere."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"../shared/data is missing (looked in {SHARED_DATA}); CI must provide it")
        pytest.skip(f"needs the real data folder ../shared/data (looked in {SHARED_DATA})")
    return SHARED_DATA


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ewarn.db'}")
    await create_schema(engine)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def memory_bus() -> MemoryBus:
    return MemoryBus()
