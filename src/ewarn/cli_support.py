"""What the small ``ewarn`` sub-commands share: a migrated database for one piece of work, and who acts."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.logging import configure_logging
from ewarn.runtime import Runtime
from ewarn.settings import Settings, load_settings
from ewarn.store.migrate import upgrade_to_head

T = TypeVar("T")


@asynccontextmanager
async def bus_runtime() -> AsyncIterator[Runtime]:
    """A runtime from the settings with the schema in place and the bus started (to announce changes)."""
    runtime = Runtime.build(load_settings())
    try:
        await upgrade_to_head(runtime.engine)
        await runtime.bus.start()
        yield runtime
    finally:
        await runtime.close()


def run_with_bus(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` against a :func:`bus_runtime` and release everything."""

    async def go() -> T:
        async with bus_runtime() as runtime:
            return await work(runtime)

    return asyncio.run(go())


def cli_actor() -> str:
    """Who a CLI change is recorded as (``revoked_by`` and the like)."""
    return f"cli:{getpass.getuser()}"


def run_in_session(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Migrate the configured database, run ``work`` in one session (it commits), and release everything."""
    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    runtime = Runtime.build(settings)

    async def go() -> T:
        try:
            await upgrade_to_head(runtime.engine)
            async with runtime.sessions() as session:
                return await work(session, settings)
        finally:
            await runtime.engine.dispose()

    return asyncio.run(go())
