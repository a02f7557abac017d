"""Smoke test of the ingest benchmark: a tiny run of the STIX and push-API edge parts writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_stix_and_edge_run(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "ingest.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "ingest_bench.py"),
            "--quick",
            "--only",
            "stix,edge",
            "--out",
            str(out),
        ],
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    result = json.loads(out.read_text())
    assert result["stix"]["every_invalid_object_rejected"] is True
    new, again = result["edge"]["sqlite"]["new"], result["edge"]["sqlite"]["seen_again"]
    assert new["indicators"] == again["indicators"] == 3 * 200
    # every indicator of the first posting is published once; posting the same bundles again changes nothing
    assert result["edge"]["sqlite"]["published"] == (5 + 3) * 200
