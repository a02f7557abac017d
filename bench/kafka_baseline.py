"""The raw aiokafka rate on a broker: same-size messages produced and consumed, no ewarn code in between.

A fresh topic with the pipeline's partition count; one consumer (no group) reads from the start while one
producer with the bus's settings (``acks=all``, idempotence, ``kafka.linger_ms``) sends ``count`` messages of
``size`` bytes without waiting for each acknowledgement. Reported: produce rate (all acknowledged), consume
rate and the produce→consume rate (first send to last message read).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ewarn.settings import KafkaSettings

CHUNK = 5000  # sends in flight before awaiting their acknowledgements


async def raw_rate(bootstrap: str, *, count: int, size: int, partitions: int) -> dict[str, Any]:
    topic = f"bench-raw-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ewarn-bench")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=KafkaSettings().linger_ms
    )
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        payload = os.urandom(size // 2).hex().encode()[:size]
        cpu_before = time.process_time()
        began = time.perf_counter()
        produced_at = 0.0

        async def produce() -> None:
            nonlocal produced_at
            for start in range(0, count, CHUNK):
                futures = [
                    await producer.send(topic, payload, key=str(i).encode())
                    for i in range(start, min(count, start + CHUNK))
                ]
                await asyncio.gather(*futures)
            produced_at = time.perf_counter()

        async def consume() -> float:
            got = 0
            first = 0.0
            while got < count:
                batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                n = sum(len(b) for b in batches.values())
                if n and not first:
                    first = time.perf_counter()
                got += n
            return first

        _, first_read = await asyncio.wait_for(asyncio.gather(produce(), consume()), timeout=120)
        ended = time.perf_counter()
        return {
            "messages": count,
            "message_bytes": size,
            "partitions": partitions,
            "produce_per_second": round(count / (produced_at - began), 1),
            "consume_per_second": round(count / max(ended - first_read, 1e-9), 1),
            "produce_to_consume_per_second": round(count / (ended - began), 1),
            "bench_process_cpu_seconds": round(time.process_time() - cpu_before, 3),
        }
    finally:
        await producer.stop()
        await consumer.stop()


async def publish_cost(
    bootstrap: str, *, compression: str, pages: int, per_page: int, size: int, broker_pid: int | None
) -> dict[str, Any]:
    """``KafkaBus.publish_many`` of ``pages`` pages of ``per_page`` keyed messages (the ingest edge's shape):
    CPU of this process and of the broker per message. Topics with a fresh prefix, four partitions."""
    from ewarn.bus.kafka import KafkaBus
    from ewarn.bus.topics import Topics

    settings = KafkaSettings(bootstrap=bootstrap, compression=compression, partitions=4)
    bus = KafkaBus(settings, Topics(prefix=f"cost{uuid.uuid4().hex[:8]}"))
    await bus.start()
    if broker_pid is not None:
        from ingest_edge import process_cpu
    else:

        def process_cpu(pid: int | None) -> float:
            return 0.0

    try:
        topic = bus.topics.indicators
        value = b'{"v":"' + os.urandom(size // 2).hex().encode()[: size - 8] + b'"}'
        pages_of = [[(f"domain:{p}-{n}.example", value) for n in range(per_page)] for p in range(pages + 5)]
        for items in pages_of[:5]:  # warm-up: metadata, connections
            await bus.publish_many(topic, items)
        cpu, broker, began = time.process_time(), process_cpu(broker_pid), time.perf_counter()
        for items in pages_of[5:]:
            await bus.publish_many(topic, items)
        count = pages * per_page
        return {
            "compression": compression,
            "messages": count,
            "us_per_message": round((time.process_time() - cpu) * 1e6 / count, 1),
            "broker_us_per_message": round((process_cpu(broker_pid) - broker) * 1e6 / count, 1),
            "messages_per_second": round(count / (time.perf_counter() - began)),
            "load": round(os.getloadavg()[0], 2),
        }
    finally:
        await bus.stop()


if __name__ == "__main__":
    import argparse
    import json
    import sys
    from pathlib import Path

    sys.path[:0] = [str(Path(__file__).resolve().parent)]
    parser = argparse.ArgumentParser(description="KafkaBus.publish_many cost per message (CPU, this process)")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--broker-pid", type=int)
    parser.add_argument("--compression", default="gzip")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--size", type=int, default=700)
    args = parser.parse_args()
    cost = asyncio.run(
        publish_cost(
            args.bootstrap,
            compression=args.compression,
            pages=args.pages,
            per_page=args.per_page,
            size=args.size,
            broker_pid=args.broker_pid,
        )
    )
    print(json.dumps(cost))
