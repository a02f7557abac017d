"""Inventory change records on the compacted assets topic."""

from __future__ import annotations

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.inventory.changes import asset_changes, publish_asset_change
from ewarn.models.asset import AssetChange


def test_large_changes_are_split_and_keep_every_id_once() -> None:
    changed = [f"ast_{i}" for i in range(5)] + ["ast_0"]
    records = asset_changes(provider_id="p", changed=changed, removed=["ast_x", "ast_y"], max_ids=3)
    assert [(r.changed_asset_ids, r.removed_asset_ids) for r in records] == [
        (["ast_0", "ast_1", "ast_2"], []),
        (["ast_3", "ast_4"], ["ast_x"]),
        ([], ["ast_y"]),
    ]
    assert len({r.changed_at for r in records}) == 1


async def test_publish_keys_by_provider_and_skips_empty_changes() -> None:
    bus, topics = MemoryBus(), Topics(prefix="t")
    assert await publish_asset_change(bus=bus, topics=topics, provider_id="p", changed=[], removed=[]) == []
    assert bus.size(topics.assets) == 0

    await publish_asset_change(bus=bus, topics=topics, provider_id="p", changed=["ast_1"], removed=["ast_2"])
    [record] = bus.records(topics.assets)
    change = AssetChange.model_validate_json(record.value)
    assert record.key == "p"
    assert (change.provider_id, change.changed_asset_ids, change.removed_asset_ids) == (
        "p",
        ["ast_1"],
        ["ast_2"],
    )
