"""Charts of the pipeline benchmarks, drawn from their JSON (``bench/results/pipeline_*.json``) with matplotlib.

- ``latency_vs_load.png``: end-to-end p50 and p99 (ingest → verified receipt) against the offered rate, one
  line per match fraction, one panel per pipeline (embedded, Kafka).
- ``throughput_vs_match.png``: indicators/s and alerts/s of the step with the most indicators/s, per match
  fraction and pipeline (hatched when that step did not keep up with its offer).

    python bench/charts.py [--results bench/results] [--out docs/bench]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"pipeline_embedded": "embedded (ewarn serve, SQLite)", "pipeline_kafka": "Kafka + PostgreSQL"}


def _load(results: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for name in VARIANTS:
        path = results / f"{name}.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def _measured(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data["steps"] if not s.get("skipped")]


def latency_vs_load(runs: dict[str, dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.5), squeeze=False)
    for ax, (name, data) in zip(axes[0], runs.items(), strict=True):
        steps = _measured(data)
        for fraction in sorted({s["fraction"] for s in steps}):
            points = sorted((s["rate"], s["latency_ms"]) for s in steps if s["fraction"] == fraction)
            points = [(r, lat) for r, lat in points if lat["p99"] is not None]
            if not points:
                continue
            rates = [r for r, _ in points]
            label = f"{fraction * 100:g} % match"
            (line,) = ax.plot(rates, [lat["p99"] for _, lat in points], marker="o", label=f"{label}, p99")
            ax.plot(
                rates,
                [lat["p50"] for _, lat in points],
                marker=".",
                linestyle="--",
                color=line.get_color(),
                label=f"{label}, p50",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered indicators/s")
        ax.set_ylabel("ingest → verified receipt (ms)")
        ax.set_title(VARIANTS[name])
        ax.axhline(250, color="grey", linewidth=0.6, linestyle=":")
        ax.axhline(1000, color="grey", linewidth=0.6, linestyle=":")
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("End-to-end latency against offered load (dotted: 250 ms and 1 s targets)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_vs_match(runs: dict[str, dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / max(1, len(runs))
    for n, (name, data) in enumerate(runs.items()):
        steps = _measured(data)
        fractions = sorted({s["fraction"] for s in steps})
        # The step with the most indicators/s per fraction: what the pipeline achieved, whether or not it
        # kept up with its offer (hatched when it did not: a backlog was left or it drained late).
        best: dict[float, dict[str, Any]] = {}
        for s in steps:
            f = s["fraction"]
            if f not in best or s["indicators_per_second"] > best[f]["indicators_per_second"]:
                best[f] = s
        xs = [i + n * width for i in range(len(fractions))]
        hatches = ["" if best[f]["kept_up"] else "//" for f in fractions]
        for ax, key in ((axes[0], "indicators_per_second"), (axes[1], "alerts_per_second")):
            bars = ax.bar(xs, [best[f][key] or 0 for f in fractions], width, label=VARIANTS[name],
                          color=f"C{n}")  # fmt: skip
            for bar, hatch in zip(bars, hatches, strict=True):
                bar.set_hatch(hatch)
        for ax in axes:
            ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(fractions))])
            ax.set_xticklabels([f"{f * 100:g} %" for f in fractions])
    axes[0].set_ylabel("indicators/s accepted at the ingest edge")
    axes[1].set_ylabel("alerts/s delivered (same step)")
    for ax in axes:
        ax.set_xlabel("indicators matching an asset")
        ax.grid(True, axis="y", linewidth=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Best step per match fraction (hatched: did not keep up with its offer)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(results: Path, out: Path) -> list[Path]:
    runs = _load(results)
    if not runs:
        print(f"no pipeline results in {results}: no charts")
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "latency_vs_load.png", out / "throughput_vs_match.png"]
    latency_vs_load(runs, paths[0])
    throughput_vs_match(runs, paths[1])
    for p in paths:
        print(f"wrote {p}")
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = parser.parse_args()
    draw(args.results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
