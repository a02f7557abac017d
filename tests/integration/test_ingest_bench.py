"""Smoke test of the ingest benchmark: a tiny run of the STIX and push-API edge parts writes its figures."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_quick_stix_and_edge_run(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "ingest.json"
    result = run_bench("ingest_bench.py", "--only", "stix,edge", out=out, timeout=300)
    assert result["stix"]["every_invalid_object_rejected"] is True
    new, again = result["edge"]["sqlite"]["new"], result["edge"]["sqlite"]["seen_again"]
    assert new["indicators"] == again["indicators"] == 3 * 200
    # every indicator of the first posting is published once; posting the same bundles again changes nothing
    assert result["edge"]["sqlite"]["published"] == (5 + 3) * 200
