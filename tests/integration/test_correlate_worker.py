"""The correlate worker against a real database (SQLite and PostgreSQL) and a real bus.

Covers the revision rule end to end: first match, idempotent redelivery, a publish lost after the commit,
material changes, provider feedback, revocation and expiry, advisory updates, retro-hunt and poison records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.correlate_seed import seed_inventory

from ewarn.bus.base import Bus, Consumer, Record
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.correlate.worker import CorrelateSettings, CorrelateWorker
from ewarn.errors import TransientError
from ewarn.models import (
    AffectedProduct,
    Alert,
    AlertStatus,
    Asset,
    AssetChange,
    AssetKind,
    Indicator,
    IndicatorType,
    ProductStatus,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.alerts import set_alert_status
from ewarn.store.tables import AlertEventRow, AlertRow, AssetRow, IndicatorRow, QuarantineRow

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WAIT = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class FlakyBus:
    """The in-process bus, but the next ``fail`` publishes to the alerts topic are lost (broker down)."""

    def __init__(self, inner: MemoryBus, topics: Topics) -> None:
        self.inner = inner
        self.topics = topics
        self.fail = 0

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(
        self, topic: str, *, key: str | None, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        await self.publish_many(topic, [(key, value)], headers)

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        if topic == self.topics.alerts and self.fail:
            self.fail -= 1
            raise TransientError("broker unavailable")
        await self.inner.publish_many(topic, items, headers)

    def consumer(self, topics: Sequence[str], *, group: str) -> Consumer:
        return self.inner.consumer(topics, group=group)


def asset(id_: str, kind: AssetKind, name: str, provider: str = "prov-a", **fields: Any) -> Asset:
    return Asset(id=id_, provider_id=provider, kind=kind, name=name, **fields)


def ip(value: str, **fields: Any) -> Indicator:
    return Indicator(
        key=f"ipv4:{value}",
        type=IndicatorType.IPV4,
        value=value,
        source=SourceRef(feed_id="feodo", feed_kind="ioc_list", record="1"),
        labels=fields.pop("labels", ["c2"]),
        confidence=fields.pop("confidence", 90),
        **fields,
    )


def alaris_advisory(*products: AffectedProduct, **vuln: Any) -> Indicator:
    return Indicator(
        key="vulnerability:ICSMA-20-296-02",
        type=IndicatorType.VULNERABILITY,
        value="ICSMA-20-296-02",
        source=SourceRef(feed_id="cisa-csaf", feed_kind="csaf", record="icsma-20-296-02"),
        cves=["CVE-2020-25158"],
        vulnerability=VulnerabilityInfo(
            cves=["CVE-2020-25158"],
            cvss_score=vuln.pop("cvss_score", 7.6),
            affected=list(products)
            or [
                AffectedProduct(
                    vendor="BD", product="Alaris Infusion Pump", versions=[VersionRange(raw="< 12.1.2")]
                )
            ],
            **vuln,
        ),
    )


INVENTORY = [
    asset("pacs", AssetKind.NETWORK, "PACS DMZ", value="203.0.113.0/24"),
    asset(
        "pump",
        AssetKind.MEDICAL_DEVICE,
        "ICU pumps",
        vendor="BD",
        product="Alaris Infusion Pump",
        version="12.1.0",
    ),
    asset("ward-b", AssetKind.NETWORK, "Ward B", provider="prov-b", value="203.0.113.0/25"),
]


async def seed(
    sessions: SessionFactory, assets: Sequence[Asset], indicators: Sequence[Indicator] = ()
) -> None:
    await seed_inventory(sessions, assets, now=NOW, providers=("prov-a", "prov-b"))
    async with sessions() as session, session.begin():
        for i in indicators:
            await session.merge(
                IndicatorRow(
                    key=i.key,
                    type=i.type.value,
                    data=i.model_dump(mode="json"),
                    tlp=i.tlp.value,
                    revoked=i.revoked,
                    valid_until=i.valid_until,
                    first_seen=NOW,
                    last_seen=NOW,
                )
            )


async def delete_asset(sessions: SessionFactory, asset_id: str) -> None:
    async with sessions() as session, session.begin():
        row = await session.get(AssetRow, asset_id)
        assert row is not None
        row.deleted = True


async def rows(sessions: SessionFactory) -> dict[str, tuple[int, str]]:
    async with sessions() as session:
        return {r.asset_id: (r.revision, r.status) for r in await session.scalars(select(AlertRow))}


async def event_count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AlertEventRow)) or 0)


def published(bus: MemoryBus, topics: Topics) -> list[Alert]:
    return [Alert.model_validate_json(r.value) for r in bus.records(topics.alerts)]


@pytest.fixture
async def worker(sessions: SessionFactory, memory_bus: MemoryBus) -> CorrelateWorker:
    await seed(sessions, INVENTORY)
    w = CorrelateWorker(memory_bus, sessions, Topics(), clock=Clock())
    assert await w.load_assets() == 3
    assert w.index.provider_count == 2
    return w


async def test_first_match_is_stored_then_published_with_provider_key(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    out = await worker.handle_indicator(ip("203.0.113.7"))
    assert sorted((a.asset_id, a.revision) for a in out) == [("pacs", 1), ("ward-b", 1)]
    records = memory_bus.records(Topics().alerts)
    assert sorted((r.key, Alert.model_validate_json(r.value).asset_id) for r in records) == [
        ("prov-a", "pacs"),
        ("prov-b", "ward-b"),
    ]
    assert await rows(sessions) == {"pacs": (1, "new"), "ward-b": (1, "new")}
    assert await event_count(sessions) == 2
    pacs = next(a for a in out if a.asset_id == "pacs")
    assert pacs.reason == "203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'"


async def test_no_match_touches_nothing(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    assert await worker.handle_indicator(ip("198.51.100.1")) == []
    assert memory_bus.size(Topics().alerts) == 0
    assert await rows(sessions) == {}


async def test_redelivery_is_idempotent(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    first = await worker.handle_indicator(ip("203.0.113.7"))
    again = await worker.handle_indicator(ip("203.0.113.7", last_seen=NOW + timedelta(hours=1)))
    assert again == []
    assert memory_bus.size(Topics().alerts) == len(first) == 2
    assert await rows(sessions) == {"pacs": (1, "new"), "ward-b": (1, "new")}


async def test_publish_lost_after_commit_is_republished_not_bumped(
    sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    await seed(sessions, INVENTORY)
    topics = Topics()
    flaky = FlakyBus(memory_bus, topics)
    w = CorrelateWorker(flaky, sessions, topics, clock=Clock())
    await w.load_assets()
    flaky.fail = 1
    with pytest.raises(TransientError):
        await w.handle_indicator(ip("203.0.113.7"))
    assert await rows(sessions) == {"pacs": (1, "new"), "ward-b": (1, "new")}  # committed, not published
    assert memory_bus.size(topics.alerts) == 0 and await event_count(sessions) == 0
    redelivered = await w.handle_indicator(ip("203.0.113.7"))  # the runner retries the same record
    assert sorted((a.asset_id, a.revision) for a in redelivered) == [("pacs", 1), ("ward-b", 1)]
    assert await rows(sessions) == {"pacs": (1, "new"), "ward-b": (1, "new")}
    assert await event_count(sessions) == 2
    assert await w.handle_indicator(ip("203.0.113.7")) == []  # now acknowledged: nothing more


async def test_outbox_flush_at_start_publishes_revisions_a_crash_left_behind(
    sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    await seed(sessions, INVENTORY)
    topics = Topics()
    flaky = FlakyBus(memory_bus, topics)
    crashed = CorrelateWorker(flaky, sessions, topics, clock=Clock())
    await crashed.load_assets()
    flaky.fail = 1
    with pytest.raises(TransientError):
        await crashed.handle_indicator(ip("203.0.113.7"))
    restarted = CorrelateWorker(memory_bus, sessions, topics, clock=Clock())
    assert sorted(a.asset_id for a in await restarted.republish_pending()) == ["pacs", "ward-b"]
    assert await restarted.republish_pending() == []
    assert memory_bus.size(topics.alerts) == 2


async def test_material_changes_make_revisions_and_feedback_persists(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    await worker.handle_indicator(alaris_advisory())
    async with sessions() as session, session.begin():
        (alert_id,) = [a for (a,) in (await session.execute(select(AlertRow.id))).all()]
        await set_alert_status(session=session, alert_id=alert_id, status=AlertStatus.FALSE_POSITIVE)
    assert await worker.handle_indicator(alaris_advisory(cvss_score=7.7)) == []  # drift: not news
    (exploited,) = await worker.handle_indicator(alaris_advisory(known_exploited=True))
    assert (exploited.revision, exploited.status, exploited.known_exploited) == (
        2,
        AlertStatus.FALSE_POSITIVE,
        True,
    )
    fixed = AffectedProduct(
        vendor="BD",
        product="Alaris Infusion Pump",
        versions=[VersionRange(raw=">= 12.1.2")],
        status=ProductStatus.FIXED,
    )
    vulnerable = AffectedProduct(
        vendor="BD", product="Alaris Infusion Pump", versions=[VersionRange(raw="< 12.1.2")]
    )
    (fix,) = await worker.handle_indicator(alaris_advisory(vulnerable, fixed, known_exploited=True))
    assert (fix.revision, fix.status, fix.fix_available) == (3, AlertStatus.FALSE_POSITIVE, True)
    assert await rows(sessions) == {"pump": (3, "false_positive")}
    assert [a.revision for a in published(memory_bus, Topics())] == [1, 2, 3]


async def test_advisory_update_that_excludes_the_version_resolves(
    worker: CorrelateWorker, sessions: SessionFactory
) -> None:
    await worker.handle_indicator(alaris_advisory())
    narrowed = AffectedProduct(
        vendor="BD", product="Alaris Infusion Pump", versions=[VersionRange(raw="< 12.0")]
    )
    (closed,) = await worker.handle_indicator(alaris_advisory(narrowed))
    assert (closed.revision, closed.status) == (2, AlertStatus.RESOLVED)
    assert closed.reason.endswith("Resolved: the advisory no longer lists this version as affected.")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"revoked": True}, "the source revoked the indicator", id="revoked"),
        pytest.param({"valid_until": NOW - timedelta(minutes=1)}, "the indicator expired", id="expired"),
    ],
)
async def test_revoked_or_expired_indicator_resolves_and_raises_nothing_new(
    worker: CorrelateWorker, sessions: SessionFactory, change: dict[str, Any], why: str
) -> None:
    await worker.handle_indicator(ip("203.0.113.7"))
    async with sessions() as session, session.begin():
        ward = await session.scalar(select(AlertRow.id).where(AlertRow.asset_id == "ward-b"))
        assert ward is not None
        await set_alert_status(session=session, alert_id=ward, status=AlertStatus.ACCEPTED_RISK)
    (closed,) = await worker.handle_indicator(ip("203.0.113.7", **change))
    assert (closed.asset_id, closed.revision, closed.status) == ("pacs", 2, AlertStatus.RESOLVED)
    assert closed.reason.endswith(f"Resolved: {why}.")
    assert await rows(sessions) == {"pacs": (2, "resolved"), "ward-b": (1, "accepted_risk")}
    assert await worker.handle_indicator(ip("203.0.113.7", **change)) == []  # already resolved
    assert await worker.handle_indicator(ip("203.0.113.9", **change)) == []  # never raises new alerts


async def test_retro_hunt_raises_alerts_from_still_valid_indicators(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    valid = ip("192.0.2.77")
    expired = ip("192.0.2.78", valid_until=NOW - timedelta(days=1))
    revoked = ip("192.0.2.79", revoked=True)
    elsewhere = ip("198.51.100.1")
    new_range = asset("lab", AssetKind.NETWORK, "Lab", value="192.0.2.0/24")
    await seed(sessions, [new_range], [valid, expired, revoked, elsewhere, alaris_advisory()])
    change = AssetChange(provider_id="prov-a", changed_asset_ids=["lab"], changed_at=NOW)
    assert await worker.reload_provider("prov-a") == 3
    out = await worker.retro_hunt(change)
    assert [(a.asset_id, a.indicator_key, a.revision) for a in out] == [("lab", "ipv4:192.0.2.77", 1)]
    assert out[0].reason == "192.0.2.77 is inside your range 192.0.2.0/24 'Lab'"
    assert await worker.retro_hunt(change) == []  # replaying the change repeats nothing
    hits = await worker.handle_indicator(ip("192.0.2.5"))
    assert [a.asset_id for a in hits] == ["lab"]  # the reloaded index already knows the new range
    assert memory_bus.size(Topics().alerts) == 2


async def test_retro_hunt_resolves_alerts_of_removed_and_changed_assets(
    worker: CorrelateWorker, sessions: SessionFactory
) -> None:
    advisory = alaris_advisory()
    await seed(sessions, [], [advisory, ip("203.0.113.7")])
    await worker.handle_indicator(advisory)
    await worker.handle_indicator(ip("203.0.113.7"))
    patched = asset(
        "pump",
        AssetKind.MEDICAL_DEVICE,
        "ICU pumps",
        vendor="BD",
        product="Alaris Infusion Pump",
        version="12.1.2",
    )
    await seed(sessions, [patched])
    await delete_asset(sessions, "pacs")
    change = AssetChange(
        provider_id="prov-a", changed_asset_ids=["pump"], removed_asset_ids=["pacs"], changed_at=NOW
    )
    out = await worker.retro_hunt(change)
    assert sorted((a.asset_id, a.status, a.reason.split("Resolved: ")[1]) for a in out) == [
        ("pacs", AlertStatus.RESOLVED, "the asset was removed from the inventory."),
        ("pump", AlertStatus.RESOLVED, "the asset no longer matches."),
    ]
    assert await rows(sessions) == {"pacs": (2, "resolved"), "pump": (2, "resolved"), "ward-b": (1, "new")}


async def until(predicate: Callable[[], Awaitable[bool]], *, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def drain(consumer: Consumer, count: int) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + WAIT
    while len(got) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"expected {count} records, got {len(got)}")
        got.extend(await consumer.fetch(timeout=0.5))
    return got


async def test_run_consumes_indicators_dead_letters_poison_and_retro_hunts(
    bus: Bus, topics: Topics, sqlite_sessions: SessionFactory
) -> None:
    """The whole stage through its runners, on the in-process bus and on Kafka."""
    await seed(sqlite_sessions, INVENTORY, [ip("192.0.2.77")])
    worker = CorrelateWorker(bus, sqlite_sessions, topics, CorrelateSettings(batch_size=50), clock=Clock())
    alerts = bus.consumer([topics.alerts], group="test-alerts")
    dlq = bus.consumer([topics.dlq], group="test-dlq")
    await alerts.start()
    await dlq.start()
    task = asyncio.create_task(worker.run())
    try:
        await bus.publish(topics.indicators, key="ipv4:x", value=b"{not json")
        await bus.publish(
            topics.indicators, key="ipv4:203.0.113.7", value=ip("203.0.113.7").model_dump_json().encode()
        )
        first = await drain(alerts, 2)
        assert sorted(str(r.key) for r in first) == ["prov-a", "prov-b"]
        (poison,) = await drain(dlq, 1)
        assert poison.value == b"{not json" and poison.headers["ewarn-stage"] == b"correlate"
        await seed(sqlite_sessions, [asset("lab", AssetKind.NETWORK, "Lab", value="192.0.2.0/24")])
        change = AssetChange(provider_id="prov-a", changed_asset_ids=["lab"], changed_at=NOW)
        await bus.publish(topics.assets, key="prov-a", value=change.model_dump_json().encode())
        (hunted,) = await drain(alerts, 1)
        assert (
            Alert.model_validate_json(hunted.value).reason
            == "192.0.2.77 is inside your range 192.0.2.0/24 'Lab'"
        )
        assert not task.done()

        async def all_handled() -> bool:  # the good indicator, the asset change reloaded and retro-hunted
            return bool(worker.stats()["processed"] == 3)

        await until(all_handled)
        stats = worker.stats()
        assert (stats["dead_lettered"], stats["assets_indexed"], stats["providers_indexed"]) == (1, 4, 2)
    finally:
        worker.stop()
        await asyncio.wait_for(task, WAIT)
        await alerts.stop()
        await dlq.stop()


async def test_expiry_sweep_resolves_alerts_when_validity_ends_without_any_new_message(
    worker: CorrelateWorker, sessions: SessionFactory
) -> None:
    lasting = ip("203.0.113.7", valid_until=NOW + timedelta(hours=2))
    await seed(sessions, [], [lasting])
    raised = await worker.handle_indicator(lasting)
    assert {a.asset_id for a in raised} == {"pacs", "ward-b"}
    assert await worker.sweep_expired() == []  # still valid: nothing to do
    clock = worker._clock
    assert isinstance(clock, Clock)
    clock.now = NOW + timedelta(hours=2, seconds=1)
    closed = await worker.sweep_expired()
    assert {(a.asset_id, a.status) for a in closed} == {
        ("pacs", AlertStatus.RESOLVED),
        ("ward-b", AlertStatus.RESOLVED),
    }
    assert all(a.reason.endswith("Resolved: the indicator expired.") for a in closed)
    assert await worker.sweep_expired() == []  # nothing open any more
    assert worker.stats()["expired_resolved"] == 2


# --- poison stays alone ------------------------------------------------------------------------------------


async def _quarantine(sessions: SessionFactory) -> dict[tuple[str, str], QuarantineRow]:
    async with sessions() as session:
        return {(r.kind, r.key): r for r in await session.scalars(select(QuarantineRow))}


async def test_an_alert_that_cannot_be_serialised_is_quarantined_alone_and_the_others_flow(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    # a poisoned asset in the index (as one read before text was repaired on read would have been)
    poisoned = asset("ward-b", AssetKind.NETWORK, "Ward \ud800 B", provider="prov-b", value="203.0.113.0/25")
    worker.index.replace_provider("prov-b", [poisoned])
    out = await worker.handle_indicator(ip("203.0.113.7"))
    assert [(a.provider_id, a.asset_id) for a in out] == [("prov-a", "pacs")]
    assert [(a.provider_id, a.asset_id) for a in published(memory_bus, Topics())] == [("prov-a", "pacs")]
    assert await rows(sessions) == {"pacs": (1, "new")}, "the poisoned revision is neither stored nor sent"
    held = await _quarantine(sessions)
    ((kind, key),) = held
    assert kind == "alert" and key.endswith("@1")
    assert held[(kind, key)].provider_id == "prov-b"
    assert "surrogates not allowed" in held[(kind, key)].reason
    assert "\\ud800" in held[(kind, key)].excerpt  # the excerpt shows the culprit, escaped
    assert worker.stats()["quarantined"] == 1
    # the same indicator again: the poisoned one is counted again, the good one is not re-sent
    assert await worker.handle_indicator(ip("203.0.113.7")) == []
    assert (await _quarantine(sessions))[(kind, key)].occurrences == 2


async def test_unreadable_stored_rows_are_quarantined_and_start_up_goes_on(
    sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    await seed(sessions, INVENTORY)
    topics = Topics()
    flaky = FlakyBus(memory_bus, topics)
    crashed = CorrelateWorker(flaky, sessions, topics, clock=Clock())
    await crashed.load_assets()
    flaky.fail = 1
    with pytest.raises(TransientError):  # stored, then the publish was lost: two pending revisions
        await crashed.handle_indicator(ip("203.0.113.7"))
    async with sessions() as session, session.begin():
        session.add(
            AssetRow(
                id="broken",
                provider_id="prov-b",
                kind="network",
                value="203.0.113.0/26",
                data={"kind": "network", "value": "203.0.113.0/26", "criticality": "not-a-level"},
                deleted=False,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        session.add(
            AlertRow(
                id="alr-broken",
                provider_id="prov-b",
                indicator_key="ipv4:203.0.113.8",
                asset_id="broken",
                revision=1,
                severity="high",
                score=1.0,
                status="new",
                data={"id": "alr-broken", "revision": "not a number"},
                matched_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )

    restarted = CorrelateWorker(memory_bus, sessions, topics, clock=Clock())
    assert await restarted.load_assets() == 3, "the broken asset is left out, the others indexed"
    republished = await restarted.republish_pending()
    assert sorted(a.asset_id for a in republished) == ["pacs", "ward-b"]
    assert sorted(a.asset_id for a in published(memory_bus, topics)) == ["pacs", "ward-b"]
    held = await _quarantine(sessions)
    assert set(held) == {("asset", "broken"), ("alert", "alr-broken@1")}
    assert "not-a-level" in held[("asset", "broken")].reason
    assert held[("alert", "alr-broken@1")].stage == "correlate"

    # a later start neither fails nor re-reads the quarantined revision (it would crowd out real ones)
    again = CorrelateWorker(memory_bus, sessions, topics, clock=Clock())
    await again.load_assets()
    assert await again.republish_pending() == []
    held = await _quarantine(sessions)
    assert held[("alert", "alr-broken@1")].occurrences == 1
    assert held[("asset", "broken")].occurrences == 2


async def test_an_indicator_matched_before_the_reload_is_caught_up_when_the_reload_comes(
    worker: CorrelateWorker, sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    """The race of a bulk import: the retro-hunt read the indicators before this one was stored, and this
    process matched it against its index before reloading the new asset. The reload catches it up."""
    lab = asset("lab", AssetKind.NETWORK, "Lab", value="192.0.2.0/24")
    await seed(sessions, [lab])  # the inventory change is stored; this process has not reloaded yet
    change = AssetChange(provider_id="prov-a", changed_asset_ids=["lab"], changed_at=NOW)
    assert (
        await worker.retro_hunt(change) == []
    )  # another process's retro-hunt: the indicator is not there yet
    late = ip("192.0.2.77")
    await seed(sessions, [], [late])
    assert await worker.handle_indicator(late) == []  # matched against the index before the reload: a miss
    record = Record(topic=Topics().assets, key="prov-a", value=change.model_dump_json().encode())
    await worker._on_reload(record)  # the reload consumer's handler, as the runner calls it
    assert [(a.asset_id, a.indicator_key, a.revision) for a in published(memory_bus, Topics())] == [
        ("lab", "ipv4:192.0.2.77", 1)
    ]
    await worker._on_reload(record)  # a redelivered change repeats nothing
    assert len(published(memory_bus, Topics())) == 1


async def test_the_catch_up_reads_only_indicators_stored_since_the_change(
    worker: CorrelateWorker, sessions: SessionFactory
) -> None:
    old = ip("192.0.2.78")
    await seed(sessions, [asset("lab", AssetKind.NETWORK, "Lab", value="192.0.2.0/24")], [old])
    later = AssetChange(provider_id="prov-a", changed_asset_ids=["lab"], changed_at=NOW + timedelta(hours=1))
    assert await worker.reload_provider("prov-a") == 3
    assert await worker.catch_up(later) == []  # stored an hour before the change: the retro-hunt's job
    assert [a.asset_id for a in await worker.retro_hunt(later)] == ["lab"]
