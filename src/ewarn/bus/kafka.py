"""Kafka bus on aiokafka — the only module that imports aiokafka.

Producer: ``acks=all`` and idempotence; ``publish`` returns once the broker acknowledged, retrying transient
failures with backoff. Consumer: no auto-commit; ``commit`` stores ``offset + 1`` per partition still
assigned, and the rebalance listener commits what the runner already handed to ``commit`` before partitions
move. Records fetched but not committed come again to whoever owns the partition next (at-least-once).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoError,
    TopicAlreadyExistsError,
    for_code,
)

from ewarn.bus.base import Record
from ewarn.bus.topics import Topics
from ewarn.errors import ConfigurationError, TransientError
from ewarn.logging import get_logger
from ewarn.settings import KafkaSettings

log = get_logger(__name__)

T = TypeVar("T")

DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000
BACKOFF_BASE = 0.1
BACKOFF_MAX = 5.0


def is_transient(exc: BaseException) -> bool:
    """Connection loss, timeouts and errors Kafka itself marks retriable: try again later."""
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(attempt, 16)) * (0.5 + random.random() / 2)


async def retry_transient(operation: Callable[[], Awaitable[T]], *, what: str, timeout: float) -> T:
    """Run ``operation`` until it succeeds; transient failures are retried with backoff until ``timeout``,
    then raised as ``TransientError``. Other errors propagate at once."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            if time.monotonic() >= deadline:
                raise TransientError(f"kafka {what}: {type(exc).__name__}: {exc}") from exc
            delay = _backoff(attempt)
            log.warning("kafka_retry", op=what, attempt=attempt, delay=round(delay, 3), error=repr(exc))
            await asyncio.sleep(delay)


def topic_configs(topics: Topics, name: str, replication_factor: int) -> dict[str, str]:
    """Per-topic settings: assets are compacted (latest inventory per provider), the DLQ is kept longer."""
    configs: dict[str, str] = {}
    if topics.is_compacted(name):
        configs["cleanup.policy"] = "compact"
    if name == topics.dlq:
        configs["retention.ms"] = str(DLQ_RETENTION_MS)
    if replication_factor >= 3:
        configs["min.insync.replicas"] = "2"
    return configs


def compression_type(name: str) -> str | None:
    return None if name.lower() in ("", "none") else name.lower()


def to_record(message: Any) -> Record:
    """Flatten a ConsumerRecord. Keys are text in ewarn; a foreign non-UTF-8 key must not stop us."""
    key = message.key.decode("utf-8", "replace") if message.key is not None else None
    return Record(
        topic=message.topic,
        key=key,
        value=message.value if message.value is not None else b"",
        headers={name: bytes(value or b"") for name, value in message.headers},
        partition=message.partition,
        offset=message.offset,
    )


class KafkaBus:
    """The Bus protocol over Kafka; ``start`` creates the topics of ``topics`` idempotently."""

    def __init__(self, settings: KafkaSettings, topics: Topics, *, retry_timeout: float = 60.0) -> None:
        if not settings.bootstrap:
            raise ConfigurationError("the Kafka bus needs kafka.bootstrap (EWARN_KAFKA__BOOTSTRAP)")
        self._settings = settings
        self._bootstrap: str = settings.bootstrap
        self._topics = topics
        self._retry_timeout = retry_timeout
        self._producer: Any = None

    @property
    def topics(self) -> Topics:
        return self._topics

    @property
    def partitions(self) -> int:
        return self._settings.partitions

    async def start(self) -> None:
        await retry_transient(self._ensure_topics, what="create_topics", timeout=self._retry_timeout)
        self._producer = await retry_transient(
            self._start_producer, what="producer_start", timeout=self._retry_timeout
        )
        log.info("kafka_bus_started", bootstrap=self._bootstrap, prefix=self._topics.prefix)

    async def stop(self) -> None:
        """Flush what is in flight and close the connections."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(
        self, topic: str, *, key: str | None, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        await self.publish_many(topic, [(key, value)], headers)

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        """Send every item, then wait for every acknowledgement; resend only what failed transiently.

        Raises ``TransientError`` when the broker has not acknowledged everything within ``retry_timeout``.
        """
        header_list = list((headers or {}).items())
        pending = list(items)
        deadline = time.monotonic() + self._retry_timeout
        attempt = 0
        while True:
            pending, error = await self._send_all(topic, pending, header_list, deadline)
            if error is None:
                return
            if not is_transient(error):
                raise error
            attempt += 1
            if time.monotonic() >= deadline:
                raise TransientError(f"kafka publish to {topic}: {type(error).__name__}: {error}") from error
            delay = _backoff(attempt)
            log.warning(
                "kafka_publish_retry", topic=topic, unsent=len(pending), attempt=attempt, error=repr(error)
            )
            await asyncio.sleep(delay)

    def consumer(self, topics: Sequence[str], *, group: str) -> KafkaConsumer:
        return KafkaConsumer(self._settings, list(topics), group, retry_timeout=self._retry_timeout)

    async def _send_all(
        self,
        topic: str,
        items: list[tuple[str | None, bytes]],
        headers: list[tuple[str, bytes]],
        deadline: float,
    ) -> tuple[list[tuple[str | None, bytes]], BaseException | None]:
        """Return the items not acknowledged by ``deadline`` (in their original order) and the first error."""
        if self._producer is None:
            raise RuntimeError("KafkaBus.publish called before start()")
        futures: list[asyncio.Future[Any]] = []
        unsent: list[tuple[str | None, bytes]] = []
        first_error: BaseException | None = None
        for index, (key, value) in enumerate(items):
            try:
                futures.append(await self._producer.send(topic, value=value, key=_key(key), headers=headers))
            except KafkaError as exc:  # e.g. no metadata while the broker is away: the rest waits too
                unsent, first_error = items[index:], exc
                break
        if futures:
            await asyncio.wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        failed: list[tuple[str | None, bytes]] = []
        for item, future in zip(items, futures, strict=False):
            error = _send_error(future)
            if error is not None:
                failed.append(item)
                first_error = first_error or error
        return failed + unsent, first_error

    async def _start_producer(self) -> Any:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._settings.client_id,
            acks="all",
            enable_idempotence=True,
            compression_type=compression_type(self._settings.compression),
            linger_ms=5,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _ensure_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._settings.client_id)
        await admin.start()
        try:
            await self._create_topics(admin)
            await self._wait_for_leaders(admin)
        finally:
            await admin.close()

    async def _create_topics(self, admin: Any) -> None:
        partitions, replication = self._settings.partitions, self._settings.replication_factor
        new_topics = [
            NewTopic(
                name, partitions, replication, topic_configs=topic_configs(self._topics, name, replication)
            )
            for name in self._topics.all()
        ]
        response = await admin.create_topics(new_topics)
        for topic, code, *detail in response.topic_errors:
            error_type = for_code(code)
            if error_type is NoError or error_type is TopicAlreadyExistsError:
                continue
            raise error_type(f"creating topic {topic}: {detail}")

    async def _wait_for_leaders(self, admin: Any) -> None:
        """Topic creation returns before every partition has a leader; producers and group joins want one."""
        names = self._topics.all()
        while True:
            described = await admin.describe_topics(names)
            if all(_has_leaders(topic) for topic in described) and len(described) == len(names):
                return
            await asyncio.sleep(0.1)


def _has_leaders(topic: dict[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return topic.get("error_code") == 0 and bool(partitions) and all(p["leader"] >= 0 for p in partitions)


def _send_error(future: asyncio.Future[Any]) -> BaseException | None:
    """Why a send is not acknowledged, or None if it is."""
    if not future.done():
        # The producer keeps retrying it (idempotent sends never expire); nobody waits for the outcome now.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        timed_out: BaseException = KafkaTimeoutError("not acknowledged in time")
        return timed_out
    if future.cancelled():
        cancelled: BaseException = KafkaError("send cancelled: the producer is stopping")
        return cancelled
    return future.exception()


def _key(key: str | None) -> bytes | None:
    return key.encode("utf-8") if key is not None else None


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions move to another member, commit what this member has finished with."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer.commit_finished(revoked)
        self._consumer.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "kafka_partitions_assigned", partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        )


class KafkaConsumer:
    """A consumer-group member with explicit commits; see the module docstring for the guarantees."""

    def __init__(
        self, settings: KafkaSettings, topics: list[str], group: str, *, retry_timeout: float
    ) -> None:
        if not settings.bootstrap:
            raise ConfigurationError("the Kafka bus needs kafka.bootstrap (EWARN_KAFKA__BOOTSTRAP)")
        self._settings = settings
        self._bootstrap: str = settings.bootstrap
        self._topics = topics
        self._group = group
        self._retry_timeout = retry_timeout
        self._consumer: Any = None
        # next offset per partition: handed to commit() by the runner / acknowledged by the group coordinator
        self._finished: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._consumer = await retry_transient(
            self._start, what="consumer_start", timeout=self._retry_timeout
        )

    async def stop(self) -> None:
        """Commit what is finished, then leave the group; the rest is redelivered to the next owner."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            await self._commit(consumer, consumer.assignment())
        finally:
            await consumer.stop()

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end offset as of the last fetch (None before one): what consumer lag is measured
        against, read from the fetch responses without another request to the broker."""
        if self._consumer is None:
            return None
        end = self._consumer.highwater(TopicPartition(topic, partition))
        return int(end) if end is not None else None

    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this member owns right now."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        consumer = self._require()
        try:
            batches = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            if not is_transient(exc):
                raise
            # The runner's loop simply asks again; the broker being away is not an error of any record.
            log.warning("kafka_fetch_retry", group=self._group, error=repr(exc))
            await asyncio.sleep(min(timeout, 1.0))
            return []
        return [to_record(message) for messages in batches.values() for message in messages]

    async def commit(self, records: Sequence[Record]) -> None:
        consumer = self._require()
        assigned = consumer.assignment()
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            # A partition that moved away mid-batch belongs to its new owner, who redelivers these records;
            # remembering them could later commit a stale offset over that owner's progress.
            if tp in assigned:
                self._finished[tp] = max(self._finished.get(tp, 0), record.offset + 1)
        await self._commit(consumer, assigned)

    async def commit_finished(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit the finished offsets of ``partitions`` (called from the rebalance listener)."""
        if self._consumer is not None:
            await self._commit(self._consumer, partitions)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop bookkeeping of partitions this member no longer owns; a new owner may be further along."""
        for tp in partitions:
            self._finished.pop(tp, None)
            self._committed.pop(tp, None)

    async def _commit(self, consumer: Any, partitions: Iterable[TopicPartition]) -> None:
        offsets = {
            tp: self._finished[tp]
            for tp in partitions
            if tp in self._finished and self._finished[tp] > self._committed.get(tp, -1)
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved these partitions on; the new owner starts from the last commit (at-least-once).
            log.warning("kafka_commit_skipped", group=self._group, partitions=len(offsets), error=repr(exc))
            return
        self._committed.update(offsets)

    async def _start(self) -> Any:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._settings.client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Members learn of a rebalance through heartbeats: 1 s (not 3 s) lets a new replica take its
            # partitions sooner, still well inside the 10 s session timeout.
            heartbeat_interval_ms=1000,
        )
        consumer.subscribe(self._topics, listener=_CommitOnRevoke(self))
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    def _require(self) -> Any:
        if self._consumer is None:
            raise RuntimeError("KafkaConsumer used before start() or after stop()")
        return self._consumer
