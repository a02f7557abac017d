"""A Kafka consumer-group member with explicit commits (see ``ewarn.bus.kafka`` for the guarantees).

Commits run in the background by default (``kafka.commit_in_background``): ``commit`` records the offsets the
runner finished with and starts a commit task if none is running; the runner goes on to the next fetch at
once instead of waiting one broker round trip per batch. Only offsets of handled records are ever committed,
at most one commit is in flight, and a commit still running is awaited before partitions are revoked and
before the member leaves, so at-least-once and the order per partition are what they were. A commit error
that is not a lost membership surfaces at the next ``commit`` call, as it did when commits were awaited.

Measured (``bench/pipeline_kafka.py`` traces, load average about 9 on the shared 2-core machine): an awaited
commit held the correlate runner 9 to 12 ms (p50; p90 20 to 35 ms) and the dispatch runner 30 to 35 ms (p90
60 to 70 ms) between one batch and the next fetch; in the background, 0.1 ms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from ewarn.bus.base import Record
from ewarn.bus.kafka_retry import is_transient, retry_transient
from ewarn.bus.trace import BatchTrace
from ewarn.errors import ConfigurationError
from ewarn.logging import get_logger
from ewarn.settings import KafkaSettings

log = get_logger(__name__)


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


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions move to another member, commit what this member has finished with."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer.settle_background_commit()
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
        self._background = settings.commit_in_background
        self._commit_task: asyncio.Task[None] | None = None
        self._commit_wanted = False
        self._trace = BatchTrace(settings.trace_file, group) if settings.trace_file else None

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
            await self.settle_background_commit()
            await self._commit(consumer, consumer.assignment())
        finally:
            await consumer.stop()
            if self._trace is not None:
                self._trace.close()

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
        """What the fetcher holds now, up to ``max_records``; waits up to ``timeout`` only while it holds none.

        aiokafka keeps one fetch per broker in flight in the background (a long poll answered as soon as
        ``fetch_min_bytes`` are there), so records that arrive while a batch is being handled are ready for
        the next call: batches are small when idle and grow with the load, without a wait of their own.
        """
        consumer = self._require()
        if self._trace is not None:
            self._trace.asking()
        try:
            batches = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            if not is_transient(exc):
                raise
            # The runner's loop simply asks again; the broker being away is not an error of any record.
            log.warning("kafka_fetch_retry", group=self._group, error=repr(exc))
            await asyncio.sleep(min(timeout, 1.0))
            return []
        if batches and self._trace is not None:
            self._trace.fetched()
        return [to_record(message) for messages in batches.values() for message in messages]

    async def commit(self, records: Sequence[Record]) -> None:
        consumer = self._require()
        self._raise_background_failure()
        assigned = consumer.assignment()
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            # A partition that moved away mid-batch belongs to its new owner, who redelivers these records;
            # remembering them could later commit a stale offset over that owner's progress.
            if tp in assigned:
                self._finished[tp] = max(self._finished.get(tp, 0), record.offset + 1)
        if self._trace is not None:
            self._trace.handled(records)
        if not self._background:
            await self._commit(consumer, assigned)
            return
        self._commit_wanted = True
        if self._commit_task is None:
            self._commit_task = asyncio.create_task(self._commit_behind(consumer), name="kafka-commit")

    async def settle_background_commit(self) -> None:
        """Wait for the commit in flight (if any); its failure is logged, the caller commits again anyway."""
        task, self._commit_task = self._commit_task, None
        if task is None:
            return
        try:
            await task
        except Exception as exc:
            log.warning("kafka_commit_failed", group=self._group, error=repr(exc))

    async def commit_finished(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit the finished offsets of ``partitions`` (called from the rebalance listener)."""
        if self._consumer is not None:
            await self._commit(self._consumer, partitions)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop bookkeeping of partitions this member no longer owns; a new owner may be further along."""
        for tp in partitions:
            self._finished.pop(tp, None)
            self._committed.pop(tp, None)

    async def _commit_behind(self, consumer: Any) -> None:
        """Commit until no newer finished offsets wait: one commit in flight, the latest offsets each time."""
        while self._commit_wanted:
            self._commit_wanted = False
            await self._commit(consumer, consumer.assignment())

    def _raise_background_failure(self) -> None:
        task = self._commit_task
        if task is None or not task.done():
            return
        self._commit_task = None
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error

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
        for tp, offset in offsets.items():
            self._committed[tp] = max(self._committed.get(tp, -1), offset)

    async def _start(self) -> Any:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._settings.client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
            fetch_min_bytes=self._settings.fetch_min_bytes,
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
