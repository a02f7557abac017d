"""Smoke tests of the pipeline benchmarks: a tiny run from the push API to verified webhooks writes JSON with
every figure (not timed; the figures depend on the machine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.plugins.services import BrokerHandle
from tests.support.bench import run_bench

PIPELINE_TIMEOUT = 240


def _assert_step_complete(step: dict[str, Any], roles: set[str]) -> None:
    assert step["rate"] == 100 and step["fraction"] == 0.2
    assert step["indicators_offered"] == step["indicators_accepted"] == 200, "every indicator stored"
    assert step["alerts_expected"] == 40, "one in five indicators matches one hospital's domain"
    assert step["alerts_delivered"] == 40, "every alert arrived, signature verified"
    lat = step["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert step["drain_seconds"] is not None and step["drain_seconds"] >= 0
    assert set(step["cpu_seconds"]) >= roles and all(step["cpu_seconds"][r] > 0 for r in roles)


def test_embedded_quick_run(tmp_path: Path) -> None:
    result = run_bench("pipeline_embedded.py", out=tmp_path / "embedded.json", timeout=PIPELINE_TIMEOUT)
    [step] = result["steps"]
    _assert_step_complete(step, {"serve"})
    assert result["rejected_webhooks"] == 0 and result["duplicates"] == 0


@pytest.mark.slow
def test_kafka_quick_run(kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path) -> None:
    result = run_bench(
        "pipeline_kafka.py",
        "--bootstrap",
        kafka_broker.bootstrap,
        "--pg-url",
        postgres_url,
        out=tmp_path / "kafka.json",
        timeout=PIPELINE_TIMEOUT,
    )
    [step] = result["steps"]
    _assert_step_complete(step, {"api", "correlate", "dispatch"})
    breakdown = step["latency_breakdown"]
    assert breakdown["alerts_followed"] == 40, "every alert followed through both stages' traces"
    segments = breakdown["segments_ms"]
    assert all(s["min"] >= -2 for s in segments.values()), "a stage cannot end before it began (1 ms clock)"
    # the segments are consecutive: their means add up to the end-to-end mean
    total = sum(s["mean"] for s in segments.values())
    assert abs(total - breakdown["end_to_end_ms"]["mean"]) < 1.0
    assert breakdown["batches"]["ewarn-correlate"]["batches"] >= 1
    raw = result["raw_aiokafka"]
    assert raw["messages"] == 5000 and raw["message_bytes"] > 100
    assert raw["produce_to_consume_per_second"] > 0
    assert result["ratios"]["peak_indicators_per_second_to_raw_produce_consume"] > 0


@pytest.mark.slow
def test_correlate_scaleout_quick_run(kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path) -> None:
    result = run_bench(
        "correlate_scaleout_bench.py",
        "--bootstrap",
        kafka_broker.bootstrap,
        "--pg-url",
        postgres_url,
        out=tmp_path / "scaleout.json",
        timeout=PIPELINE_TIMEOUT,
    )
    assert [p["correlate_processes"] for p in result["phases"]] == [1, 2, 1]
    for phase in result["phases"]:
        assert phase["alerts"] == 500 and phase["alerts_per_second"] > 0
        assert len(phase["cpu_seconds"]) == phase["correlate_processes"]
        assert all(seconds > 0 for seconds in phase["cpu_seconds"].values())
    assert result["ratios"]["two_to_one"] > 0
