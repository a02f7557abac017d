"""A circuit breaker per endpoint, so one dead receiver does not hold delivery slots others need.

State is per process on purpose: each dispatch process learns on its own that an endpoint is down, which
costs at most ``failure_threshold`` extra attempts per process and needs no shared store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None
    open_seconds: float = 0.0
    probing: bool = False
    probe_started: float = 0.0


class CircuitBreaker:
    """Closed → (``failure_threshold`` failures in a row) → open a while → a probe → closed or open longer."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        open_seconds: float = 5.0,
        max_open_seconds: float = 300.0,
        probe_timeout_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self._open_seconds = open_seconds
        self._max_open_seconds = max_open_seconds
        self._probe_timeout = probe_timeout_seconds
        self._clock = clock
        self._states: dict[str, _State] = {}

    def allow(self, endpoint: str) -> bool:
        """May a request go to ``endpoint`` now? In half-open state only one probe is let through."""
        state = self._states.get(endpoint)
        if state is None or state.open_until is None:
            return True
        now = self._clock()
        if now < state.open_until:
            return False
        # A probe whose outcome never came back (its task died) must not keep the circuit open forever.
        if state.probing and now - state.probe_started < self._probe_timeout:
            return False
        state.probing = True
        state.probe_started = now
        return True

    def is_open(self, endpoint: str) -> bool:
        """True while requests to ``endpoint`` are held back (open, or half-open with its probe out)."""
        state = self._states.get(endpoint)
        if state is None or state.open_until is None:
            return False
        return state.probing or self._clock() < state.open_until

    def seconds_until_retry(self, endpoint: str) -> float:
        state = self._states.get(endpoint)
        if state is None or state.open_until is None:
            return 0.0
        return max(0.0, state.open_until - self._clock())

    def record(self, endpoint: str, *, healthy: bool) -> None:
        state = self._states.setdefault(endpoint, _State())
        if healthy:
            self._states.pop(endpoint, None)
            return
        state.failures += 1
        if state.probing or (state.open_until is None and state.failures >= self._threshold):
            state.open_seconds = (
                self._open_seconds
                if state.open_seconds == 0
                else min(self._max_open_seconds, state.open_seconds * 2)
            )
            state.open_until = self._clock() + state.open_seconds
            state.probing = False

    def open_endpoints(self) -> list[str]:
        return [name for name in self._states if self.is_open(name)]
