"""The OpenAPI document of the API, built without a database or a bus (``schemas/openapi.json``)."""

from __future__ import annotations

import copy
import functools
from typing import Any

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.db import create_engine, session_factory


def openapi_document() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves, problem+json answers included (nothing connects)."""
    return copy.deepcopy(_built())


@functools.cache
def _built() -> dict[str, Any]:
    # built once per process: the document is a function of the code alone, and takes seconds to build
    url = "sqlite+aiosqlite:///ewarn-openapi.db"  # a file name only: nothing is ever opened
    engine = create_engine(url)  # never connected: building the app reads no row
    runtime = Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        sessions=session_factory(engine),
        bus=MemoryBus(),
        topics=Topics("ewarn"),
    )
    return create_app(runtime).openapi()
