"""Smoke test of the correlation benchmark: a scaled-down run writes JSON with every figure (not timed)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_quick_benchmark_writes_every_figure(tmp_path: Path, postgres_url: str) -> None:
    out = tmp_path / "correlate.json"
    result = run_bench("correlate_bench.py", "--pg-url", postgres_url, out=out, timeout=600)
    index = result["index"]
    assert result["quick"] is True
    assert index["assets"] == result["scale"]["assets"] == 20_000
    assert index["providers"] == 200
    assert 0 < index["match_fraction"] < 0.01  # about 1 in 1,000 by construction
    assert index["matched_indicators"] <= index["matches"]
    for figure in (
        "indicators_per_second",
        "indicators_per_cpu_second",
        "bytes_per_asset",
        "rebuild_seconds",
    ):
        assert index[figure] > 0
        assert figure in result["meets_targets"]
    assert set(index["indicators_per_cpu_second_by_type"]) == {
        "ipv4",
        "ipv6",
        "domain",
        "url",
        "email",
        "asn",
        "sha256",
        "md5",
        "vulnerability",
    }
    assert result["naive_scan"]["extrapolated"] is True
    assert result["postgresql"]["sample_indicators"] == 1_000
    assert result["ratios"]["index_vs_naive_scan"] > 0
    assert result["ratios"]["index_vs_postgresql"] > 0
