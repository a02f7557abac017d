"""Tell every correlator that a provider's inventory changed, so it reloads that provider and retro-hunts."""

from __future__ import annotations

from collections.abc import Sequence

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.models.asset import AssetChange
from ewarn.models.common import utcnow

# A change of a whole SBOM can name tens of thousands of ids; split it so no record nears Kafka's 1 MB limit.
MAX_IDS_PER_RECORD = 1000


def asset_changes(
    *, provider_id: str, changed: Sequence[str], removed: Sequence[str], max_ids: int = MAX_IDS_PER_RECORD
) -> list[AssetChange]:
    """The records announcing a change, in order; none when nothing changed."""
    at = utcnow()
    tagged = [(i, False) for i in dict.fromkeys(changed)] + [(i, True) for i in dict.fromkeys(removed)]
    records: list[AssetChange] = []
    for start in range(0, len(tagged), max_ids):
        batch = tagged[start : start + max_ids]
        records.append(
            AssetChange(
                provider_id=provider_id,
                changed_asset_ids=[i for i, gone in batch if not gone],
                removed_asset_ids=[i for i, gone in batch if gone],
                changed_at=at,
            )
        )
    return records


async def publish_asset_change(
    *, bus: Bus, topics: Topics, provider_id: str, changed: Sequence[str], removed: Sequence[str] = ()
) -> list[AssetChange]:
    """Publish to the compacted assets topic keyed by provider id; call only after the DB commit."""
    records = asset_changes(provider_id=provider_id, changed=changed, removed=removed)
    if records:
        await bus.publish_many(
            topics.assets, [(provider_id, r.model_dump_json().encode("utf-8")) for r in records]
        )
    return records
