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
