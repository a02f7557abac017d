"""Done-when of the sighting relay, on Kafka + PostgreSQL as role processes (``ewarn run api|correlate|dispatch``):
hospital A submits sightings; hospital B's signature-verified relay webhooks arrive, B's blocklist holds every
entry, and A's identity is absent from everything B reads. Driven by ``bench/sighting_relay_bench.py`` (a
small run), which measures submission → B's receipt."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.plugins.services import BrokerHandle
from tests.support.bench import run_bench

pytestmark = pytest.mark.slow  # the service fixtures add the kafka and postgres markers


def test_a_submits_b_receives_across_role_processes(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    result = run_bench(
        "sighting_relay_bench.py",
        "--count",
        "20",
        "--rate",
        "10",
        "--bootstrap",
        kafka_broker.bootstrap,
        "--pg-url",
        postgres_url,
        out=tmp_path / "sighting_relay.json",
        timeout=240,
        quick=False,  # sized by --count and --rate
    )
    assert result["sightings_accepted"] == result["relay_webhooks_at_b"] == 20
    assert result["b_blocklist_has_every_entry"] is True
    assert result["reporter_identity_in_b_reads"] is False and result["b_webhooks_checked_for_identity"] == 20
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert result["exit_codes"] == {"correlate-1": 0, "dispatch-1": 0, "api-1": 0}
