"""Offsets committed in the background (``kafka.commit_in_background``) or awaited, and the batch trace.

A background commit must reach the broker without the member stopping (a kill -9 later redelivers only what
came after it), awaited commits must be there when ``commit`` returns, and a commit that failed must not be
forgotten: the next ``commit`` raises it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ewarn.bus.base import Record
from ewarn.bus.kafka import KafkaBus
from ewarn.bus.kafka_consumer import KafkaConsumer
from ewarn.bus.topics import Topics
from ewarn.settings import KafkaSettings

WAIT = 30.0


async def _group_offsets(bootstrap: str, group: str) -> dict[int, int]:
    """The group's committed offsets as the broker holds them (read without joining the group)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def _fetch(consumer: KafkaConsumer, count: int) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + WAIT
    while len(got) < count:
        assert time.monotonic() < deadline, f"expected {count} records, got {len(got)}"
        got.extend(await consumer.fetch(timeout=0.5))
    return got


async def _bus(settings: KafkaSettings, topics: Topics, **update: Any) -> KafkaBus:
    bus = KafkaBus(
        settings.model_copy(update={"topic_prefix": topics.prefix, "partitions": 1, **update}), topics
    )
    await bus.start()
    return bus


async def test_a_background_commit_reaches_the_broker_while_the_member_runs(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    bus = await _bus(kafka_settings, topics, commit_in_background=True)
    try:
        await bus.publish_many(topics.indicators, [("k", str(i).encode()) for i in range(10)])
        consumer = bus.consumer([topics.indicators], group="behind")
        await consumer.start()
        records = await _fetch(consumer, 10)
        await consumer.commit(records[:6])
        deadline = time.monotonic() + WAIT
        while await _group_offsets(str(kafka_settings.bootstrap), "behind") != {0: 6}:
            assert time.monotonic() < deadline, "the background commit never reached the broker"
            await asyncio.sleep(0.1)
        await consumer.stop()
    finally:
        await bus.stop()


async def test_an_awaited_commit_is_on_the_broker_when_commit_returns(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    bus = await _bus(kafka_settings, topics, commit_in_background=False)
    try:
        await bus.publish_many(topics.indicators, [("k", str(i).encode()) for i in range(5)])
        consumer = bus.consumer([topics.indicators], group="awaited")
        await consumer.start()
        records = await _fetch(consumer, 5)
        await consumer.commit(records[:3])
        assert await _group_offsets(str(kafka_settings.bootstrap), "awaited") == {0: 3}
        await consumer.stop()
    finally:
        await bus.stop()


async def test_the_trace_has_one_line_per_finished_batch(
    kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path
) -> None:
    trace = tmp_path / "stage.trace"
    bus = await _bus(kafka_settings, topics, trace_file=str(trace))
    try:
        await bus.publish_many(topics.indicators, [("k", str(i).encode()) for i in range(4)])
        consumer = bus.consumer([topics.indicators], group="traced")
        await consumer.start()
        records = await _fetch(consumer, 4)
        await consumer.commit(records)
        await consumer.stop()
    finally:
        await bus.stop()
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [line["group"] for line in lines] == ["traced"]
    [line] = lines
    assert line["parts"] == [[topics.indicators, 0, 0, 3]]
    assert line["asked"] <= line["fetched"] <= line["handled"]


class _RefusingConsumer:
    """An aiokafka consumer stand-in whose commits fail for good."""

    def __init__(self) -> None:
        self.commits = 0

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0)}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits += 1
        raise KafkaError("the coordinator refused the commit")


async def test_a_failed_background_commit_is_raised_by_the_next_commit() -> None:
    consumer = KafkaConsumer(KafkaSettings(bootstrap="127.0.0.1:9"), ["t"], "g", retry_timeout=1.0)
    refusing = _RefusingConsumer()
    consumer._consumer = refusing
    await consumer.commit([Record("t", "k", b"v", partition=0, offset=0)])
    await asyncio.sleep(0.05)  # the background commit runs and fails
    assert refusing.commits == 1
    with pytest.raises(KafkaError, match="refused"):
        await consumer.commit([Record("t", "k", b"v", partition=0, offset=1)])
