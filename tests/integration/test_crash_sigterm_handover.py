"""The counterpart of the kill -9 test: SIGTERM in the middle of a run is a clean hand-over.

``ewarn run`` promises that SIGTERM finishes the work in flight: the correlator completes and commits its
batch, the dispatcher finishes and records its sends and commits its intake. So after stopping both mid-run
and starting them again, every alert arrives exactly once: no request is repeated, no lease is left behind.
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
STOP_AT = 0.3  # share of the expected alerts delivered before SIGTERM
START_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 90.0


async def test_sigterm_mid_run_hands_over_without_a_single_redelivery(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=PARTITIONS,
        hospitals=HOSPITALS,
        logdir=tmp_path / "logs",
    ) as rig:
        indicators = synthetic_indicators(rig.hospitals, INDICATORS, cycle=40, shared_every=200)
        expected = expected_alerts(rig.hospitals, indicators)
        correlate = rig.fleet.spawn("correlate")
        dispatch = rig.fleet.spawn("dispatch")
        await rig.fleet.wait_for_event(correlate, "kafka_partitions_assigned", timeout=START_TIMEOUT, count=3)
        await rig.fleet.wait_for_event(dispatch, "kafka_partitions_assigned", timeout=START_TIMEOUT)

        await produce_indicators(rig.bus, rig.deployment.topics, indicators)
        threshold = int(len(expected) * STOP_AT)
        await rig.fleet.wait_for(
            lambda: _at_least(rig.seen, threshold),
            timeout=START_TIMEOUT,
            what=f"{threshold} alerts delivered before SIGTERM",
        )
        stopping = time.monotonic()
        codes = await asyncio.gather(correlate.terminate(), dispatch.terminate())
        stop_took = time.monotonic() - stopping
        delivered_at_stop = len(rig.seen)
        stored_at_stop = await rig.deployment.alert_count()
        outbox_at_stop = await rig.deployment.delivery_statuses()
        leased_at_stop = await rig.deployment.leased_deliveries()

        correlate.start()
        dispatch.start()
        took = await rig.wait_delivered(
            expected, timeout=DELIVERY_TIMEOUT, what="every alert after the restart"
        )
        await asyncio.sleep(1.0)  # a repeated request would show up now
        statuses = await rig.deployment.delivery_statuses()
        await rig.fleet.close()
        got = rig.deliveries()

    print(
        f"\nsigterm: {INDICATORS} indicators -> {len(expected)} alerts; both stopped in {stop_took:.1f}s "
        f"with {delivered_at_stop} delivered, {stored_at_stop} stored, outbox {dict(outbox_at_stop)}; "
        f"the rest delivered {took:.1f}s after the restart; {len(got.items)} requests"
    )
    assert list(codes) == [0, 0], f"SIGTERM exits cleanly: correlate {codes[0]}, dispatch {codes[1]}"
    assert delivered_at_stop < len(expected) and stored_at_stop < len(expected), "the stop must land mid-run"
    assert leased_at_stop == 0, (
        f"{leased_at_stop} deliveries left leased by a dispatcher that stopped cleanly"
    )
    assert_exactly_expected(got, expected, rig.hospitals)
    assert got.redelivered == 0, f"{got.redelivered} requests repeated after a graceful stop"
    assert statuses == {"delivered": len(expected)}, f"every delivery settled as delivered: {statuses}"


async def _at_least(seen: set[str], count: int) -> bool:
    return len(seen) >= count
