"""The one loop that consumes a topic for a stage: decode, handle, dead-letter or retry, then commit.

Stages never touch the bus themselves: they get a record (or a batch) and return; the runner commits offsets
only after the handler returned, i.e. after the stage's output is durably stored or acknowledged (at-least-once).

Batches adapt to load by themselves: a fetch returns what is available now, up to ``batch_size``, and never
waits for more once one record is there. An idle stage gets batches of one (no added latency); under load the
records that arrived while a batch was handled make up the next, larger batch. A stage with a batch handler
does its reads, writes and publishes once per batch; if the batch fails, that batch is handled again record by
record, so one poison record is dead-lettered alone and the others still go through.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from ewarn.bus.base import Bus, Consumer, Record
from ewarn.errors import PoisonRecordError, TransientError
from ewarn.logging import get_logger
from ewarn.status.metrics import DEAD_LETTERS, STAGE_RETRIES, observe_fetch, register_stage

log = get_logger(__name__)

# Errors a record raises again on every attempt: the stage's code cannot handle that record.
_DETERMINISTIC = (
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    AssertionError,
    NotImplementedError,
    RecursionError,
)


def same_every_time(exc: BaseException) -> bool:
    """True for an error retrying the same record cannot cure (outages and timeouts are not among them)."""
    if isinstance(exc, TransientError):
        return False
    if isinstance(exc, _DETERMINISTIC):
        return True
    # a database's data exception (SQLSTATE class 22: too long, invalid text...), read without importing a driver
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return str(sqlstate or "").startswith("22")


BatchHandler = Callable[[Sequence[Record]], Awaitable[None]]
# How often a whole batch is tried again through an outage before its records are handled one by one.
_BATCH_OUTAGE_ATTEMPTS = 3
RecordHandler = Callable[[Record], Awaitable[None]]


@dataclass
class RunnerStats:
    processed: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


class StageRunner:
    """Runs ``handler`` for every record (or ``batch_handler`` per batch) of ``topics`` in group ``group``.

    - ``PoisonRecordError`` / ``ValidationError`` / undecodable bytes: the record goes to the dead-letter topic
      with the original bytes and headers naming stage, error and source offset; the stage moves on.
    - An error the same record would raise every time (a ``TypeError``, ``KeyError``… met in the stage's code,
      or a value the database refuses, SQLSTATE class 22) is retried ``deterministic_attempts`` times, then
      dead-lettered the same way: one record must not stop its partition for good.
    - ``TransientError`` (or any other exception): the record is retried with capped exponential backoff and
      jitter, never skipped; offsets are not committed past it.
    """

    def __init__(
        self,
        *,
        bus: Bus,
        topics: Sequence[str],
        group: str,
        stage: str,
        handler: RecordHandler,
        dlq_topic: str,
        batch_size: int = 500,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        after_batch: Callable[[], Awaitable[None]] | None = None,
        deterministic_attempts: int = 5,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self._bus = bus
        self._topics = list(topics)
        self._group = group
        self._stage = stage
        self._handler = handler
        self._batch_handler = batch_handler
        self._dlq = dlq_topic
        self._batch_size = batch_size
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._after_batch = after_batch
        self._deterministic_attempts = deterministic_attempts
        self._stopping = asyncio.Event()
        self._consumer: Consumer | None = None
        self.stats = RunnerStats()
        register_stage(stage)

    def stop(self) -> None:
        """Ask the loop to finish the batch in flight, commit it and return."""
        self._stopping.set()

    async def run(self) -> None:
        consumer = self._bus.consumer(self._topics, group=self._group)
        self._consumer = consumer
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batch = await consumer.fetch(max_records=self._batch_size, timeout=0.5)
                observe_fetch(self._group, consumer, batch)
                if not batch:
                    continue
                await self._handle_batch(batch)
                if self._after_batch is not None:
                    await self._after_batch()
                await consumer.commit(batch)
        finally:
            await consumer.stop()

    async def _handle_batch(self, batch: Sequence[Record]) -> None:
        """The batch handler once for the whole batch; on any error, every record of it alone (with retries).

        An outage (``TransientError``) is no fault of any record: the whole batch is tried again a few times
        first, so a broker or database blip under load does not turn one batch into hundreds of round trips.
        """
        attempt = 0
        while self._batch_handler is not None and len(batch) > 1:
            try:
                await self._batch_handler(batch)
            except TransientError as exc:
                attempt += 1
                if attempt > _BATCH_OUTAGE_ATTEMPTS or self._stopping.is_set():
                    self._fall_back(batch, exc)
                    break
                await self._back_off(batch[0], exc, attempt)
            except Exception as exc:  # a poison record among them: the per-record path finds which
                self._fall_back(batch, exc)
                break
            else:
                self.stats.processed += len(batch)
                return
        for record in batch:
            await self._handle_with_retry(record)

    def _fall_back(self, batch: Sequence[Record], exc: Exception) -> None:
        log.warning(
            "stage_batch_fallback",
            stage=self._stage,
            records=len(batch),
            error=f"{type(exc).__name__}: {str(exc)[:500]}",
        )

    async def _handle_with_retry(self, record: Record) -> None:
        attempt = 0
        while True:
            try:
                await self._handler(record)
                self.stats.processed += 1
                return
            except (PoisonRecordError, ValidationError, UnicodeDecodeError, ValueError) as exc:
                await self._dead_letter(record, exc)
                return
            except Exception as exc:  # TransientError and anything unexpected: retry, never skip
                attempt += 1
                if attempt >= self._deterministic_attempts and same_every_time(exc):
                    await self._dead_letter(record, exc, attempts=attempt)
                    return
                delay = self._note_retry(record, exc, attempt)
                if self._stopping.is_set() and attempt > 3:
                    raise
                await asyncio.sleep(delay)

    async def _back_off(self, record: Record, exc: Exception, attempt: int) -> None:
        await asyncio.sleep(self._note_retry(record, exc, attempt))

    def _note_retry(self, record: Record, exc: Exception, attempt: int) -> float:
        """Count and log a retry of ``record`` (or of the batch it starts); returns the capped, jittered delay."""
        self.stats.retries += 1
        STAGE_RETRIES.labels(stage=self._stage).inc()
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        delay: float = min(self._backoff_max, self._backoff_base * (2 ** min(attempt, 16)))
        delay = delay * (0.5 + random.random() / 2)
        log.warning(
            "stage_retry",
            stage=self._stage,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempt=attempt,
            delay=round(delay, 3),
            error=self.stats.last_error,
            transient=isinstance(exc, TransientError),
        )
        return delay

    async def _dead_letter(self, record: Record, exc: Exception, *, attempts: int = 1) -> None:
        headers = dict(record.headers)
        after = f" (the same error {attempts} times)" if attempts > 1 else ""
        headers.update(
            {
                "ewarn-stage": self._stage.encode(),
                "ewarn-error": f"{type(exc).__name__}: {exc}{after}"[:4000].encode("utf-8", "replace"),
                "ewarn-source-topic": record.topic.encode(),
                "ewarn-source-partition": str(record.partition).encode(),
                "ewarn-source-offset": str(record.offset).encode(),
            }
        )
        await self._bus.publish(self._dlq, key=record.key, value=record.value, headers=headers)
        self.stats.dead_lettered += 1
        DEAD_LETTERS.labels(stage=self._stage).inc()
        log.error(
            "dead_lettered",
            stage=self._stage,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=f"{type(exc).__name__}: {str(exc)[:500]}",
        )
