"""Which claimed job starts next: a global limit, a per-endpoint limit, round-robin between endpoints.

Claimed jobs wait here (under their database lease) until a slot is free. A small read-ahead — as many
waiting jobs as there are slots — keeps the slots busy while the next claim is on its way to the database.
An endpoint with its own read-ahead full is not claimed for, so a slow endpoint's backlog stays in the
outbox instead of crowding out other endpoints here.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Slots(Generic[T]):
    def __init__(self, *, concurrency: int, per_endpoint: int) -> None:
        self.concurrency = max(1, concurrency)
        self.per_endpoint = max(1, min(per_endpoint, self.concurrency))
        self.busy = 0
        self.in_flight: Counter[str] = Counter()
        self._ready: dict[str, deque[T]] = {}
        self.waiting = 0

    def add(self, endpoint: str, item: T) -> None:
        self._ready.setdefault(endpoint, deque()).append(item)
        self.waiting += 1

    def take(self) -> tuple[str, T] | None:
        """The next job to start (and count it as running), or None if none may start now."""
        if self.busy >= self.concurrency:
            return None
        for endpoint in list(self._ready):
            if self.in_flight[endpoint] >= self.per_endpoint:
                continue
            queue = self._ready.pop(endpoint)
            item = queue.popleft()
            if queue:
                self._ready[endpoint] = queue  # re-inserted last: the next take starts with another endpoint
            self.waiting -= 1
            self.busy += 1
            self.in_flight[endpoint] += 1
            return endpoint, item
        return None

    def finished(self, endpoint: str) -> None:
        self.busy -= 1
        self.in_flight[endpoint] -= 1
        if self.in_flight[endpoint] <= 0:
            del self.in_flight[endpoint]

    def room(self) -> int:
        """How many more jobs a claim may bring in (running + waiting stay within twice the slots)."""
        return max(0, 2 * self.concurrency - self.busy - self.waiting)

    def wants_more(self) -> bool:
        """Claim again once the read-ahead has fallen below one slot's worth per slot."""
        return self.waiting < self.concurrency and self.room() > 0

    def space(self, endpoint: str) -> int:
        """How many more jobs this endpoint's read-ahead takes."""
        return max(0, 2 * self.per_endpoint - self.in_flight[endpoint] - len(self._ready.get(endpoint, ())))

    def is_full(self, endpoint: str) -> bool:
        return self.space(endpoint) == 0

    def full_endpoints(self) -> set[str]:
        """Endpoints with their own read-ahead full: not to be claimed for now."""
        limit = 2 * self.per_endpoint
        return {
            e
            for e in set(self.in_flight) | set(self._ready)
            if self.in_flight[e] + len(self._ready.get(e, ())) >= limit
        }

    def drain(self) -> list[T]:
        """Everything still waiting (on shutdown, to hand back)."""
        items = [item for queue in self._ready.values() for item in queue]
        self._ready.clear()
        self.waiting = 0
        return items
