"""The bus contract, run against the in-process bus and real Kafka 3.9 and 4.1 brokers (fixture ``bus``);
consumer-group behaviour only Kafka has runs on both brokers (fixture ``real_kafka_bus``)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence

import pytest

from ewarn.bus.base import Bus, Consumer, Record
from ewarn.bus.kafka import KafkaBus, KafkaConsumer
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics
from ewarn.errors import PoisonRecordError, TransientError

WAIT = 30.0


async def drain(consumer: Consumer, count: int, *, timeout: float = WAIT) -> list[Record]:
    """Fetch until ``count`` records arrived; fail with what did arrive otherwise."""
    got: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"expected {count} records within {timeout}s, got {len(got)}")
        got.extend(await consumer.fetch(max_records=500, timeout=0.5))
    return got


async def nothing_more(consumer: Consumer, *, wait: float = 2.0) -> list[Record]:
    """Whatever still arrives within ``wait`` seconds (expected: nothing)."""
    got: list[Record] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got.extend(await consumer.fetch(timeout=0.25))
    return got


async def started(bus: Bus, topics: Sequence[str], group: str) -> Consumer:
    consumer = bus.consumer(topics, group=group)
    await consumer.start()
    return consumer


async def until(predicate: object, *, timeout: float = WAIT) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def values(records: Sequence[Record]) -> list[bytes]:
    return [r.value for r in records]


async def test_order_is_kept_per_key(bus: Bus, topics: Topics) -> None:
    items = [(f"key-{i % 5}", f"{i % 5}:{i}".encode()) for i in range(100)]
    await bus.publish_many(topics.indicators, items)

    consumer = await started(bus, [topics.indicators], "order")
    records = await drain(consumer, 100)
    await consumer.stop()

    by_key: dict[str | None, list[bytes]] = defaultdict(list)
    for record in records:
        by_key[record.key].append(record.value)
    expected: dict[str | None, list[bytes]] = defaultdict(list)
    for key, value in items:
        expected[key].append(value)
    assert by_key == expected


async def test_single_publish_is_consumed_with_key_and_value(bus: Bus, topics: Topics) -> None:
    await bus.publish(topics.alerts, key="provider:h1", value=b"\x00payload\xff")
    consumer = await started(bus, [topics.alerts], "single")
    [record] = await drain(consumer, 1)
    await consumer.stop()
    assert (record.topic, record.key, record.value) == (topics.alerts, "provider:h1", b"\x00payload\xff")


async def test_new_member_resumes_after_committed_offset(bus: Bus, topics: Topics) -> None:
    await bus.publish_many(topics.indicators, [("one-key", f"{i}".encode()) for i in range(10)])

    first = await started(bus, [topics.indicators], "resume")
    records = await drain(first, 10)
    await first.commit(records[:6])
    await first.stop()

    second = await started(bus, [topics.indicators], "resume")
    rest = await drain(second, 4)
    extra = await nothing_more(second, wait=1.0)
    await second.stop()
    assert values(rest) + values(extra) == [b"6", b"7", b"8", b"9"]


async def test_uncommitted_records_are_redelivered_after_restart(bus: Bus, topics: Topics) -> None:
    await bus.publish_many(topics.indicators, [("one-key", f"{i}".encode()) for i in range(5)])

    first = await started(bus, [topics.indicators], "redeliver")
    assert values(await drain(first, 5)) == [b"0", b"1", b"2", b"3", b"4"]
    await first.stop()

    second = await started(bus, [topics.indicators], "redeliver")
    assert values(await drain(second, 5)) == [b"0", b"1", b"2", b"3", b"4"]
    await second.stop()


async def test_groups_are_independent(bus: Bus, topics: Topics) -> None:
    await bus.publish_many(topics.alerts, [("k", b"a"), ("k", b"b")])
    one = await started(bus, [topics.alerts], "group-one")
    await one.commit(await drain(one, 2))
    await one.stop()

    two = await started(bus, [topics.alerts], "group-two")
    assert values(await drain(two, 2)) == [b"a", b"b"]
    await two.stop()


async def test_headers_round_trip(bus: Bus, topics: Topics) -> None:
    headers = {"ewarn-schema": b"indicator/1", "binary": b"\x00\x01\xfe\xff", "empty": b""}
    await bus.publish(topics.indicators, key=None, value=b"v", headers=headers)
    consumer = await started(bus, [topics.indicators], "headers")
    [record] = await drain(consumer, 1)
    await consumer.stop()
    assert record.headers == headers
    assert record.key is None


def _runner(bus: Bus, topics: Topics, handler: object, **kwargs: float) -> StageRunner:
    assert callable(handler)
    return StageRunner(
        bus=bus,
        topics=[topics.indicators],
        group="stage",
        stage="test-stage",
        handler=handler,
        dlq_topic=topics.dlq,
        backoff_base=0.01,
        backoff_max=0.05,
        **kwargs,
    )


async def _run_until(runner: StageRunner, predicate: object) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await until(predicate)
    finally:
        runner.stop()
        await asyncio.wait_for(task, WAIT)


async def test_runner_dead_letters_poison_and_carries_on(bus: Bus, topics: Topics) -> None:
    await bus.publish_many(
        topics.indicators, [("k", b"ok-0"), ("k", b"poison"), ("k", b"ok-1"), ("k", b"ok-2")]
    )
    handled: list[bytes] = []

    async def handler(record: Record) -> None:
        if record.value == b"poison":
            raise PoisonRecordError("cannot parse this")
        handled.append(record.value)

    runner = _runner(bus, topics, handler)
    await _run_until(runner, lambda: len(handled) == 3 and runner.stats.dead_lettered == 1)
    assert handled == [b"ok-0", b"ok-1", b"ok-2"]

    dlq = await started(bus, [topics.dlq], "dlq-reader")
    [dead] = await drain(dlq, 1)
    await dlq.stop()
    assert dead.value == b"poison" and dead.key == "k"
    assert dead.headers["ewarn-stage"] == b"test-stage"
    assert dead.headers["ewarn-error"].startswith(b"PoisonRecordError: cannot parse this")
    assert dead.headers["ewarn-source-topic"] == topics.indicators.encode()
    source_offset = int(dead.headers["ewarn-source-offset"])

    # The runner committed everything, poison included: the same group sees nothing more.
    again = await started(bus, [topics.indicators], "stage")
    assert await nothing_more(again, wait=1.5) == []
    await again.stop()
    audit = await started(bus, [topics.indicators], "audit")
    all_records = await drain(audit, 4)
    await audit.stop()
    assert [r.offset for r in all_records if r.value == b"poison"] == [source_offset]


async def test_runner_retries_transient_errors_without_skipping(bus: Bus, topics: Topics) -> None:
    await bus.publish_many(topics.indicators, [("k", b"a"), ("k", b"flaky"), ("k", b"c")])
    attempts: dict[bytes, int] = defaultdict(int)
    handled: list[bytes] = []

    async def handler(record: Record) -> None:
        attempts[record.value] += 1
        if record.value == b"flaky" and attempts[record.value] <= 2:
            raise TransientError("database away")
        handled.append(record.value)

    runner = _runner(bus, topics, handler)
    await _run_until(runner, lambda: len(handled) == 3)
    assert handled == [b"a", b"flaky", b"c"]
    assert attempts[b"flaky"] == 3
    assert runner.stats.retries == 2 and runner.stats.dead_lettered == 0


def _owned(consumer: Consumer) -> set[int]:
    assert isinstance(consumer, KafkaConsumer)
    return {partition for _topic, partition in consumer.assignment()}


async def test_two_members_of_a_group_split_partitions(real_kafka_bus: KafkaBus, topics: Topics) -> None:
    members = [real_kafka_bus.consumer([topics.indicators], group="split") for _ in range(2)]
    await asyncio.gather(*(m.start() for m in members))
    partitions = set(range(real_kafka_bus.partitions))
    await until(
        lambda: (
            _owned(members[0]) | _owned(members[1]) == partitions
            and not _owned(members[0]) & _owned(members[1])
            and all(_owned(m) for m in members)
        )
    )

    items = [(f"provider-{i}", f"{i}".encode()) for i in range(300)]
    await real_kafka_bus.publish_many(topics.indicators, items)

    got: dict[int, list[Record]] = {0: [], 1: []}
    deadline = time.monotonic() + WAIT
    while len(got[0]) + len(got[1]) < len(items) and time.monotonic() < deadline:
        batches = await asyncio.gather(*(m.fetch(timeout=0.3) for m in members))
        for index, batch in enumerate(batches):
            got[index].extend(batch)
    await asyncio.gather(*(m.stop() for m in members))

    assert sorted(values(got[0] + got[1])) == sorted(value for _key, value in items)
    assert got[0] and got[1], "both members must have received records"
    assert {r.partition for r in got[0]}.isdisjoint({r.partition for r in got[1]})


async def _work(consumer: Consumer, received: list[int], stop: asyncio.Event) -> None:
    """The runner's loop in small: fetch, 'process' slowly (200 records/s), commit."""
    while not stop.is_set():
        batch = await consumer.fetch(max_records=20, timeout=0.2)
        received.extend(int(r.value) for r in batch)
        if batch:
            await asyncio.sleep(0.1)
        await consumer.commit(batch)


async def test_member_joining_mid_stream_loses_nothing(real_kafka_bus: KafkaBus, topics: Topics) -> None:
    total = 1200
    await real_kafka_bus.publish_many(
        topics.indicators, [(f"p-{i % 50}", str(i).encode()) for i in range(total)]
    )
    received: dict[str, list[int]] = {"first": [], "second": []}
    stop = asyncio.Event()

    first = await started(real_kafka_bus, [topics.indicators], "join")
    tasks = [asyncio.create_task(_work(first, received["first"], stop))]
    await until(lambda: len(received["first"]) >= total // 4)
    second = await started(real_kafka_bus, [topics.indicators], "join")  # rebalances while the first is busy
    tasks.append(asyncio.create_task(_work(second, received["second"], stop)))
    await until(lambda: set(received["first"]) | set(received["second"]) >= set(range(total)))
    stop.set()
    await asyncio.gather(*tasks)
    await asyncio.gather(first.stop(), second.stop())

    assert received["second"], "the second member never got a partition"
    assert set(received["first"]) | set(received["second"]) == set(range(total))
    # Everything processed was committed by one member or the other: a newcomer finds nothing left.
    third = await started(real_kafka_bus, [topics.indicators], "join")
    assert await nothing_more(third, wait=1.5) == []
    await third.stop()
