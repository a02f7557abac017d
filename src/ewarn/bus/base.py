"""Bus protocol: publish acknowledged records; consume in groups; commit after the work is durable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Record:
    """One message as consumed: where it came from and its raw bytes."""

    topic: str
    key: str | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    partition: int = 0
    offset: int = 0


class Consumer(Protocol):
    """A member of a consumer group on one or more topics."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Leave the group; uncommitted records are redelivered to whoever takes the partitions."""

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Return the next records (possibly none after ``timeout`` seconds)."""

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark these records (and everything before them in their partitions) done."""


class Bus(Protocol):
    """A transport: the in-process bus or Kafka."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(
        self, topic: str, *, key: str | None, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        """Return only once the record is acknowledged (durable for Kafka: acks=all)."""

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        """Publish several records; return once all are acknowledged."""

    def consumer(self, topics: Sequence[str], *, group: str) -> Consumer:
        """A consumer in ``group``; members of one group share the topics' partitions."""
