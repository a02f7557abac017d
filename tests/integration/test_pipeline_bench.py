"""Smoke tests of the pipeline benchmarks: a tiny run from the push API to verified webhooks writes JSON with
every figure (not timed; the figures depend on the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.plugins.services import BrokerHandle

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, out: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


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
    result = _run("pipeline_embedded.py", tmp_path / "embedded.json")
    [step] = result["steps"]
    _assert_step_complete(step, {"serve"})
    assert result["rejected_webhooks"] == 0 and result["duplicates"] == 0


@pytest.mark.slow
def test_kafka_quick_run(kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path) -> None:
    result = _run(
        "pipeline_kafka.py",
        tmp_path / "kafka.json",
        "--bootstrap",
        kafka_broker.bootstrap,
        "--pg-url",
        postgres_url,
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
    result = _run(
        "correlate_scaleout_bench.py",
        tmp_path / "scaleout.json",
        "--bootstrap",
        kafka_broker.bootstrap,
        "--pg-url",
        postgres_url,
    )
    assert [p["correlate_processes"] for p in result["phases"]] == [1, 2, 1]
    for phase in result["phases"]:
        assert phase["alerts"] == 500 and phase["alerts_per_second"] > 0
        assert len(phase["cpu_seconds"]) == phase["correlate_processes"]
        assert all(seconds > 0 for seconds in phase["cpu_seconds"].values())
    assert result["ratios"]["two_to_one"] > 0
