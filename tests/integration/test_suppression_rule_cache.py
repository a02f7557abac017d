"""The correlator skips the rule query for providers without rules, and a new rule still applies in time.

A rule written in this process applies to the very next batch; one written by another process (here: a Core
insert, which no ORM session sees) applies once the cached provider set is ``ttl`` seconds old.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.correlate_seed import seed_inventory

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.correlate.suppression import RuleProviders, apply_suppressions
from ewarn.correlate.worker import CorrelateWorker
from ewarn.models import Asset, AssetKind, Indicator, IndicatorType, SourceRef
from ewarn.models.workflow import SuppressionRuleIn
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.suppressions import create_rule
from ewarn.store.tables import AlertRow, SuppressionRuleRow

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PACS = Asset(id="pacs", provider_id="prov-a", kind=AssetKind.NETWORK, name="PACS DMZ", value="203.0.113.0/24")


def c2(value: str) -> Indicator:
    return Indicator(
        key=f"ipv4:{value}",
        type=IndicatorType.IPV4,
        value=value,
        source=SourceRef(feed_id="feodo", feed_kind="ioc_list", record="1"),
        labels=["c2"],
        confidence=90,
    )


@pytest.fixture
async def worker(sqlite_sessions: SessionFactory, memory_bus: MemoryBus) -> CorrelateWorker:
    await seed_inventory(sqlite_sessions, (PACS,), now=NOW, names={"prov-a": "A"})
    w = CorrelateWorker(memory_bus, sqlite_sessions, Topics(), clock=lambda: NOW)
    assert await w.load_assets() == 1
    return w


async def _hits(sessions: SessionFactory) -> list[int]:
    async with sessions() as session:
        return list(await session.scalars(select(SuppressionRuleRow.hits)))


async def test_a_rule_made_in_this_process_applies_to_the_next_batch(
    worker: CorrelateWorker, sqlite_sessions: SessionFactory
) -> None:
    (first,) = await worker.handle_indicator(c2("203.0.113.8"))  # the provider set is read: no rules
    async with sqlite_sessions() as session, session.begin():
        await create_rule(
            session=session,
            rule=SuppressionRuleIn(
                provider_id="prov-a", asset_id="pacs", indicator_key="ipv4:203.0.113.7", reason="scanner"
            ),
            created_by="key_soc",
            now=NOW,
        )
    assert await worker.handle_indicator(c2("203.0.113.7")) == []
    async with sqlite_sessions() as session:
        stored = set(await session.scalars(select(AlertRow.indicator_key)))
    assert (first.indicator_key, stored, await _hits(sqlite_sessions)) == (
        "ipv4:203.0.113.8",
        {"ipv4:203.0.113.8"},
        [1],
    )


@pytest.mark.parametrize(
    ("seconds_later", "suppressed"),
    [
        pytest.param(0.5, False, id="within-ttl-the-cached-set-holds"),
        pytest.param(2.0, True, id="after-ttl-the-rule-applies"),
    ],
)
async def test_a_rule_written_by_another_process_applies_within_the_ttl(
    worker: CorrelateWorker, sqlite_sessions: SessionFactory, seconds_later: float, suppressed: bool
) -> None:
    (alert,) = await worker.handle_indicator(c2("203.0.113.7"))
    clock = [100.0]
    providers = RuleProviders(ttl=2.0, monotonic=lambda: clock[0])
    kept, gone = await apply_suppressions(sqlite_sessions, [alert], now=NOW, rule_providers=providers)
    assert (kept, gone) == ([alert], [])
    engine = sqlite_sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    async with engine.begin() as conn:  # Core, no ORM session: as another process's write looks here
        await conn.execute(
            insert(SuppressionRuleRow).values(
                id="sup_other_process",
                provider_id="prov-a",
                asset_id="pacs",
                indicator_key="ipv4:203.0.113.7",
                reason="scanner",
                created_by="key_soc",
                created_at=NOW,
                hits=0,
            )
        )
    clock[0] += seconds_later
    kept, gone = await apply_suppressions(sqlite_sessions, [alert], now=NOW, rule_providers=providers)
    assert ([s.rule_id for s in gone], kept) == ((["sup_other_process"], []) if suppressed else ([], [alert]))
    # without the cache the rule applies at once
    kept, gone = await apply_suppressions(sqlite_sessions, [alert], now=NOW)
    assert ([s.rule_id for s in gone], kept) == (["sup_other_process"], [])
