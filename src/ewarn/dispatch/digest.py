"""Digest windows: which period an alert falls in, and when that period's single message is due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ewarn.ids import stable_id
from ewarn.models.subscription import Digest


@dataclass(frozen=True)
class Window:
    key: str  # "hourly:2024-05-01T13" / "daily:2024-05-01"
    ends_at: datetime  # the digest is sent then


def window_for(digest: Digest, at: datetime) -> Window:
    """The UTC hour or day containing ``at``."""
    at = at.astimezone(UTC)
    if digest is Digest.HOURLY:
        start = at.replace(minute=0, second=0, microsecond=0)
        return Window(key=f"hourly:{start:%Y-%m-%dT%H}", ends_at=start + timedelta(hours=1))
    if digest is Digest.DAILY:
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(key=f"daily:{start:%Y-%m-%d}", ends_at=start + timedelta(days=1))
    raise ValueError(f"no digest window for {digest}")


def period_of(key: str) -> str:
    return key.split(":", 1)[0]


def window_from_key(key: str) -> Window:
    """The window a key names ("hourly:2024-05-01T13" → that hour, UTC)."""
    period, _, stamp = key.partition(":")
    digest = Digest(period)
    start = datetime.strptime(stamp, "%Y-%m-%dT%H" if digest is Digest.HOURLY else "%Y-%m-%d")
    return window_for(digest, start.replace(tzinfo=UTC))


def digest_message_id(subscription_id: str, delivery_ids: Iterable[str]) -> str:
    """Stable across retries of the same set of alerts, so receivers can deduplicate a digest too."""
    return stable_id("dig", subscription_id, *sorted(delivery_ids))
