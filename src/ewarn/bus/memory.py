"""In-process bus: append-only logs per topic and committed offsets per group, for the embedded default."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from ewarn.bus.base import Record


class MemoryBus:
    """A single-partition log per topic. One consumer per group at a time, as in the embedded default."""

    def __init__(self) -> None:
        self._logs: dict[str, list[Record]] = defaultdict(list)
        self._committed: dict[tuple[str, str], int] = defaultdict(int)
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(
        self, topic: str, *, key: str | None, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        await self.publish_many(topic, [(key, value)], headers)

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        async with self._changed:
            log = self._logs[topic]
            for key, value in items:
                log.append(Record(topic, key, value, dict(headers or {}), 0, len(log)))
            self._changed.notify_all()

    def consumer(self, topics: Sequence[str], *, group: str) -> MemoryConsumer:
        return MemoryConsumer(self, list(topics), group)

    def size(self, topic: str) -> int:
        return len(self._logs[topic])

    def records(self, topic: str) -> list[Record]:
        return list(self._logs[topic])

    def lag(self, topic: str, *, group: str) -> int:
        """Records of ``topic`` not yet committed by ``group``."""
        return len(self._logs[topic]) - self._committed[(group, topic)]


class MemoryConsumer:
    """Reads from the group's committed position; after a restart, uncommitted records come again."""

    def __init__(self, bus: MemoryBus, topics: list[str], group: str) -> None:
        self._bus = bus
        self._topics = topics
        self._group = group
        self._position: dict[str, int] = {}

    async def start(self) -> None:
        self._position = {t: self._bus._committed[(self._group, t)] for t in self._topics}

    async def stop(self) -> None:
        self._position = {}

    def _pending(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for topic in self._topics:
            log = self._bus._logs[topic]
            pos = self._position.get(topic, 0)
            take = log[pos : pos + (max_records - len(out))]
            out.extend(take)
            self._position[topic] = pos + len(take)
            if len(out) >= max_records:
                break
        return out

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        got = self._pending(max_records)
        if got:
            return got
        try:
            async with self._bus._changed:
                await asyncio.wait_for(
                    self._bus._changed.wait_for(
                        lambda: any(len(self._bus._logs[t]) > self._position.get(t, 0) for t in self._topics)
                    ),
                    timeout,
                )
        except TimeoutError:
            return []
        return self._pending(max_records)

    def highwater(self, topic: str, partition: int) -> int | None:
        """The end offset of ``topic`` (its one partition): what consumer lag is measured against."""
        return self._bus.size(topic) if partition == 0 else None

    async def commit(self, records: Sequence[Record]) -> None:
        for record in records:
            key = (self._group, record.topic)
            self._bus._committed[key] = max(self._bus._committed[key], record.offset + 1)
