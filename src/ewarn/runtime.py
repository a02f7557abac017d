"""The wiring of one process: settings, database, bus and topics, built once at start-up and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ewarn.bus.base import Bus
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.crypto.keyring import secret_box_for
from ewarn.settings import Settings
from ewarn.store.db import SessionFactory, create_engine, session_factory
from ewarn.store.repositories.secrets import SESSION_INFO_KEY as SECRET_BOX


def build_bus(settings: Settings, topics: Topics) -> Bus:
    """Kafka when ``EWARN_KAFKA__BOOTSTRAP`` is set, else the in-process bus."""
    if settings.kafka.bootstrap:
        from ewarn.bus.kafka import KafkaBus  # imported lazily: only this path needs aiokafka

        return KafkaBus(settings.kafka, topics)
    return MemoryBus()


@dataclass
class Runtime:
    """Everything a role needs; each role takes the parts it uses."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    bus: Bus
    topics: Topics
    services: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, bus: Bus | None = None) -> Runtime:
        topics = Topics(prefix=settings.kafka.topic_prefix)
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        # Resolved now, so a missing key stops the start (PostgreSQL) and the embedded key file exists at once.
        box = secret_box_for(keys=settings.secrets.keys, database_url=settings.database_url)
        sessions.configure(info={SECRET_BOX: box})
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            bus=bus if bus is not None else build_bus(settings, topics),
            topics=topics,
        )

    async def close(self) -> None:
        await self.bus.stop()
        await self.engine.dispose()
