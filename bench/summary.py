"""Markdown tables of the latest results in ``bench/results/`` (what BENCHMARKS.md quotes).

python bench/summary.py [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def pipeline(data: dict[str, Any]) -> str:
    lines = [
        f"### {data['benchmark']} (load average at start {data['machine']['load_average_at_start'][0]:.1f})",
        "",
        "| offered/s | match | indicators/s | alerts delivered | alerts/s | p50 ms | p95 ms | p99 ms | max ms "
        "| drain s | CPU s per role | kept up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in data["steps"]:
        if s.get("skipped"):
            lines.append(f"| {s['rate']:,} | {s['fraction'] * 100:g} % | skipped: {s['skipped']} |||||||||")
            continue
        lat = s["latency_ms"]
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in s["cpu_seconds"].items())
        drain = "—" if s["drain_seconds"] is None else f"{s['drain_seconds']:.1f}"
        lines.append(
            f"| {s['rate']:,} | {s['fraction'] * 100:g} % | {s['indicators_per_second']:,.0f} "
            f"| {s['alerts_delivered']:,}/{s['alerts_expected']:,} | {s['alerts_per_second']:,} "
            f"| {_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | {drain} "
            f"| {cpu} | {'yes' if s['kept_up'] else 'no'} |"
        )
    raw = data.get("raw_aiokafka")
    if raw:
        per_cpu = raw["messages"] / raw["bench_process_cpu_seconds"]
        lines += [
            "",
            f"Raw aiokafka on the same broker ({raw['messages']:,} messages of {raw['message_bytes']} bytes, "
            f"{raw['partitions']} partitions): produce {raw['produce_per_second']:,.0f}/s, consume "
            f"{raw['consume_per_second']:,.0f}/s, produce→consume {raw['produce_to_consume_per_second']:,.0f}/s "
            f"({per_cpu:,.0f} messages per CPU-second of the client). Our peak indicators/s to it: "
            f"{data['ratios']['peak_indicators_per_second_to_raw_produce_consume']}.",
        ]
    return "\n".join(lines)


def breakdown(data: dict[str, Any]) -> str:
    """Per Kafka step: where the alerts' time went, stage by stage (``latency_breakdown``)."""
    lines = []
    for s in data["steps"]:
        b = s.get("latency_breakdown")
        if not b or not b.get("alerts_followed"):
            continue
        lines += [
            f"#### {s['rate']:,}/s at {s['fraction'] * 100:g} % ({b['alerts_followed']:,} alerts, "
            f"load average {s['load_average'][0]:.1f})",
            "",
            "| segment | min ms | p50 ms | p99 ms | mean of the slowest 5 % | at the p99 alert |",
            "|---|---|---|---|---|---|",
        ]
        for label, seg in b["segments_ms"].items():
            lines.append(
                f"| {label} | {_ms(seg.get('min'))} | {_ms(seg['p50'])} | {_ms(seg['p99'])} "
                f"| {_ms(seg['slowest_5_percent_mean'])} | {_ms(seg['at_p99_alert'])} |"
            )
        end = b["end_to_end_ms"]
        lines += [
            f"| **end to end** | {_ms(end.get('min'))} | {_ms(end['p50'])} | {_ms(end['p99'])} | | |",
            "",
        ]
        for group, g in b["batches"].items():
            lines.append(
                f"- {group}: {g['batches']:,} batches, records per batch p50 {_ms(g['records']['p50'])}, "
                f"max {_ms(g['records']['max'])}; fetch → done p50 {_ms(g['fetched_to_done_ms']['p50'])} ms"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    for name in ("pipeline_embedded", "pipeline_kafka"):
        path = args.results / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            print(pipeline(data))
            print()
            if name == "pipeline_kafka":
                print(breakdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
