"""Run every benchmark under bench/ (``make bench``), then draw the charts from their JSON.

Each benchmark writes its JSON into bench/results/; ``charts.py`` draws the PNGs into docs/bench/. Arguments
are passed to every benchmark (``--quick`` for a small run of each). One failing benchmark does not stop the
others; the exit status says whether all ran.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    *sorted(HERE.glob("*_bench.py")),
    HERE / "pipeline_embedded.py",
    HERE / "pipeline_kafka.py",
]


def main() -> int:
    failed = []
    for script in BENCHMARKS:
        print(f"== {script.name}", flush=True)
        began = time.monotonic()
        if subprocess.run([sys.executable, str(script), *sys.argv[1:]], check=False).returncode != 0:
            failed.append(script.name)
        print(f"== {script.name}: {time.monotonic() - began:.0f}s", flush=True)
    print("== charts", flush=True)
    if subprocess.run([sys.executable, str(HERE / "charts.py")], check=False).returncode != 0:
        failed.append("charts.py")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
