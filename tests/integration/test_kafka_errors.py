"""Kafka failures reach callers as ewarn errors: TransientError (retry later), ConfigurationError (stop)."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.plugins.services import BrokerHandle
from tests.support.netutil import free_port

from ewarn.bus.kafka import KafkaBus
from ewarn.bus.topics import Topics
from ewarn.errors import ConfigurationError, TransientError
from ewarn.settings import KafkaSettings


def _unreachable() -> KafkaSettings:
    return KafkaSettings(bootstrap=f"127.0.0.1:{free_port()}")  # nothing listens there


def test_missing_bootstrap_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="bootstrap"):
        KafkaBus(KafkaSettings(), Topics())


async def test_start_without_a_broker_raises_transient_error_after_retrying() -> None:
    bus = KafkaBus(_unreachable(), Topics(prefix="unreachable"), retry_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(TransientError, match="create_topics"):
        await bus.start()
    assert time.monotonic() - started < 15


async def test_consumer_start_without_a_broker_raises_transient_error() -> None:
    bus = KafkaBus(_unreachable(), Topics(prefix="unreachable"), retry_timeout=1.0)
    consumer = bus.consumer(["unreachable.indicators.v1"], group="g")
    with pytest.raises(TransientError, match="consumer_start"):
        await consumer.start()


async def _publish_eventually(bus: KafkaBus, topic: str, value: bytes) -> None:
    """What the stage runner does with a TransientError: try again until it goes through."""
    deadline = time.monotonic() + 60
    while True:
        try:
            await bus.publish(topic, key="k", value=value)
            return
        except TransientError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_publish_while_the_broker_is_down_is_transient_and_recovers(
    kafka_broker: BrokerHandle, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    bus = KafkaBus(kafka_settings, topics, retry_timeout=2.0)
    await bus.start()
    try:
        await bus.publish(topics.alerts, key="k", value=b"before")
        kafka_broker.kill()
        try:
            with pytest.raises(TransientError, match="publish"):
                await bus.publish(topics.alerts, key="k", value=b"while-down")
        finally:
            await asyncio.to_thread(kafka_broker.restart)
        await _publish_eventually(bus, topics.alerts, b"after")
    finally:
        await bus.stop()

    reader = KafkaBus(kafka_settings, topics)
    consumer = reader.consumer([topics.alerts], group="check")
    await consumer.start()
    seen: set[bytes] = set()
    deadline = time.monotonic() + 30
    while not {b"before", b"after"} <= seen and time.monotonic() < deadline:
        seen.update(r.value for r in await consumer.fetch(timeout=0.5))
    await consumer.stop()
    assert {b"before", b"after"} <= seen
