"""When to try a delivery again: pure functions over an attempt's outcome."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

# An endpoint may ask for a long pause; past this we keep retrying anyway rather than sit on a warning.
RETRY_AFTER_CAP_SECONDS = 6 * 3600.0


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # try again later (network error, timeout, any other non-2xx)
    GONE = "gone"  # 410: the receiver says this endpoint will never take deliveries again
    REFUSED = "refused"  # we will not send there (SSRF guard, TLP): retrying cannot help


def classify(status_code: int | None) -> Verdict:
    """2xx delivered, 410 gone; everything else is retried (a 401 may be a receiver being fixed)."""
    if status_code is None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.RETRY


def endpoint_unhealthy(status_code: int | None) -> bool:
    """Signals that count against the endpoint's circuit breaker: no answer, overload, server errors."""
    return status_code is None or status_code == 429 or status_code >= 500


def backoff_delay(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempt-1))].

    Full jitter spreads the retries of many deliveries that failed together (an endpoint outage) instead
    of sending them back in synchronised waves.
    """
    ceiling = min(cap, base * 2.0 ** max(0, min(attempt - 1, 62)))
    return ceiling * rand()


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), RETRY_AFTER_CAP_SECONDS)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=now.tzinfo)
    return min(max(0.0, (when - now).total_seconds()), RETRY_AFTER_CAP_SECONDS)


@dataclass(frozen=True)
class Plan:
    """What to do with a delivery after an attempt."""

    verdict: Verdict
    final: bool  # delivered, dead, or the subscription is gone
    next_attempt_at: datetime | None = None


def plan_next(
    *,
    verdict: Verdict,
    attempts_used: int,
    max_attempts: int,
    now: datetime,
    retry_after: float | None,
    base: float,
    cap: float,
    rand: Callable[[], float] = random.random,
) -> Plan:
    """Delivered, gone and refused are final; a retry is final (dead) once the attempt budget is spent."""
    if verdict is not Verdict.RETRY:
        return Plan(verdict=verdict, final=True)
    if attempts_used >= max_attempts:
        return Plan(verdict=verdict, final=True)
    delay = backoff_delay(attempts_used, base=base, cap=cap, rand=rand)
    if retry_after is not None:
        delay = max(delay, retry_after)  # the receiver's wish is a floor, our own backoff may add to it
    return Plan(verdict=verdict, final=False, next_attempt_at=now + timedelta(seconds=delay))
