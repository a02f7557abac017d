"""Per-provider submission quotas (sightings per hour), counted with the ``limits`` library.

Like the API's request throttles (``ewarn.api.limits.throttle``) the counts live in the API process: several
API replicas each allow the full quota.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerHour
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class SightingQuota:
    """At most ``per_hour`` sightings of one provider in any hour (a moving window)."""

    def __init__(self, per_hour: int) -> None:
        self._item = RateLimitItemPerHour(per_hour)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def take(self, provider_id: str, cost: int = 1) -> bool:
        """Count ``cost`` sightings of ``provider_id``; False (nothing counted) when that exceeds the quota."""
        return await self._limiter.hit(self._item, "sightings", provider_id, cost=cost)

    async def retry_after(self, provider_id: str) -> int:
        """Seconds until the provider may submit again."""
        stats = await self._limiter.get_window_stats(self._item, "sightings", provider_id)
        return max(1, math.ceil(stats.reset_time - time.time()))
