"""Smoke test of the correlate stage benchmark: a scaled-down run on SQLite and PostgreSQL writes every figure.

Not timed. It checks what the figures count: every matching indicator stored and published once, a redelivered
batch writing and publishing nothing, every advisory raising an alert in each hospital.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_quick_benchmark_writes_every_figure(tmp_path: Path, postgres_url: str) -> None:
    out = tmp_path / "correlate_stage.json"
    result = run_bench("correlate_stage_bench.py", "--pg-url", postgres_url, out=out, timeout=600)
    assert result["quick"] is True
    assert set(result["alerts_per_cpu_second"]) == {"sqlite", "postgresql"}
    for database in ("sqlite", "postgresql"):
        phases = result[database]["phases"]
        first, again, advisories = phases["observables"], phases["redelivery"], phases["advisories"]
        assert first["alerts_published"] == first["alert_rows_written"] == first["indicators"] == 400
        assert first["alerts_per_cpu_second"] > 0 and first["cpu_microseconds_per_alert"] > 0
        assert again["indicators"] == 400
        assert again["alerts_published"] == again["alert_rows_written"] == 0  # no revision on redelivery
        assert advisories["alerts_published"] == advisories["alert_rows_written"] == 40 * result["hospitals"]
        assert result["alerts_per_cpu_second"][database] == first["alerts_per_cpu_second"]
        assert database in result["meets_target"]
