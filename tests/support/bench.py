"""Run a benchmark script of ``bench/`` the way its smoke test does: ``--quick`` (unless the test sizes the run
itself), figures written as JSON.

The smoke tests check what the figures count, never how fast: the figures depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"
OUTPUT_TAIL = 3000


def run_bench(script: str, *args: str, out: Path, timeout: float = 600, quick: bool = True) -> dict[str, Any]:
    """Run ``bench/<script> [--quick] --out <out> *args``; fail with the end of its output unless it exits 0.

    Returns the JSON the script wrote to ``out``.
    """
    command = [sys.executable, str(BENCH / script), *(["--quick"] if quick else []), "--out", str(out)]
    done = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{script} exited {done.returncode}\n--- stdout\n{done.stdout[-OUTPUT_TAIL:]}"
        f"\n--- stderr\n{done.stderr[-OUTPUT_TAIL:]}"
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result
