"""Pipeline benchmark on Kafka + PostgreSQL: push API → correlate → dispatch, one process per role.

``ewarn run api`` (the ingest edge: ``POST /api/v1/ingest/stix`` stores the indicators and publishes them),
``ewarn run correlate`` and ``ewarn run dispatch`` run as separate processes against one KRaft broker (topics
with ``--partitions``, 4 by default) and one PostgreSQL, the way ``tests/integration/test_kafka_pipeline_e2e``
starts them (``tests.support.pipeline_rig``). Eight hospitals, each with its own domain and a webhook
subscription to one signature-verifying receiver on loopback. See ``pipeline_common`` for the offer and the
figures. In the same run, on the same broker: the raw aiokafka produce→consume rate of messages the size of
our indicator messages (``kafka_baseline``), and our ratio to it.

    python bench/pipeline_kafka.py                 # full run (≈ 5 min; starts its own Kafka and PostgreSQL)
    python bench/pipeline_kafka.py --quick         # one small step: the smoke test's run
    python bench/pipeline_kafka.py --bootstrap HOST:PORT --pg-url URL   # existing services
    python bench/pipeline_kafka.py --correlators 2 --out bench/results/pipeline_kafka_2c.json  # scale-out

Writes ``bench/results/pipeline_kafka.json`` (``--out`` to change). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from kafka_baseline import raw_rate  # noqa: E402
from pipeline_common import (  # noqa: E402
    Receipt,
    Step,
    best_sustained,
    machine,
    run_step,
    run_steps,
    steps_for,
    write_results,
)
from tests.support.netutil import free_port  # noqa: E402
from tests.support.pipeline_rig import pipeline_rig, read_topic  # noqa: E402

from ewarn import eventloop  # noqa: E402
from ewarn.crypto.secretbox import generate_key  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline_kafka.json"


@contextlib.contextmanager
def services(bootstrap: str | None, pg_url: str | None) -> Iterator[tuple[str, str, int | None]]:
    """The broker and PostgreSQL given, or throwaway ones started here; yields (bootstrap, url, broker pid)."""
    from tests.support.kafka_broker import KafkaBroker
    from tests.support.postgres_server import PostgresServer

    workdir = Path(tempfile.mkdtemp(prefix="ewarn-pipeline-bench-"))
    broker = pg = None
    try:
        if bootstrap is None:
            broker = KafkaBroker(workdir / "kafka")
            broker.start()
            bootstrap = broker.bootstrap
        if pg_url is None:
            pg = PostgresServer(workdir / "pg")
            pg.start()
            pg_url = pg.url
        broker_pid = broker._proc.pid if broker is not None and broker._proc is not None else None
        yield bootstrap, pg_url, broker_pid
    finally:
        if broker is not None:
            broker.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def _wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as probe:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} did not answer /healthz within {timeout:.0f}s")
            await asyncio.sleep(0.2)


async def bench(
    args: argparse.Namespace, bootstrap: str, pg_url: str, broker_pid: int | None
) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="ewarn-pipeline-kafka-logs-"))
    grid, step_up = steps_for(quick=args.quick, seconds=args.seconds, saturation=args.saturation)
    receipt = Receipt()
    async with pipeline_rig(
        postgres_url=pg_url, bootstrap=bootstrap, partitions=args.partitions, hospitals=8, logdir=logdir
    ) as rig:
        receipt.attach(rig.receiver)
        api_port = free_port()
        processes = {"api": rig.fleet.spawn("api", EWARN_API_PORT=str(api_port))}
        for n in range(args.correlators):
            name = "correlate" if args.correlators == 1 else f"correlate-{n + 1}"
            processes[name] = rig.fleet.spawn("correlate", name)
        processes["dispatch"] = rig.fleet.spawn("dispatch")
        base = f"http://127.0.0.1:{api_port}"
        await _wait_ready(base)
        domains = [h.domain for h in rig.hospitals]
        pids: dict[str, int | None] = {name: p.pid for name, p in processes.items()}
        if broker_pid is not None:
            pids["kafka_broker"] = broker_pid
        headers = {"Authorization": f"Bearer {rig.deployment.operator_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            # Warm-up (not reported): consumer groups assigned, connections and caches made.
            warm = await run_step(
                client=client,
                step=Step(50, 1.0, 1.0, "warmup"),
                step_no=999,
                hospital_domains=domains,
                receipt=receipt,
                pids=pids,
                drain_timeout=60,
                alive=rig.fleet.check_alive,
            )
            if warm["alerts_delivered"] != warm["alerts_expected"]:
                raise RuntimeError(f"warm-up alerts did not arrive:\n{rig.fleet.describe()}")
            steps = await run_steps(
                client=client,
                grid=grid,
                step_up=step_up,
                hospital_domains=domains,
                receipt=receipt,
                pids=pids,
                drain_timeout=args.drain_timeout,
                alive=rig.fleet.check_alive,
                budget_seconds=args.budget,
            )
        sample = await read_topic(bootstrap, rig.deployment.topics.indicators, timeout=30)
        size = round(sum(len(r.value or b"") for r in sample) / max(1, len(sample)))
        raw = await raw_rate(bootstrap, count=args.raw_messages, size=size, partitions=args.partitions)
        print(f"  raw aiokafka: {raw}", flush=True)
    best = best_sustained(steps)
    peak = max((s["indicators_per_second"] for s in steps if not s.get("skipped")), default=0.0)
    return {
        "benchmark": "pipeline_kafka",
        "quick": args.quick,
        "machine": machine(),
        "setup": {
            "processes": ["ewarn run api (push ingest edge)", "ewarn run correlate", "ewarn run dispatch"],
            "partitions": args.partitions,
            "correlate_processes": args.correlators,
            "hospitals": 8,
            "bus": "Kafka (KRaft, one node)",
            "database": "PostgreSQL",
            "latency": "POST of the bundle to the push API → signature-verified receipt at the receiver",
        },
        "steps": steps,
        "warmup": warm,
        "best_sustained": best,
        "raw_aiokafka": raw,
        "ratios": {
            "peak_indicators_per_second_to_raw_produce_consume": round(
                peak / raw["produce_to_consume_per_second"], 4
            ),
        },
        "duplicates": receipt.duplicates,
        "rejected_webhooks": receipt.rejected,
        "logs": str(logdir),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small step (smoke test)")
    parser.add_argument("--seconds", type=float, default=None, help="offer duration per step")
    parser.add_argument("--saturation", type=int, nargs="*", default=[2000, 4000, 8000])
    parser.add_argument("--drain-timeout", type=float, default=None)
    parser.add_argument("--budget", type=float, default=360.0, help="seconds for all steps together")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--correlators", type=int, default=1, help="correlate processes (scale-out run)")
    parser.add_argument("--raw-messages", type=int, default=None)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.drain_timeout = args.drain_timeout or (20.0 if args.quick else 30.0)
    args.raw_messages = args.raw_messages or (5_000 if args.quick else 100_000)
    # Webhook secrets are encrypted at rest on PostgreSQL; the role processes inherit this key.
    os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())
    with services(args.bootstrap, args.pg_url) as (bootstrap, pg_url, broker_pid):
        # asyncio, not uvloop: the in-process receiver (tests.support.receivers) needs asyncio transports.
        result = eventloop.run(bench(args, bootstrap, pg_url, broker_pid), kind="asyncio", gc_gen0=50_000)
    write_results(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
