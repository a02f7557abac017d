"""Request rates per source address and per API key, and the budget of failed authentications.

The counting is the ``limits`` library's sliding-window counter on its in-process (asyncio) memory storage:
each API process keeps its own counts (several replicas behind a balancer each allow the full rate). A rate is
written in the library's notation ("120/minute", several joined by ";"); an empty rate switches that
throttle off.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from ewarn.errors import ConfigurationError
from ewarn.settings import ApiLimits

KNOWN_GOOD_KEYS = 10_000  # hashes of keys that authenticated lately (see ``AuthThrottle.blocked``)


def parse_rate(name: str, value: str) -> list[RateLimitItem]:
    """The rate items of one setting; a malformed rate stops start-up with the setting's name."""
    if not value.strip():
        return []
    try:
        return parse_many(value)
    except ValueError as exc:
        raise ConfigurationError(f"api.limits.{name}: {value!r} is not a rate such as '120/minute'") from exc


@dataclass(frozen=True)
class Rate:
    """One throttle: a named set of rate items on a shared limiter."""

    name: str
    items: list[RateLimitItem]
    limiter: SlidingWindowCounterRateLimiter

    async def hit(self, who: str) -> bool:
        """Count one request of ``who``; False when that exceeds the rate (the request is refused)."""
        allowed = True
        for item in self.items:
            allowed = await self.limiter.hit(item, self.name, who) and allowed
        return allowed

    async def exhausted(self, who: str) -> bool:
        """Whether ``who`` has no budget left, without counting anything."""
        for item in self.items:
            if not await self.limiter.test(item, self.name, who):
                return True
        return False

    async def retry_after(self, who: str) -> int:
        """Whole seconds until ``who`` may try again (at least 1)."""
        now = time.time()
        waits = [
            (await self.limiter.get_window_stats(item, self.name, who)).reset_time - now
            for item in self.items
            if not await self.limiter.test(item, self.name, who)
        ]
        return max(1, math.ceil(max(waits, default=1.0)))


class Throttle:
    """Every rate of the API, built once per application from ``api.limits``."""

    def __init__(self, limits: ApiLimits) -> None:
        limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.per_address = Rate("address", parse_rate("rate_per_address", limits.rate_per_address), limiter)
        self.per_principal = Rate(
            "principal", parse_rate("rate_per_principal", limits.rate_per_principal), limiter
        )
        self.auth = AuthThrottle(
            per_address=Rate(
                "auth-address",
                parse_rate("auth_failures_per_address", limits.auth_failures_per_address),
                limiter,
            ),
            per_key_id=Rate(
                "auth-key-id",
                parse_rate("auth_failures_per_key_id", limits.auth_failures_per_key_id),
                limiter,
            ),
        )


class AuthThrottle:
    """Failed authentications per source address and per claimed key id.

    Once an address has spent its budget, further keys from it are refused with 429 before the database is
    asked, except keys that authenticated lately: several hospitals behind one NAT address keep working
    while someone there floods wrong keys. Only keys seen to be valid get in that set, so guessing cannot
    use it. Once a key id has spent its budget, wrong secrets for it get 429 instead of 401 but the key
    itself is still looked up, so nobody can lock a hospital out by sending wrong secrets with its key id.
    """

    def __init__(self, *, per_address: Rate, per_key_id: Rate) -> None:
        self.per_address = per_address
        self.per_key_id = per_key_id
        self._known_good: OrderedDict[str, None] = OrderedDict()

    async def blocked(self, *, address: str, key_hash: str) -> int | None:
        """Seconds to wait when this attempt is refused without a lookup, else None."""
        if key_hash in self._known_good or not await self.per_address.exhausted(address):
            return None
        return await self.per_address.retry_after(address)

    async def key_id_blocked(self, key_id: str | None) -> int | None:
        """Seconds to wait when a wrong secret for ``key_id`` is answered 429 rather than 401, else None."""
        if key_id is None or not await self.per_key_id.exhausted(key_id):
            return None
        return await self.per_key_id.retry_after(key_id)

    async def failed(self, *, address: str, key_id: str | None) -> bool:
        """Count a failed authentication; True when that spent a budget (later attempts get 429)."""
        await self.per_address.hit(address)
        if key_id is not None:
            await self.per_key_id.hit(key_id)
        return await self.per_address.exhausted(address) or (
            key_id is not None and await self.per_key_id.exhausted(key_id)
        )

    def succeeded(self, key_hash: str) -> None:
        self._known_good[key_hash] = None
        self._known_good.move_to_end(key_hash)
        while len(self._known_good) > KNOWN_GOOD_KEYS:
            self._known_good.popitem(last=False)
