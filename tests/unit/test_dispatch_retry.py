"""Backoff, Retry-After, the retry plan and the circuit breaker: pure functions, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ewarn.dispatch.breaker import CircuitBreaker
from ewarn.dispatch.retry import (
    RETRY_AFTER_CAP_SECONDS,
    Verdict,
    backoff_delay,
    classify,
    endpoint_unhealthy,
    parse_retry_after,
    plan_next,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        pytest.param(1, 1.0, 1.0, id="first-retry-ceiling-is-base"),
        pytest.param(2, 1.0, 2.0, id="doubles"),
        pytest.param(4, 1.0, 8.0, id="exponential"),
        pytest.param(20, 1.0, 300.0, id="capped"),
        pytest.param(3, 0.0, 0.0, id="full-jitter-can-be-zero"),
        pytest.param(3, 0.5, 2.0, id="full-jitter-half"),
        pytest.param(10_000, 1.0, 300.0, id="huge-attempt-no-overflow"),
    ],
)
def test_backoff_full_jitter(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, base=1.0, cap=300.0, rand=lambda: rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="delay-seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("Wed, 01 May 2024 12:00:30 GMT", 30.0, id="http-date"),
        pytest.param("Wed, 01 May 2024 11:00:00 GMT", 0.0, id="http-date-in-past"),
        pytest.param("99999999", RETRY_AFTER_CAP_SECONDS, id="capped"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
        pytest.param("-5", None, id="negative-is-garbage"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    got = parse_retry_after(value, now=NOW)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("code", "verdict", "unhealthy"),
    [
        pytest.param(200, Verdict.DELIVERED, False, id="200"),
        pytest.param(204, Verdict.DELIVERED, False, id="204"),
        pytest.param(410, Verdict.GONE, False, id="410-gone"),
        pytest.param(429, Verdict.RETRY, True, id="429"),
        pytest.param(503, Verdict.RETRY, True, id="503"),
        pytest.param(500, Verdict.RETRY, True, id="500"),
        pytest.param(401, Verdict.RETRY, False, id="401-receiver-being-fixed"),
        pytest.param(None, Verdict.RETRY, True, id="no-answer"),
    ],
)
def test_classify(code: int | None, verdict: Verdict, unhealthy: bool) -> None:
    assert classify(code) is verdict
    assert endpoint_unhealthy(code) is unhealthy


def _plan(verdict: Verdict, used: int, retry_after: float | None = None) -> tuple[bool, float | None]:
    plan = plan_next(
        verdict=verdict,
        attempts_used=used,
        max_attempts=5,
        now=NOW,
        retry_after=retry_after,
        base=1.0,
        cap=60.0,
        rand=lambda: 1.0,
    )
    delay = (plan.next_attempt_at - NOW).total_seconds() if plan.next_attempt_at else None
    return plan.final, delay


@pytest.mark.parametrize(
    ("verdict", "used", "retry_after", "final", "delay"),
    [
        pytest.param(Verdict.DELIVERED, 1, None, True, None, id="delivered-final"),
        pytest.param(Verdict.GONE, 1, None, True, None, id="gone-final"),
        pytest.param(Verdict.REFUSED, 1, None, True, None, id="refused-final"),
        pytest.param(Verdict.RETRY, 1, None, False, 1.0, id="retry-1"),
        pytest.param(Verdict.RETRY, 3, None, False, 4.0, id="retry-3"),
        pytest.param(Verdict.RETRY, 5, None, True, None, id="budget-spent-dead"),
        pytest.param(Verdict.RETRY, 1, 30.0, False, 30.0, id="retry-after-is-a-floor"),
        pytest.param(Verdict.RETRY, 4, 2.0, False, 8.0, id="backoff-above-retry-after"),
    ],
)
def test_plan_next(
    verdict: Verdict, used: int, retry_after: float | None, final: bool, delay: float | None
) -> None:
    assert _plan(verdict, used, retry_after) == (final, delay)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_probes_once() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, open_seconds=10, max_open_seconds=40, clock=clock)
    for _ in range(2):
        breaker.record("h:443", healthy=False)
    assert breaker.allow("h:443") and not breaker.is_open("h:443")
    breaker.record("h:443", healthy=False)
    assert breaker.is_open("h:443") and not breaker.allow("h:443")
    assert breaker.allow("other:443"), "one endpoint's circuit says nothing about another"
    assert breaker.seconds_until_retry("h:443") == pytest.approx(10)
    clock.now += 10
    assert breaker.allow("h:443"), "half-open: one probe"
    assert not breaker.allow("h:443"), "only one probe at a time"
    breaker.record("h:443", healthy=False)
    assert breaker.seconds_until_retry("h:443") == pytest.approx(20), "a failed probe doubles the open time"
    clock.now += 20
    assert breaker.allow("h:443")
    breaker.record("h:443", healthy=True)
    assert not breaker.is_open("h:443") and breaker.allow("h:443") and breaker.open_endpoints() == []


def test_breaker_open_time_is_capped_and_lost_probe_expires() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        failure_threshold=1, open_seconds=10, max_open_seconds=15, probe_timeout_seconds=60, clock=clock
    )
    breaker.record("h", healthy=False)
    for _ in range(3):
        clock.now += 100
        assert breaker.allow("h")
        breaker.record("h", healthy=False)
    assert breaker.seconds_until_retry("h") == pytest.approx(15)
    clock.now += 15
    assert breaker.allow("h")
    clock.now += 61
    assert breaker.allow("h"), "a probe that never reported back does not keep the circuit open forever"


def test_retry_schedule_grows_then_dies() -> None:
    delays = []
    used = 1
    while True:
        final, delay = _plan(Verdict.RETRY, used)
        if final:
            break
        delays.append(delay)
        used += 1
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert used == 5
    assert timedelta(seconds=sum(d for d in delays if d)) == timedelta(seconds=15)
