"""Which Kafka failures are worth waiting out, and the capped, jittered backoff the bus retries them with."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from ewarn.errors import TransientError
from ewarn.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

BACKOFF_BASE = 0.1
BACKOFF_MAX = 5.0


def is_transient(exc: BaseException) -> bool:
    """Connection loss, timeouts and errors Kafka itself marks retriable: try again later."""
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def backoff(attempt: int) -> float:
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
            delay = backoff(attempt)
            log.warning("kafka_retry", op=what, attempt=attempt, delay=round(delay, 3), error=repr(exc))
            await asyncio.sleep(delay)
