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
    python bench/pipeline_kafka.py --grid 1000:1 1000:20 --saturation --role-env EWARN_KAFKA__LINGER_MS=5

Every step carries ``latency_breakdown`` (``pipeline_breakdown``): where each alert's time went, stage by stage.

Writes ``bench/results/pipeline_kafka.json`` (``--out`` to change). Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from kafka_baseline import raw_rate  # noqa: E402
from pipeline_breakdown import add_breakdowns, breakdown_lines  # noqa: E402
from pipeline_common import (  # noqa: E402
    Receipt,
    Target,
    arguments,
    report,
    run_and_write,
    settle_arguments,
    wait_ready,
    warm_up_and_run,
)
from tests.support.netutil import free_port  # noqa: E402
from tests.support.pipeline_rig import pipeline_rig, read_topic  # noqa: E402

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


async def bench(
    args: argparse.Namespace, bootstrap: str, pg_url: str, broker_pid: int | None
) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="ewarn-pipeline-kafka-logs-"))
    receipt = Receipt()
    async with pipeline_rig(
        postgres_url=pg_url, bootstrap=bootstrap, partitions=args.partitions, hospitals=8, logdir=logdir
    ) as rig:
        receipt.attach(rig.receiver)
        api_port = free_port()

        def spawn(role: str, name: str, **env: str) -> Any:
            # each process traces its batches into its own file (the latency breakdown reads them)
            trace = str(logdir / f"{name}.trace")
            return rig.fleet.spawn(role, name, EWARN_KAFKA__TRACE_FILE=trace, **args.role_env, **env)

        processes = {"api": spawn("api", "api", EWARN_API_PORT=str(api_port))}
        for n in range(args.correlators):
            name = "correlate" if args.correlators == 1 else f"correlate-{n + 1}"
            processes[name] = spawn("correlate", name)
        processes["dispatch"] = spawn("dispatch", "dispatch")
        base = f"http://127.0.0.1:{api_port}"
        await wait_ready(base, alive=rig.fleet.check_alive)
        pids: dict[str, int | None] = {name: p.pid for name, p in processes.items()}
        if broker_pid is not None:
            pids["kafka_broker"] = broker_pid
        headers = {"Authorization": f"Bearer {rig.deployment.operator_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            target = Target(
                client=client,
                hospital_domains=[h.domain for h in rig.hospitals],
                receipt=receipt,
                pids=pids,
                drain_timeout=args.drain_timeout,
                alive=rig.fleet.check_alive,
            )
            warm, steps = await warm_up_and_run(target, args, rig.fleet.describe)
        topics = rig.deployment.topics
        sample = await read_topic(bootstrap, topics.indicators, timeout=60)
        add_breakdowns(
            steps,
            target.timeline,
            indicator_records=sample,
            alert_records=await read_topic(bootstrap, topics.alerts, timeout=60),
            trace_paths=logdir.glob("*.trace"),
        )
        for step in steps:
            print("\n".join([f"  {step['rate']}/s {step['fraction'] * 100:g}%", *breakdown_lines(step)]))
        size = round(sum(len(r.value or b"") for r in sample) / max(1, len(sample)))
        raw = await raw_rate(bootstrap, count=args.raw_messages, size=size, partitions=args.partitions)
        print(f"  raw aiokafka: {raw}", flush=True)
    peak = max((s["indicators_per_second"] for s in steps if not s.get("skipped")), default=0.0)
    setup = {
        "processes": ["ewarn run api (push ingest edge)", "ewarn run correlate", "ewarn run dispatch"],
        "partitions": args.partitions,
        "correlate_processes": args.correlators,
        "bus": "Kafka (KRaft, one node)",
        "database": "PostgreSQL",
        "role_environment": args.role_env,
    }
    return {
        **report("pipeline_kafka", args, setup=setup, warm=warm, steps=steps, receipt=receipt),
        "raw_aiokafka": raw,
        "ratios": {
            "peak_indicators_per_second_to_raw_produce_consume": round(
                peak / raw["produce_to_consume_per_second"], 4
            ),
        },
        "logs": str(logdir),
    }


def main() -> int:
    parser = arguments(__doc__, out=RESULTS, budget=360.0)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--correlators", type=int, default=1, help="correlate processes (scale-out run)")
    parser.add_argument("--raw-messages", type=int, default=None)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument(
        "--role-env",
        type=lambda text: tuple(text.split("=", 1)),
        nargs="*",
        default=[],
        help="EWARN_…=VALUE for every role process (compare settings: --role-env EWARN_KAFKA__LINGER_MS=5)",
    )
    args = settle_arguments(parser.parse_args())
    args.role_env = dict(args.role_env)
    args.raw_messages = args.raw_messages or (5_000 if args.quick else 100_000)
    # Webhook secrets are encrypted at rest on PostgreSQL; the role processes inherit this key.
    os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())
    with services(args.bootstrap, args.pg_url) as (bootstrap, pg_url, broker_pid):
        return run_and_write(bench(args, bootstrap, pg_url, broker_pid), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
