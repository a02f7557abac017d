"""Smoke test of the dispatch benchmark: a scaled-down run writes JSON with every figure (not timed)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "dispatch.json"
    result = run_bench("dispatch_bench.py", out=out, timeout=300)
    expected = 200 + 500 + 1000  # warm-up, one sustained second at 500/s, the burst
    assert result["quick"] is True
    assert result["deliveries"] == {"rows": expected, "delivered": expected}
    base = result["baseline_plain_httpx_signed"]
    baseline_requests = base["requests"] + base["warm_up_requests"]
    assert result["receiver"]["verified"] == expected + baseline_requests, "every signature verified"
    assert result["receiver"]["rejected"] == 0
    [phase] = result["sustained"]
    assert phase["offered"] == 500 and phase["latency_ingest_to_delivery"]["p50_ms"] > 0
    assert set(phase["latency_breakdown"]) == {
        "to_outbox_p50_ms",
        "outbox_to_send_p50_ms",
        "send_to_arrival_p50_ms",
        "send_p50_ms",
    }
    assert all(v is not None and v >= 0 for v in phase["latency_breakdown"].values())
    assert result["sustained_by_rate"]["500"]["runs"] == 1
    assert result["burst"]["delivered_per_second"] > 0
    assert base["requests"] == base["accepted"] == 1000, "the signed baseline is accepted, not answered 401"
    assert result["ratio_burst_to_baseline"] > 0
