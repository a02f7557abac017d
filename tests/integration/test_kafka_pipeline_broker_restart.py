"""Broker crash in the middle of a run: the role processes ride it out and the pipeline resumes by itself.

The first half of the indicators goes in; once some (not all) of its alerts arrived, the broker is killed
(SIGKILL) and started again on the same data. Nobody restarts the ewarn processes. The second half is
produced after the broker is back, so the whole path (consume, produce, commit) must have reconnected.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.plugins.services import BrokerHandle
from tests.support.pipeline_rig import (
    assert_exactly_expected,
    expected_alerts,
    pipeline_rig,
    produce_indicators,
    synthetic_indicators,
)

pytestmark = pytest.mark.slow  # the service fixtures add the kafka and postgres markers

INDICATORS = 4000
HOSPITALS = 8
PARTITIONS = 4
START_TIMEOUT = 60.0
RECOVERY_TIMEOUT = 120.0


def _bounce(broker: BrokerHandle) -> None:
    broker.kill()
    broker.restart()


async def test_pipeline_resumes_after_a_broker_crash(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=PARTITIONS,
        hospitals=HOSPITALS,
        logdir=tmp_path / "logs",
    ) as rig:
        indicators = synthetic_indicators(rig.hospitals, INDICATORS)
        first, second = indicators[: INDICATORS // 2], indicators[INDICATORS // 2 :]
        expected_first = expected_alerts(rig.hospitals, first)
        expected = expected_alerts(rig.hospitals, indicators)
        correlate = rig.fleet.spawn("correlate")
        dispatch = rig.fleet.spawn("dispatch")
        await rig.fleet.wait_for_event(correlate, "kafka_partitions_assigned", timeout=START_TIMEOUT, count=3)
        await rig.fleet.wait_for_event(dispatch, "kafka_partitions_assigned", timeout=START_TIMEOUT)

        began = time.monotonic()
        await produce_indicators(rig.bus, rig.deployment.topics, first)
        threshold = len(expected_first) // 10
        await rig.fleet.wait_for(
            lambda: _at_least(rig.seen, threshold),
            timeout=START_TIMEOUT,
            what=f"{threshold} alerts before the broker crash",
        )
        delivered_at_crash = len(rig.seen)
        stored_at_crash = await rig.deployment.alert_count()
        bounce_began = time.monotonic()
        await asyncio.to_thread(_bounce, kafka_broker)
        down_for = time.monotonic() - bounce_began
        await produce_indicators(rig.bus, rig.deployment.topics, second)
        took = await rig.wait_delivered(
            expected, timeout=RECOVERY_TIMEOUT, what="every alert after the broker crash"
        )
        await asyncio.sleep(2.0)
        statuses = await rig.deployment.delivery_statuses()
        alive = {p.name: p.alive for p in rig.fleet}
        codes = await rig.fleet.close()
        got = rig.deliveries()

    print(
        f"\nbroker crash: {INDICATORS} indicators -> {len(expected)} alerts; of the first half's "
        f"{len(expected_first)}, {delivered_at_crash} delivered ({stored_at_crash} stored) at the kill; "
        f"broker back after {down_for:.1f}s; all delivered {took:.1f}s later "
        f"({time.monotonic() - began:.1f}s in all); {got.redelivered} redeliveries"
    )
    assert delivered_at_crash < len(expected_first), "the crash must land before the first half was delivered"
    assert stored_at_crash < len(expected_first), "the crash must land while the correlator still had work"
    assert alive == {"correlate-1": True, "dispatch-1": True}, "no ewarn process died with the broker"
    assert_exactly_expected(got, expected, rig.hospitals)
    assert len(got.webhook_ids) == len(expected), "one webhook-id per alert"
    assert statuses == {"delivered": len(expected)}, f"every delivery settled as delivered: {statuses}"
    assert codes == {"correlate-1": 0, "dispatch-1": 0}, f"the processes stop cleanly afterwards: {codes}"


async def _at_least(seen: set[str], count: int) -> bool:
    return len(seen) >= count
