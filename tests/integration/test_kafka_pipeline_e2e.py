"""The whole pipeline as separate processes on Kafka + PostgreSQL: a feed in, signed webhooks out.

``ewarn run ingest`` polls a STIX feed (a file) into the indicators topic; ``ewarn run correlate`` and
``ewarn run dispatch`` carry it to a real loopback receiver that verifies every signature; ``ewarn run api``
lists the same alerts. The expected alerts come from the inputs (ipaddress / domain suffixes), not from ewarn.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.plugins.services import BrokerHandle
from tests.support.netutil import free_port
from tests.support.pipeline_rig import (
    assert_exactly_expected,
    expected_alerts,
    pipeline_rig,
    stix_bundle,
    synthetic_indicators,
)

from ewarn.ingest.models import FeedIn
from ewarn.ingest.repository import create_feed

pytestmark = pytest.mark.slow  # the service fixtures add the kafka and postgres markers

INDICATORS = 400
HOSPITALS = 4
PARTITIONS = 4
DELIVERY_TIMEOUT = 60.0


async def _api_alert_ids(base: str, key: str) -> set[str]:
    """Every alert id the API lists for an operator, page by page."""
    ids: set[str] = set()
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        while True:
            params: dict[str, str | int] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            response = await client.get("/api/v1/alerts", params=params)
            response.raise_for_status()
            page = response.json()
            ids.update(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return ids


async def _api_ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_feed_to_signed_webhooks_across_role_processes(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=PARTITIONS,
        hospitals=HOSPITALS,
        logdir=tmp_path / "logs",
    ) as rig:
        indicators = synthetic_indicators(rig.hospitals, INDICATORS, shared_every=50)
        expected = expected_alerts(rig.hospitals, indicators)
        feed_file = tmp_path / "feed.json"
        feed_file.write_bytes(stix_bundle(indicators))
        async with rig.deployment.sessions() as session:
            await create_feed(
                session=session,
                feed=FeedIn(id="synthetic-stix", kind="stix_bundle", location=str(feed_file)),
            )
            await session.commit()

        began = time.monotonic()
        api_port = free_port()
        rig.fleet.spawn("correlate")
        rig.fleet.spawn("dispatch")
        rig.fleet.spawn("api", EWARN_API_PORT=str(api_port))
        rig.fleet.spawn("ingest", EWARN_INGEST__FILE_ROOT=str(tmp_path))  # the feed is a local file
        took = await rig.wait_delivered(expected, timeout=DELIVERY_TIMEOUT)

        base = f"http://127.0.0.1:{api_port}"
        await rig.fleet.wait_for(lambda: _api_ready(base), timeout=30, what="the API to answer /healthz")
        listed = await _api_alert_ids(base, rig.deployment.operator_key)
        statuses = await rig.deployment.delivery_statuses()
        codes = await rig.fleet.close()  # SIGTERM: each role finishes its work in flight and exits cleanly
        got = rig.deliveries()

    print(
        f"\ne2e: {len(indicators)} indicators -> {len(expected)} alerts delivered in {took:.1f}s "
        f"({time.monotonic() - began:.1f}s incl. start-up); {got.redelivered} redeliveries; "
        f"deliveries {dict(statuses)}"
    )
    assert 60 <= len(expected) < len(indicators), "the scenario must mix hits and misses"
    assert_exactly_expected(got, expected, rig.hospitals)
    assert got.redelivered == 0, "nothing crashed, so nothing should arrive twice"
    assert listed == set(expected), "the API lists exactly the alerts that were delivered"
    assert statuses == {"delivered": len(expected)}, f"every delivery settled as delivered: {statuses}"
    assert codes == {"correlate-1": 0, "dispatch-1": 0, "api-1": 0, "ingest-1": 0}, f"exit codes {codes}"
