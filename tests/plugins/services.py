"""Fixtures that start real services (Kafka, PostgreSQL) once per test run, only when a test asks for them.

Set ``EWARN_TEST_KAFKA_BOOTSTRAP`` / ``EWARN_TEST_KAFKA4_BOOTSTRAP`` / ``EWARN_TEST_POSTGRES_URL`` to use running
services instead. A service
that cannot start fails the tests that need it, with the reason; nothing is skipped.

Kafka:    ``kafka_broker`` (session: ``.bootstrap``, ``.kill()``, ``.restart()``), ``kafka_settings``,
          ``topics`` (a unique prefix per test), ``kafka_bus`` (a started ``KafkaBus`` on ``topics``),
          ``bus`` (params ``memory`` / ``kafka`` / ``kafka4``), ``real_kafka_bus`` (params ``kafka`` / ``kafka4``). ``kafka_broker`` runs Kafka 3.9;
          ``kafka4_broker`` / ``kafka4_settings`` / ``kafka4_bus`` the same on Kafka 4.1 (started only when a
          test asks for it; today the ``bus`` conformance tests).
Database: ``postgres_url`` (session), ``pg_sessions`` (a fresh database per test, schema created),
          ``sessions`` (params ``sqlite`` / ``postgres``), ``database_url`` / ``module_database_url`` (an empty
          database per test / per module, params ``sqlite`` / ``postgres``).
Tests using these get the ``kafka`` / ``postgres`` markers automatically, so ``-m "not kafka"`` works.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from ewarn.bus.base import Bus
from ewarn.bus.kafka import KafkaBus
from ewarn.bus.topics import Topics
from ewarn.settings import KafkaSettings
from ewarn.store.db import SessionFactory, create_engine, create_schema, session_factory
from tests.support.kafka_broker import KAFKA4_VERSION, KAFKA_VERSION, KafkaBroker
from tests.support.postgres_server import PostgresServer, temporary_database

KAFKA_FIXTURES = {
    "kafka_broker",
    "kafka_settings",
    "kafka_bus",
    "kafka4_broker",
    "kafka4_settings",
    "kafka4_bus",
    "real_kafka_bus",
}
KAFKA_BUS_PARAMS = {"kafka", "kafka4"}
POSTGRES_FIXTURES = {"postgres_url", "pg_sessions"}
TEST_PARTITIONS = 3


class BrokerHandle(Protocol):
    @property
    def bootstrap(self) -> str: ...

    def kill(self) -> None: ...

    def restart(self) -> None: ...


class ExternalBroker:
    """A broker someone else runs (``EWARN_TEST_KAFKA[4]_BOOTSTRAP``): usable, but not ours to crash."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def kill(self) -> None:
        pytest.fail("this test crashes the broker; it needs the one the test tooling starts", pytrace=False)

    def restart(self) -> None:
        self.kill()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if names & KAFKA_FIXTURES or params.get("bus") in KAFKA_BUS_PARAMS:
            item.add_marker(pytest.mark.kafka)
        if names & POSTGRES_FIXTURES or params.get("sessions") == "postgres":
            item.add_marker(pytest.mark.postgres)


def _start_or_fail(service: KafkaBroker | PostgresServer, what: str) -> None:
    try:
        service.start()
    except RuntimeError as exc:
        reason = str(exc)
    else:
        return
    pytest.fail(f"could not start {what} for the tests: {reason}", pytrace=False)


def _session_broker(
    tmp_path_factory: pytest.TempPathFactory, env: str, version: str
) -> Iterator[BrokerHandle]:
    external = os.environ.get(env)
    if external:
        yield ExternalBroker(external)
        return
    broker = KafkaBroker(tmp_path_factory.mktemp(f"kafka-{version}"), version=version)
    _start_or_fail(broker, f"the Kafka broker ({broker.version})")
    try:
        yield broker
    finally:
        broker.stop()


def _settings(broker: BrokerHandle) -> KafkaSettings:
    if isinstance(broker, KafkaBroker) and not broker.running:
        _start_or_fail(broker, f"the Kafka broker ({broker.version}; a previous test left it down)")
    return KafkaSettings(
        bootstrap=broker.bootstrap,
        client_id="ewarn-test",
        partitions=TEST_PARTITIONS,
        compression="gzip",
    )


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerHandle]:
    """A real Kafka 3.9 broker on 127.0.0.1, started once per run (or the one in EWARN_TEST_KAFKA_BOOTSTRAP)."""
    yield from _session_broker(tmp_path_factory, "EWARN_TEST_KAFKA_BOOTSTRAP", KAFKA_VERSION)


@pytest.fixture(scope="session")
def kafka4_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerHandle]:
    """A real Kafka 4.1 broker on 127.0.0.1, started once per run when first asked for (or
    EWARN_TEST_KAFKA4_BOOTSTRAP)."""
    yield from _session_broker(tmp_path_factory, "EWARN_TEST_KAFKA4_BOOTSTRAP", KAFKA4_VERSION)


@pytest.fixture
def kafka_settings(kafka_broker: BrokerHandle) -> KafkaSettings:
    return _settings(kafka_broker)


@pytest.fixture
def kafka4_settings(kafka4_broker: BrokerHandle) -> KafkaSettings:
    return _settings(kafka4_broker)


@pytest.fixture
def topics() -> Topics:
    """Topic names unique to this test, so tests never see each other's records."""
    return Topics(prefix=f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def kafka_bus(kafka_settings: KafkaSettings, topics: Topics) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_settings.model_copy(update={"topic_prefix": topics.prefix}), topics)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


@pytest.fixture
async def kafka4_bus(kafka4_settings: KafkaSettings, topics: Topics) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka4_settings.model_copy(update={"topic_prefix": topics.prefix}), topics)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


@pytest.fixture(params=["memory", "kafka", "kafka4"], ids=["memory", "kafka", "kafka4"])
def bus(request: pytest.FixtureRequest) -> Bus:
    """The same test on the in-process bus, on Kafka 3.9 and on Kafka 4.1 (started, with the ``topics``
    fixture's names)."""
    bus: Bus = request.getfixturevalue(f"{request.param}_bus")
    return bus


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL on 127.0.0.1 with database ``ewarn`` (or EWARN_TEST_POSTGRES_URL)."""
    external = os.environ.get("EWARN_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    _start_or_fail(server, "PostgreSQL")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on a brand-new database (schema created), dropped after the test."""
    async with temporary_database(postgres_url) as url:
        engine = create_engine(url)
        try:
            await create_schema(engine)
            yield session_factory(engine)
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def _empty_database(request: pytest.FixtureRequest, folder: Path) -> AsyncIterator[str]:
    """An empty database URL: a SQLite file in ``folder``, or a fresh PostgreSQL database (``request.param``)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'ewarn.db'}"
        return
    async with temporary_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL (no schema yet) on a temporary SQLite file or a fresh PostgreSQL database."""
    async with _empty_database(request, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
async def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """``database_url`` shared by every test of one module (a world seeded once, read by many tests)."""
    async with _empty_database(request, tmp_path_factory.mktemp("module-db")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def sessions(request: pytest.FixtureRequest) -> SessionFactory:
    """The same test on a temporary SQLite file and on a fresh PostgreSQL database."""
    fixture = "sqlite_sessions" if request.param == "sqlite" else "pg_sessions"
    factory: SessionFactory = request.getfixturevalue(fixture)
    return factory


@pytest.fixture(params=["kafka", "kafka4"], ids=["kafka", "kafka4"])
def real_kafka_bus(request: pytest.FixtureRequest) -> KafkaBus:
    """A started ``KafkaBus`` on Kafka 3.9 and on Kafka 4.1, for tests that need Kafka's own behaviour."""
    bus: KafkaBus = request.getfixturevalue(f"{request.param}_bus")
    return bus
