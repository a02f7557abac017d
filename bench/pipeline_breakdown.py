"""Where an alert's time goes on the Kafka pipeline: per-stage latency from timestamps the run already has.

Every matching indicator key of a step is followed through the chain with times taken by the processes that
did the work (one machine, one wall clock):

- ``posted`` / ``answered``: the benchmark's POST of the bundle started / returned;
- ``indicator_sent``: the indicators-topic record's timestamp (Kafka ``CreateTime``, stamped by the edge's
  producer when the push API published it, inside its store transaction);
- ``correlate_free`` / ``correlate_fetched`` / ``correlate_done``: when the correlate runner asked for the batch
  holding that record (it was busy with earlier batches until then; taken as the record's send time if it
  asked before), when the fetch returned it, and when the runner handed the batch to ``commit``
  (``kafka.trace_file``, ``ewarn.bus.trace``). So the wait between publish and fetch is split into time queued
  behind the stage's earlier batches and time in transit (producer, broker, fetch);
- ``alert_sent``: the alerts-topic record's timestamp (the correlator's producer);
- ``dispatch_free`` / ``dispatch_fetched`` / ``dispatch_done``: the same in the dispatch process (``done``: the outbox
  rows written and new deliveries handed to the senders);
- ``received``: the verifying receiver (in the benchmark process) accepted the webhook.

The segments between consecutive times add up to the end-to-end latency exactly. Per step the JSON gives each
segment's p50/p99/max, its mean over the slowest 5 % of alerts and its value for the alert at the p99: which
stage the tail is spent in. Kafka timestamps have millisecond resolution. Batch figures per consumer group
(records per batch, fetch → done) show whether batches grow with the load.
"""

from __future__ import annotations

import bisect
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Consecutive points of the chain; each segment is named after its end point.
CHAIN = (
    ("posted", None),
    ("indicator_sent", "edge: POST → indicator stored and published"),
    ("correlate_free", "queued: correlate busy with earlier batches"),
    ("correlate_fetched", "bus: indicator in transit to correlate's fetch"),
    ("alert_sent", "correlate: fetched → alert stored and published"),
    ("dispatch_free", "queued: dispatch busy with earlier batches"),
    ("dispatch_fetched", "bus: alert in transit to dispatch's fetch"),
    ("dispatch_done", "dispatch: fetched → outbox written, handed to senders"),
    ("received", "dispatch send → verified at the receiver"),
)
# Off the path of this alert, but on the path of the next batch (the stage is busy meanwhile).
ASIDE = (
    ("indicator_sent", "answered", "edge: indicator published → POST answered"),
    ("alert_sent", "correlate_done", "correlate: alert published → batch done (acknowledged, marked)"),
)
CORRELATE_GROUP = "ewarn-correlate"
DISPATCH_GROUP = "ewarn-dispatch"


@dataclass(frozen=True)
class Batch:
    group: str
    asked: float
    fetched: float
    handled: float
    records: int


class Traces:
    """The trace lines of every role process: batch times by (group, topic, partition) and offset range."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.batches: list[Batch] = []
        spans: dict[tuple[str, str, int], list[tuple[int, int, Batch]]] = defaultdict(list)
        for path in paths:
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                count = sum(hi - lo + 1 for _topic, _partition, lo, hi in entry["parts"])
                batch = Batch(entry["group"], entry["asked"], entry["fetched"], entry["handled"], count)
                self.batches.append(batch)
                for topic, partition, lo, hi in entry["parts"]:
                    spans[(entry["group"], topic, partition)].append((lo, hi, batch))
        self._spans = {key: sorted(value, key=lambda span: span[:2]) for key, value in spans.items()}
        self._starts = {key: [lo for lo, *_ in value] for key, value in self._spans.items()}

    def batch_of(self, group: str, topic: str, partition: int, offset: int) -> Batch | None:
        """The latest batch of ``group`` that held this record (a redelivery's, if it came twice)."""
        key = (group, topic, partition)
        spans = self._spans.get(key)
        if not spans:
            return None
        found = None
        for lo, hi, batch in spans[: bisect.bisect_right(self._starts[key], offset)]:
            if lo <= offset <= hi:
                found = batch
        return found


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "p50": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)

    return {
        "min": round(ordered[0], 1),
        "p50": at(50),
        "p99": at(99),
        "max": round(ordered[-1], 1),
        "mean": round(statistics.fmean(ordered), 1),
    }


def follow(
    timeline: dict[str, tuple[float, float, float]],
    *,
    indicators: dict[str, tuple[str, int, int, float]],
    alerts: dict[str, tuple[str, int, int, float]],
    traces: Traces,
) -> dict[str, dict[str, float]]:
    """Every point of the chain per indicator key (keys with a point missing are left out)."""
    out: dict[str, dict[str, float]] = {}
    for key, (posted, answered, received) in timeline.items():
        if key not in indicators or key not in alerts:
            continue
        i_topic, i_part, i_off, i_sent = indicators[key]
        a_topic, a_part, a_off, a_sent = alerts[key]
        correlate = traces.batch_of(CORRELATE_GROUP, i_topic, i_part, i_off)
        dispatch = traces.batch_of(DISPATCH_GROUP, a_topic, a_part, a_off)
        if correlate is None or dispatch is None:
            continue
        out[key] = {
            "posted": posted,
            "answered": answered,
            "indicator_sent": i_sent,
            "correlate_free": min(max(correlate.asked, i_sent), correlate.fetched),
            "correlate_fetched": correlate.fetched,
            "correlate_done": correlate.handled,
            "alert_sent": a_sent,
            "dispatch_free": min(max(dispatch.asked, a_sent), dispatch.fetched),
            "dispatch_fetched": dispatch.fetched,
            "dispatch_done": dispatch.handled,
            "received": received,
        }
    return out


def step_breakdown(points: dict[str, dict[str, float]], traces: Traces) -> dict[str, Any]:
    """Segment figures of one step, and the batches the two stages handled meanwhile."""
    if not points:
        return {"alerts_followed": 0}
    total = {k: (p["received"] - p["posted"]) * 1000 for k, p in points.items()}
    slowest = sorted(total, key=total.__getitem__)
    tail = slowest[-max(1, len(slowest) // 20) :]
    at_p99 = slowest[min(len(slowest) - 1, round(0.99 * (len(slowest) - 1)))]
    segments: dict[str, Any] = {}
    previous = CHAIN[0][0]
    for point, label in CHAIN[1:]:
        assert label is not None
        values = {k: (p[point] - p[previous]) * 1000 for k, p in points.items()}
        segments[label] = {
            **_stats(list(values.values())),
            "slowest_5_percent_mean": round(statistics.fmean(values[k] for k in tail), 1),
            "at_p99_alert": round(values[at_p99], 1),
        }
        previous = point
    aside = {
        label: _stats([(p[end] - p[start]) * 1000 for p in points.values()]) for start, end, label in ASIDE
    }
    began = min(p["posted"] for p in points.values())
    ended = max(p["received"] for p in points.values())
    batches: dict[str, Any] = {}
    for group in (CORRELATE_GROUP, DISPATCH_GROUP):
        mine = [b for b in traces.batches if b.group == group and began <= b.fetched <= ended]
        batches[group] = {
            "batches": len(mine),
            "records": _stats([b.records for b in mine]),
            "fetched_to_done_ms": _stats([(b.handled - b.fetched) * 1000 for b in mine]),
        }
    return {
        "alerts_followed": len(points),
        "end_to_end_ms": _stats(list(total.values())),
        "segments_ms": segments,
        "aside_ms": aside,
        "batches": batches,
    }


def records_by_key(
    indicator_records: Iterable[Any], alert_records: Iterable[Any]
) -> tuple[dict[str, tuple[str, int, int, float]], dict[str, tuple[str, int, int, float]]]:
    """(topic, partition, offset, timestamp in seconds) of each indicator key's first indicator record and of
    the first alert record raised for it."""
    indicators: dict[str, tuple[str, int, int, float]] = {}
    for r in indicator_records:
        key = r.key.decode() if r.key is not None else ""
        indicators.setdefault(key, (r.topic, r.partition, r.offset, r.timestamp / 1000))
    alerts: dict[str, tuple[str, int, int, float]] = {}
    for r in alert_records:
        key = json.loads(r.value)["indicator_key"]
        entry = (r.topic, r.partition, r.offset, r.timestamp / 1000)
        if key not in alerts or entry[3] < alerts[key][3]:
            alerts[key] = entry
    return indicators, alerts


def add_breakdowns(
    steps: list[dict[str, Any]],
    timeline: dict[int, dict[str, tuple[float, float, float]]],
    *,
    indicator_records: Iterable[Any],
    alert_records: Iterable[Any],
    trace_paths: Iterable[Path],
) -> None:
    """Put ``latency_breakdown`` into every measured step."""
    traces = Traces(trace_paths)
    indicators, alerts = records_by_key(indicator_records, alert_records)
    for step in steps:
        if step.get("skipped") or step.get("step_no") not in timeline:
            continue
        points = follow(timeline[step["step_no"]], indicators=indicators, alerts=alerts, traces=traces)
        step["latency_breakdown"] = step_breakdown(points, traces)


def breakdown_lines(step: dict[str, Any]) -> list[str]:
    """The breakdown of one step as text (p50 / p99 / slowest 5 % mean per segment)."""
    b = step.get("latency_breakdown")
    if not b or not b.get("alerts_followed"):
        return []
    lines = [f"    breakdown of {b['alerts_followed']} alerts (ms: p50 / p99 / mean of slowest 5 %):"]
    for label, s in b["segments_ms"].items():
        lines.append(f"      {label:<58} {s['p50']:>7} / {s['p99']:>7} / {s['slowest_5_percent_mean']:>7}")
    for label, s in b["aside_ms"].items():
        lines.append(f"      (aside) {label:<50} {s['p50']:>7} / {s['p99']:>7}")
    for group, g in b["batches"].items():
        lines.append(
            f"      {group}: {g['batches']} batches, records p50 {g['records']['p50']} max {g['records']['max']}, "
            f"fetch→done p50 {g['fetched_to_done_ms']['p50']} p99 {g['fetched_to_done_ms']['p99']} ms"
        )
    return lines
