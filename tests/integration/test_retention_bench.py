"""Smoke test of the retention benchmark: a scaled-down run writes JSON with every figure (not timed)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_quick_benchmark_prunes_the_outbox_between_its_phases(tmp_path: Path) -> None:
    out = tmp_path / "retention.json"
    result = run_bench("retention_bench.py", out=out, timeout=180)
    assert result["quick"] is True
    filled, per_round, rounds = 3000, 400, 2
    assert result["prune"]["pruned"]["deliveries_delivered"] == filled, "every old delivered row pruned"
    assert sum(result["prune"]["pruned"].values()) == filled, "nothing else pruned"
    assert result["before"]["outbox_rows_at_end"] == filled + rounds * per_round
    # after pruning: the before phase's rows (delivered just now, so kept) and the after phase's own
    assert result["after"]["outbox_rows_at_end"] == 2 * rounds * per_round
    for phase in ("before", "after"):
        figures = result[phase]
        assert figures["intake_ms_per_1000_p50"] > 0 and figures["claim_ms_per_1000_p50"] > 0
        assert figures["status_report_ms"] > 0 and len(figures["runs"]) == rounds
    assert set(result["before_over_after"]) == {"intake", "claim", "status_report"}
