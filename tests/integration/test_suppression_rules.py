"""Suppression rules applied by the real correlate worker: a covered match is counted on its rule, not raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.correlate_seed import seed_inventory

from ewarn.actions.playbooks import PlaybookRule
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.correlate.suppression import SUPPRESSED, covers
from ewarn.correlate.worker import CorrelateSettings, CorrelateWorker
from ewarn.models import (
    AffectedProduct,
    Alert,
    Asset,
    AssetKind,
    Indicator,
    IndicatorType,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.models.workflow import SuppressionRuleIn
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.suppressions import create_rule
from ewarn.store.tables import AlertRow, SuppressionRuleRow

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PUMP = Asset(
    id="pump",
    provider_id="prov-a",
    kind=AssetKind.MEDICAL_DEVICE,
    name="ICU pumps",
    vendor="BD",
    product="Alaris Infusion Pump",
    version="12.1.0",
)
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


ADVISORY = Indicator(
    key="vulnerability:ICSMA-20-296-02",
    type=IndicatorType.VULNERABILITY,
    value="ICSMA-20-296-02",
    source=SourceRef(feed_id="cisa-csaf", feed_kind="csaf", record="icsma-20-296-02"),
    cves=["CVE-2020-25158"],
    vulnerability=VulnerabilityInfo(
        cves=["CVE-2020-25158"],
        cvss_score=7.6,
        affected=[
            AffectedProduct(
                vendor="BD", product="Alaris Infusion Pump", versions=[VersionRange(raw="< 12.1.2")]
            )
        ],
    ),
)


async def _seeded_worker(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, settings: CorrelateSettings | None = None
) -> CorrelateWorker:
    await seed_inventory(sqlite_sessions, (PUMP, PACS), now=NOW, names={"prov-a": "A"})
    w = CorrelateWorker(memory_bus, sqlite_sessions, Topics(), settings, clock=lambda: NOW)
    assert await w.load_assets() == 2
    return w


@pytest.fixture
async def worker(sqlite_sessions: SessionFactory, memory_bus: MemoryBus) -> CorrelateWorker:
    return await _seeded_worker(sqlite_sessions, memory_bus)


async def _rule(sqlite_sessions: SessionFactory, **fields: Any) -> str:
    async with sqlite_sessions() as session, session.begin():
        rule = await create_rule(
            session=session,
            rule=SuppressionRuleIn(provider_id="prov-a", reason="vendor confirmed not reachable", **fields),
            created_by="key_soc",
            now=NOW,
        )
    return rule.id


async def _stored(sqlite_sessions: SessionFactory) -> set[str]:
    async with sqlite_sessions() as session:
        return {r.asset_id for r in await session.scalars(select(AlertRow))}


@pytest.mark.parametrize(
    ("rule", "indicator", "suppressed"),
    [
        pytest.param({"asset_id": "pacs", "indicator_key": "ipv4:203.0.113.7"}, c2("203.0.113.7"), True, id="asset+indicator"),
        pytest.param({"asset_id": "pacs", "indicator_key": "ipv4:203.0.113.8"}, c2("203.0.113.7"), False, id="other-indicator"),
        pytest.param({"vendor": "bd", "product": "Alaris  Infusion Pump", "cve": "cve-2020-25158"}, ADVISORY, True, id="product+cve-any-version"),
        pytest.param({"vendor": "BD", "product": "Alaris Infusion Pump", "version": "12.1.0", "cve": "CVE-2020-25158"}, ADVISORY, True, id="product+cve-this-version"),
        pytest.param({"vendor": "BD", "product": "Alaris Infusion Pump", "version": "12.0.9", "cve": "CVE-2020-25158"}, ADVISORY, False, id="product+cve-other-version"),
        pytest.param({"vendor": "BD", "product": "Alaris Infusion Pump", "cve": "CVE-2020-00001"}, ADVISORY, False, id="product+other-cve"),
        pytest.param({"asset_id": "pacs", "indicator_key": "ipv4:203.0.113.7", "expires_at": NOW - timedelta(seconds=1)}, c2("203.0.113.7"), False, id="expired"),
    ],
)  # fmt: skip
async def test_rules_suppress_future_matches_and_count_them(
    worker: CorrelateWorker,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    rule: dict[str, Any],
    indicator: Indicator,
    suppressed: bool,
) -> None:
    rule_id = await _rule(sqlite_sessions, **rule)
    before = SUPPRESSED.labels(rule="asset_indicator" if "asset_id" in rule else "product_cve")._value.get()
    published = await worker.handle_indicator(indicator)
    after = SUPPRESSED.labels(rule="asset_indicator" if "asset_id" in rule else "product_cve")._value.get()
    async with sqlite_sessions() as session:
        row = await session.get(SuppressionRuleRow, rule_id)
        assert row is not None
        hits, last_hit = row.hits, row.last_hit_at
    if suppressed:
        assert published == [] and await _stored(sqlite_sessions) == set()
        assert memory_bus.size(Topics().alerts) == 0
        assert (hits, last_hit is not None, after - before) == (1, True, 1)
    else:
        assert [a.asset_id for a in published] == ["pump" if indicator is ADVISORY else "pacs"]
        assert (hits, last_hit, after - before) == (0, None, 0)


async def test_a_deleted_rule_stops_suppressing(
    worker: CorrelateWorker, sqlite_sessions: SessionFactory
) -> None:
    rule_id = await _rule(sqlite_sessions, asset_id="pacs", indicator_key="ipv4:203.0.113.7")
    assert await worker.handle_indicator(c2("203.0.113.7")) == []
    async with sqlite_sessions() as session, session.begin():
        row = await session.get(SuppressionRuleRow, rule_id)
        assert row is not None
        row.deleted_at = NOW
    (alert,) = await worker.handle_indicator(c2("203.0.113.7"))
    assert alert.asset_id == "pacs" and await _stored(sqlite_sessions) == {"pacs"}


def test_a_rule_of_another_provider_never_covers() -> None:
    from ewarn.models.workflow import SuppressionRule

    alert = Alert.model_validate(
        {
            "id": "alr_x",
            "provider_id": "prov-b",
            "indicator_key": "ipv4:203.0.113.7",
            "indicator_type": "ipv4",
            "asset_id": "pacs",
            "title": "t",
            "severity": "high",
            "score": 80,
            "reason": "r",
            "match": {
                "asset_id": "pacs",
                "asset_name": "n",
                "asset_kind": "network",
                "field": "network",
                "asset_value": "203.0.113.0/24",
                "indicator_value": "203.0.113.7",
            },
            "tlp": "amber",
            "matched_at": NOW,
        }
    )
    rule = SuppressionRule(
        id="sup_1",
        provider_id="prov-a",
        asset_id="pacs",
        indicator_key="ipv4:203.0.113.7",
        reason="r",
        created_by="k",
        created_at=NOW,
        active=True,
    )
    assert not covers(rule, alert, None)
    assert covers(rule.model_copy(update={"provider_id": "prov-b"}), alert, None)


@pytest.mark.parametrize(
    ("indicator", "expected"),
    [
        pytest.param(c2("203.0.113.7"), "https://playbooks.example/c2", id="indicator-alert"),
        pytest.param(ADVISORY, "https://playbooks.example/patch", id="advisory-alert"),
    ],
)
async def test_the_operators_playbook_reaches_the_alert_the_worker_publishes(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, indicator: Indicator, expected: str
) -> None:
    rules = (
        PlaybookRule(url="https://playbooks.example/patch", kinds=[IndicatorType.VULNERABILITY]),
        PlaybookRule(url="https://playbooks.example/c2"),
    )
    w = await _seeded_worker(sqlite_sessions, memory_bus, CorrelateSettings(playbooks=rules))
    published = await w.handle_indicator(indicator)
    assert [str(a.playbook.url) if a.playbook else None for a in published] == [expected]
