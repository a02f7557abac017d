"""The Kafka bus survives its broker going away mid-stream: nothing published is lost (at-least-once)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from tests.plugins.services import BrokerHandle

from ewarn.bus.base import Record
from ewarn.bus.kafka import KafkaBus
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics

pytestmark = pytest.mark.slow

TOTAL = 3000
BATCH = 50
KEYS = 30
DEADLINE = 120.0


async def _produce(bus: KafkaBus, topic: str, sent: list[int]) -> None:
    for start in range(0, TOTAL, BATCH):
        numbers = range(start, min(start + BATCH, TOTAL))
        await bus.publish_many(topic, [(f"provider-{n % KEYS}", str(n).encode()) for n in numbers])
        sent.extend(numbers)
        await asyncio.sleep(0.01)  # spread the run so the restart lands in the middle of it


async def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _bounce(broker: BrokerHandle, how: str) -> None:
    if how == "kill":
        broker.kill()
    broker.restart()


@pytest.mark.parametrize("how", ["restart", "kill"], ids=["sigterm-restart", "sigkill-restart"])
async def test_records_survive_a_broker_restart(
    kafka_broker: BrokerHandle, kafka_bus: KafkaBus, topics: Topics, how: str
) -> None:
    received: list[int] = []

    async def handler(record: Record) -> None:
        received.append(int(record.value))

    runner = StageRunner(
        bus=kafka_bus,
        topics=[topics.indicators],
        group="restart",
        stage="restart-test",
        handler=handler,
        dlq_topic=topics.dlq,
        batch_size=200,
    )
    consuming = asyncio.create_task(runner.run())
    sent: list[int] = []
    producing = asyncio.create_task(_produce(kafka_bus, topics.indicators, sent))
    try:
        await _wait_for(lambda: len(sent) >= TOTAL // 3 and len(received) > 0, "a third of the run")
        await asyncio.to_thread(_bounce, kafka_broker, how)
        sent_while_down = len(sent)
        await asyncio.wait_for(producing, DEADLINE)
        await _wait_for(lambda: set(received) >= set(range(TOTAL)), "every record after the restart")
    finally:
        producing.cancel()
        runner.stop()
        await asyncio.wait_for(consuming, DEADLINE)

    assert sent_while_down < TOTAL, "the producer finished before the broker went away; nothing was tested"
    missing = set(range(TOTAL)) - set(received)
    assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:10]}"
    assert sorted(set(received)) == list(range(TOTAL))
    assert runner.stats.dead_lettered == 0
