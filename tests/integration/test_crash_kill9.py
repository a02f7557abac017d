"""Crash: ``kill -9`` of a correlate and a dispatch process in the middle of a run of 10,000 indicators.

The kills land after some but not all alerts were delivered and while the correlator is still short of the
full alert set (both checked at the moment of the kill). After the restart every expected alert arrives; any
alert that arrives again carries the same alert id under the same webhook-id, and no webhook-id ever names
another alert. Nothing is asserted about how many redeliveries happen, only what they carry.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.plugins.services import BrokerHandle
from tests.support.pipeline_rig import (
    Rig,
    assert_exactly_expected,
    expected_alerts,
    pipeline_rig,
    produce_indicators,
    synthetic_indicators,
)

pytestmark = pytest.mark.slow  # the service fixtures add the kafka and postgres markers

INDICATORS = 10_000
HOSPITALS = 8
PARTITIONS = 4
KILL_AT = 0.15  # share of the expected alerts delivered before the kill
START_TIMEOUT = 60.0
RECOVERY_TIMEOUT = 120.0
# A delivery the killed dispatcher had claimed stays leased for 4 x request timeout (2 s in the rig) + 30 s.
LEASE = 4 * 2.0 + 30.0
SETTLE_TIMEOUT = LEASE + 30.0


async def test_kill9_of_correlate_and_dispatch_loses_nothing(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=PARTITIONS,
        hospitals=HOSPITALS,
        logdir=tmp_path / "logs",
    ) as rig:
        indicators = synthetic_indicators(rig.hospitals, INDICATORS, cycle=40)
        expected = expected_alerts(rig.hospitals, indicators)
        correlate = rig.fleet.spawn("correlate")
        dispatch = rig.fleet.spawn("dispatch")
        await rig.fleet.wait_for_event(correlate, "kafka_partitions_assigned", timeout=START_TIMEOUT, count=3)
        await rig.fleet.wait_for_event(dispatch, "kafka_partitions_assigned", timeout=START_TIMEOUT)

        began = time.monotonic()
        await produce_indicators(rig.bus, rig.deployment.topics, indicators)
        produced = time.monotonic() - began
        threshold = int(len(expected) * KILL_AT)
        await rig.fleet.wait_for(
            lambda: _at_least(rig.seen, threshold),
            timeout=START_TIMEOUT,
            what=f"{threshold} alerts delivered before the kill",
            progress=lambda: f"{len(rig.seen)} delivered",
        )
        correlate.kill9()
        dispatch.kill9()
        killed_at = time.monotonic() - began
        delivered_at_kill = len(rig.seen)
        stored_at_kill = await rig.deployment.alert_count()
        unpublished_at_kill = await rig.deployment.unpublished_alerts()
        pending_at_kill = await rig.deployment.delivery_statuses()

        await asyncio.sleep(1.0)
        correlate.start()
        dispatch.start()
        correlated, took = await asyncio.gather(
            rig.fleet.wait_for(
                lambda: _stored(rig, len(expected)),
                timeout=RECOVERY_TIMEOUT,
                what="every alert stored after the restart",
                interval=0.5,
            ),
            rig.wait_delivered(expected, timeout=RECOVERY_TIMEOUT, what="every alert after the restart"),
        )
        # Sends the killed dispatcher made but never recorded stay leased until the lease runs out; then they
        # go out again (same webhook-id): only then has the outbox settled.
        settled = await rig.fleet.wait_for(
            lambda: _settled(rig, len(expected)),
            timeout=SETTLE_TIMEOUT,
            what="every delivery to settle as delivered",
            interval=0.5,
        )
        statuses = await rig.deployment.delivery_statuses()
        stored = await rig.deployment.alert_count()
        codes = await rig.fleet.close()
        got = rig.deliveries()

    print(
        f"\ncrash: {INDICATORS} indicators -> {len(expected)} alerts; produced in {produced:.1f}s; "
        f"killed at {killed_at:.1f}s with {delivered_at_kill} delivered, {stored_at_kill} stored "
        f"({unpublished_at_kill} not yet acknowledged by Kafka), "
        f"outbox {dict(pending_at_kill)}; after the restart all stored in {correlated:.1f}s, "
        f"all delivered in {took:.1f}s, outbox settled {settled:.1f}s later; "
        f"{len(got.items)} requests for {len(got.webhook_ids)} webhook-ids ({got.redelivered} redeliveries); "
        f"outbox {dict(statuses)}"
    )
    assert 0 < delivered_at_kill < len(expected), "the kill must land after some but not all deliveries"
    assert stored_at_kill < len(expected), "the correlator must be killed before it raised every alert"
    assert_exactly_expected(got, expected, rig.hospitals)
    assert len(got.webhook_ids) == len(expected), "one webhook-id per alert, before and after the crash"
    assert stored == len(expected), f"{stored} alert rows for {len(expected)} expected alerts"
    assert statuses == {"delivered": len(expected)}, f"every delivery settled as delivered: {statuses}"
    assert codes == {"correlate-1": 0, "dispatch-1": 0}, f"the restarted processes stop cleanly: {codes}"


async def _at_least(seen: set[str], count: int) -> bool:
    return len(seen) >= count


async def _stored(rig: Rig, count: int) -> bool:
    return await rig.deployment.alert_count() >= count


async def _settled(rig: Rig, count: int) -> bool:
    return await rig.deployment.delivery_statuses() == {"delivered": count}
