"""Engine and session factory; nothing connects until ``create_engine`` is called."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.expression import Insert

from ewarn.store.tables import Base

SessionFactory = async_sessionmaker[AsyncSession]


class EncodedJson(str):
    """JSON text already serialised (an alert's message): a JSON column stores it as it is.

    Measured on the correlate stage bench: parsing the message back and ``json.dumps`` again cost as much CPU
    per alert as building it did.
    """


def _serialize_json(value: Any) -> str:
    return str(value) if isinstance(value, EncodedJson) else json.dumps(value)


POOL_TIMEOUT_SECONDS = 30.0  # the workers wait this long for a connection; the API waits less (api.limits)


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL and a busy timeout so stages can share the file.

    The pool holds ``pool_size`` connections plus ``max_overflow`` on demand (defaults: SQLite 5 + 10,
    PostgreSQL 10 + 10); a checkout that waits ``pool_timeout`` seconds raises SQLAlchemy's ``TimeoutError``.
    """
    pool: dict[str, Any] = {"pool_timeout": pool_timeout}
    if pool_size is not None:
        pool["pool_size"] = pool_size
    if max_overflow is not None:
        pool["max_overflow"] = max_overflow
    if url.startswith("sqlite"):
        if ":memory:" in url or "mode=memory" in url:
            pool = {}  # one shared in-memory connection (StaticPool): there is no pool to size
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, json_serializer=_serialize_json, **pool
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache per connection instead of SQLite's 2 MiB: the outbox indexes take random
            # keys (hashed delivery ids), and once they outgrow the cache every insert reads pages back.
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        return engine
    pool.setdefault("pool_size", 10)
    pool.setdefault("max_overflow", 10)
    return create_async_engine(url, echo=echo, pool_pre_ping=True, json_serializer=_serialize_json, **pool)


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table directly (tests and the embedded default); production runs Alembic."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def insert_for(session: AsyncSession, table: Any) -> Insert:
    """A dialect-specific INSERT that supports ON CONFLICT (SQLite and PostgreSQL both do)."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    if name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def upsert(
    session: AsyncSession,
    table: Any,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert rows; on a key conflict update ``update`` columns (or do nothing when ``update`` is empty)."""
    if not rows:
        return
    # executemany of one cached statement (SQLAlchemy sends it as multi-row INSERTs): a VALUES list built per
    # call is compiled anew each time, which cost ~8x the CPU of the insert itself for pages of 500 rows
    stmt: Any = insert_for(session, table)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict), set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    await session.execute(stmt, list(rows))


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored datetime is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
