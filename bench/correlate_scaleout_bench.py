"""Scale-out of the correlate stage on Kafka: one against two ``ewarn run correlate`` processes, same run.

In the full pipeline correlate is never the stage that limits (the push API edge and dispatch cost more CPU per
alert), so this benchmark makes it the limit: a backlog of matching indicators is published straight onto the
indicators topic (4 partitions, as the ingest role would publish them) while only correlate processes run, and
the time until every alert is on the alerts topic gives alerts/s. Phases in one run, one broker, one
PostgreSQL: one process, then a second joins the group (partitions split 2 + 2), then the second stops and
the first runs alone again (the database has grown meanwhile; the two one-process phases bracket it). Each
phase: a warm-up backlog (not reported), then ``--backlog`` indicators (each raises one alert).

Reported per phase: alerts/s, CPU seconds of each correlate process (``/proc``) and alerts per CPU-second,
the load average; ``ratios.two_to_one`` = alerts/s of two processes over the mean of the one-process phases.
On a machine whose cores are busy (this one has two, shared), a second process can only add throughput if CPU
was idle: the CPU-second figures say what more cores would give (alerts/s ≈ cores * alerts per CPU-second,
PostgreSQL and the broker not counted).

    python bench/correlate_scaleout_bench.py                 # 20,000 indicators per phase
    python bench/correlate_scaleout_bench.py --quick         # 500: the smoke test's run
    python bench/correlate_scaleout_bench.py --bootstrap HOST:PORT --pg-url URL

Writes ``bench/results/correlate_scaleout.json`` (``--out`` to change). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from pipeline_common import cpu_seconds, machine, write_results  # noqa: E402
from pipeline_kafka import services  # noqa: E402
from tests.support.pipeline_rig import Rig, pipeline_rig  # noqa: E402

from ewarn import eventloop  # noqa: E402
from ewarn.crypto.secretbox import generate_key  # noqa: E402
from ewarn.models.indicator import Indicator, IndicatorType, SourceRef  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "correlate_scaleout.json"


def matching_indicators(rig: Rig, count: int) -> list[tuple[str, bytes]]:
    """``count`` fresh domain indicators, each under one hospital's domain (one alert each), as published."""
    run = uuid.uuid4().hex[:8]
    items = []
    for n in range(count):
        value = f"x{run}-{n}.{rig.hospitals[n % len(rig.hospitals)].domain}"
        indicator = Indicator(
            key=Indicator.make_key(IndicatorType.DOMAIN, value),
            type=IndicatorType.DOMAIN,
            value=value,
            name=f"scale-out {n}",
            confidence=90,
            labels=["c2"],
            source=SourceRef(feed_id="bench", feed_kind="stix_bundle", record=f"indicator-{n}"),
        )
        items.append((indicator.key, indicator.model_dump_json().encode()))
    return items


class AlertCount:
    """Records on the alerts topic (sum of the partitions' end offsets), read without joining a group."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def __call__(self) -> int:
        ends = await self._consumer.end_offsets(self._partitions)
        return int(sum(ends.values()))


async def drain(rig: Rig, alerts: AlertCount, count: int, timeout: float) -> tuple[float, float]:
    """Publish ``count`` matching indicators; seconds until every alert is on the topic, and the publish time."""
    items = matching_indicators(rig, count)
    before = await alerts()
    began = time.monotonic()
    for start in range(0, count, 1000):
        await rig.bus.publish_many(rig.deployment.topics.indicators, items[start : start + 1000])
    published = time.monotonic() - began
    deadline = began + timeout
    while await alerts() < before + count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{count} alerts not on the topic within {timeout:.0f}s:\n{rig.fleet.describe()}"
            )
        rig.fleet.check_alive()
        await asyncio.sleep(0.05)
    return time.monotonic() - began, published


async def phase(
    rig: Rig, alerts: AlertCount, label: str, pids: dict[str, int | None], args: argparse.Namespace
) -> dict[str, Any]:
    await drain(rig, alerts, args.warmup, timeout=120)  # partitions assigned, caches and connections made
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    load = os.getloadavg()
    seconds, published = await drain(rig, alerts, args.backlog, timeout=args.timeout)
    cpu = {
        name: round(after - before, 3)
        for name, pid in pids.items()
        if (before := cpu_before[name]) is not None and (after := cpu_seconds(pid)) is not None
    }
    total_cpu = sum(cpu.values())
    result = {
        "phase": label,
        "correlate_processes": len(pids),
        "alerts": args.backlog,
        "seconds": round(seconds, 3),
        "publish_seconds": round(published, 3),
        "alerts_per_second": round(args.backlog / seconds, 1),
        "cpu_seconds": cpu,
        "alerts_per_cpu_second": round(args.backlog / total_cpu, 1) if total_cpu else None,
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
    }
    print(f"  {label}: {result['alerts_per_second']} alerts/s, cpu {cpu}, load {load[0]:.1f}", flush=True)
    return result


async def bench(args: argparse.Namespace, bootstrap: str, pg_url: str) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="ewarn-correlate-scaleout-"))
    async with pipeline_rig(
        postgres_url=pg_url, bootstrap=bootstrap, partitions=args.partitions, hospitals=8, logdir=logdir
    ) as rig:
        alerts = AlertCount(bootstrap, rig.deployment.topics.alerts, args.partitions)
        await alerts.start()
        try:
            first = rig.fleet.spawn("correlate", "correlate-1")
            phases = [await phase(rig, alerts, "one process", {"correlate-1": first.pid}, args)]
            second = rig.fleet.spawn("correlate", "correlate-2")
            await asyncio.sleep(args.rebalance_wait)
            two = {"correlate-1": first.pid, "correlate-2": second.pid}
            phases.append(await phase(rig, alerts, "two processes", two, args))
            await second.terminate()
            await asyncio.sleep(args.rebalance_wait)
            phases.append(await phase(rig, alerts, "one process again", {"correlate-1": first.pid}, args))
        finally:
            await alerts.stop()
    one = (phases[0]["alerts_per_second"] + phases[2]["alerts_per_second"]) / 2
    return {
        "benchmark": "correlate_scaleout",
        "quick": args.quick,
        "machine": machine(),
        "setup": {
            "partitions": args.partitions,
            "hospitals": 8,
            "backlog_per_phase": args.backlog,
            "bus": "Kafka (KRaft, one node)",
            "database": "PostgreSQL",
            "measured": "publish of the backlog onto the indicators topic → every alert on the alerts topic",
        },
        "phases": phases,
        "ratios": {"two_to_one": round(phases[1]["alerts_per_second"] / one, 3)},
        "logs": str(logdir),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small backlog (smoke test)")
    parser.add_argument("--backlog", type=int, default=None, help="indicators per phase (one alert each)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rebalance-wait", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.backlog = args.backlog or (500 if args.quick else 20_000)
    os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())
    with services(args.bootstrap, args.pg_url) as (bootstrap, pg_url, _broker_pid):
        write_results(args.out, eventloop.run(bench(args, bootstrap, pg_url), kind="asyncio", gc_gen0=50_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
