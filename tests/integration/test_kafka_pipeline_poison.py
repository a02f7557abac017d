"""Poison records through the running processes: dead-lettered with their headers, and the stage moves on.

Topics have one partition here, so "after the poison" is exact: the indicators topic holds valid indicators,
then undecodable bytes and a JSON document that violates the indicator schema, then more valid indicators.
The alerts topic starts with undecodable bytes, ahead of every real alert. Each poison record must land in the
dead-letter topic with its original bytes and headers naming the stage, the error and its source offset, and
every valid indicator (before and after) must produce its alerts; the groups' offsets end past the poison.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.plugins.services import BrokerHandle
from tests.support.pipeline_rig import (
    assert_exactly_expected,
    committed_offsets,
    expected_alerts,
    pipeline_rig,
    produce_indicators,
    read_topic,
    synthetic_indicators,
)

from ewarn.ids import asset_id
from ewarn.models.asset import Asset, AssetKind
from ewarn.store.db import SessionFactory
from ewarn.store.tables import AlertRow, AssetRow, QuarantineRow

pytestmark = pytest.mark.slow  # the service fixtures add the kafka and postgres markers

HOSPITALS = 2
BEFORE, AFTER = 200, 200
DELIVERY_TIMEOUT = 60.0
UNDECODABLE = b"\xff\xfe\x00 not an indicator \x80"
SCHEMA_VIOLATION = json.dumps(
    {"schema_version": 1, "key": "ipv4:203.0.113.9", "type": "not-a-type", "value": "203.0.113.9"}
).encode()
ALERT_POISON = b"\x00\x01 not an alert"


async def test_poison_goes_to_the_dlq_and_the_records_after_it_are_processed(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=1,
        hospitals=HOSPITALS,
        logdir=tmp_path / "logs",
    ) as rig:
        topics = rig.deployment.topics
        indicators = synthetic_indicators(rig.hospitals, BEFORE + AFTER, shared_every=25)
        before, after = indicators[:BEFORE], indicators[BEFORE:]
        expected_after = expected_alerts(rig.hospitals, after)
        expected = expected_alerts(rig.hospitals, indicators)

        await rig.bus.publish(topics.alerts, key="hospital-0", value=ALERT_POISON)
        await produce_indicators(rig.bus, topics, before)
        await rig.bus.publish_many(
            topics.indicators, [("ipv4:203.0.113.8", UNDECODABLE), ("ipv4:203.0.113.9", SCHEMA_VIOLATION)]
        )
        await produce_indicators(rig.bus, topics, after)

        began = time.monotonic()
        rig.fleet.spawn("correlate")
        rig.fleet.spawn("dispatch")
        took = await rig.wait_delivered(expected, timeout=DELIVERY_TIMEOUT)
        await rig.fleet.wait_for(
            lambda: _committed_to_end(kafka_broker.bootstrap, topics.indicators, topics.alerts),
            timeout=10,
            what="both groups to commit past the poison",
            interval=0.5,
        )
        dead = await read_topic(kafka_broker.bootstrap, topics.dlq)
        sources = {r.offset: r.value for r in await read_topic(kafka_broker.bootstrap, topics.indicators)}
        codes = await rig.fleet.close()
        got = rig.deliveries()

    print(
        f"\npoison: {len(indicators)} valid indicators around 2 poison records -> {len(expected)} alerts "
        f"({len(expected_after)} from after the poison) in {took:.1f}s "
        f"(from start-up {time.monotonic() - began:.1f}s); "
        f"{len(dead)} dead letters"
    )
    by_value = {r.value: r for r in dead}
    assert sorted(by_value) == sorted([UNDECODABLE, SCHEMA_VIOLATION, ALERT_POISON]), (
        "exactly the 3 poison records"
    )
    for value, stage, topic, offset in (
        (UNDECODABLE, "correlate", topics.indicators, BEFORE),
        (SCHEMA_VIOLATION, "correlate", topics.indicators, BEFORE + 1),
        (ALERT_POISON, "dispatch", topics.alerts, 0),
    ):
        headers = {k: v.decode() for k, v in by_value[value].headers}
        assert headers["ewarn-stage"] == stage
        assert headers["ewarn-source-topic"] == topic
        assert headers["ewarn-source-partition"] == "0"
        assert headers["ewarn-source-offset"] == str(offset)
        assert "ValidationError" in headers["ewarn-error"], headers["ewarn-error"]
        if topic == topics.indicators:
            assert sources[offset] == value, "the source offset points at the poison record itself"
    assert "not-a-type" in dict(by_value[SCHEMA_VIOLATION].headers)["ewarn-error"].decode()
    assert expected_after, "valid indicators after the poison must raise alerts"
    assert_exactly_expected(got, expected, rig.hospitals)
    assert codes == {"correlate-1": 0, "dispatch-1": 0}, f"exit codes {codes}"


async def _committed_to_end(bootstrap: str, indicators: str, alerts: str) -> bool:
    correlated = await committed_offsets(bootstrap, "ewarn-correlate", indicators)
    dispatched = await committed_offsets(bootstrap, "ewarn-dispatch", alerts)
    ends = {r.topic: r.offset + 1 for r in await read_topic(bootstrap, alerts)}
    return correlated.get(0) == BEFORE + 2 + AFTER and dispatched.get(0) == ends.get(alerts)


async def test_one_hospitals_poisoned_rows_stop_no_one(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    """Real ``ewarn run`` processes start past hospital-0's unreadable and out-of-scope rows (stored straight
    into the database, as before the rules) and every hospital gets exactly its alerts, hospital-0 included,
    while the whole address space and a top-level domain registered by hospital-0 hand it nobody else's."""
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=1,
        hospitals=3,
        logdir=tmp_path / "logs",
    ) as rig:
        held = await _store_poison(rig.deployment.sessions, "hospital-0")
        indicators = synthetic_indicators(rig.hospitals, 150, shared_every=10)
        expected = expected_alerts(rig.hospitals, indicators)
        await produce_indicators(rig.bus, rig.deployment.topics, indicators)

        rig.fleet.spawn("correlate")
        rig.fleet.spawn("dispatch")
        await rig.wait_delivered(expected, timeout=DELIVERY_TIMEOUT)
        await asyncio.sleep(1.0)  # anything wrongly matched by the wide rows would arrive meanwhile
        async with rig.deployment.sessions() as session:
            quarantined = {(r.kind, r.key) for r in (await session.scalars(select(QuarantineRow))).all()}
        codes = await rig.fleet.close()
        got = rig.deliveries()

    assert held <= quarantined, f"quarantined: {sorted(quarantined)}"
    assert {e.provider_id for e in expected.values()} == {"hospital-0", "hospital-1", "hospital-2"}
    assert_exactly_expected(got, expected, rig.hospitals)
    assert codes == {"correlate-1": 0, "dispatch-1": 0}, f"exit codes {codes}"


async def _store_poison(sessions: SessionFactory, provider_id: str) -> set[tuple[str, str]]:
    now = datetime.now(UTC)
    rows: list[Any] = []
    held: set[tuple[str, str]] = set()
    for kind, value in ((AssetKind.NETWORK, "0.0.0.0/0"), (AssetKind.DOMAIN, "example")):
        legacy = Asset(
            id=asset_id(provider_id=provider_id, kind=kind.value, natural_key=value),
            provider_id=provider_id,
            kind=kind,
            name=f"legacy {value}",
            value=value,
        )
        rows.append(
            _asset_row(legacy.id, provider_id, kind.value, value, legacy.model_dump(mode="json"), now)
        )
        held.add(("asset", legacy.id))
    rows.append(
        _asset_row("ast_unreadable", provider_id, "network", "203.0.113.0/24", {"kind": "network"}, now)
    )
    held.add(("asset", "ast_unreadable"))
    rows.append(
        AlertRow(
            id="alr_unreadable_pending",
            provider_id=provider_id,
            indicator_key="ipv4:203.0.113.1",
            asset_id="ast_unreadable",
            revision=2,
            severity="high",
            score=1.0,
            status="new",
            data={"id": "alr_unreadable_pending", "revision": []},
            matched_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    held.add(("alert", "alr_unreadable_pending@2"))
    async with sessions() as session, session.begin():
        session.add_all(rows)
    return held


def _asset_row(
    row_id: str, provider_id: str, kind: str, value: str, data: dict[str, Any], now: datetime
) -> AssetRow:
    return AssetRow(
        id=row_id,
        provider_id=provider_id,
        kind=kind,
        value=value,
        data=data,
        deleted=False,
        created_at=now,
        updated_at=now,
    )
