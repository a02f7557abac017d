"""The push-API edge: ``POST /api/v1/ingest/stix`` through the real app, in this process, per CPU-second.

What ``ewarn run api`` does for a pushed bundle (parse, store the indicators, publish the new ones, audit the
push), over ``httpx.ASGITransport`` so no socket or second process blurs the figure: indicators per CPU-second
of this process (``time.process_time``: every thread, so the parse in the worker thread and SQLite's
connection threads count). Bundles are the pipeline benchmark's shape (``bench/pipeline_offer.py``): 200
domain indicators each, fresh names, one POST at a time after a few untimed warm-up posts.

Two cases: ``new`` (every indicator is new: stored and published) and ``seen_again`` (the same bundles posted
once more: every indicator is already stored, merged, and not published since nothing changed). Embedded
default: SQLite file and the in-process bus; ``--pg`` also runs them on a PostgreSQL started here (its
server's CPU is not counted: only this process's).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pipeline_offer import stix_indicator

from ewarn import eventloop
from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.logging import configure_logging
from ewarn.models.indicator import Indicator, IndicatorType
from ewarn.models.provider import Role
from ewarn.roles import prepare
from ewarn.runtime import Runtime
from ewarn.settings import KafkaSettings, Settings
from ewarn.store.repositories.principals import create_api_key

PER_BUNDLE = 200
WARM_UP = 5
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of another process so far, from ``/proc``; 0 without a pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def bundle(run: str, first: int, count: int) -> bytes:
    """A STIX 2.1 bundle of ``count`` domain indicators as the pipeline benchmark posts them."""
    objects = []
    for n in range(first, first + count):
        value = f"e-{run}-{n}.elsewhere.example"
        objects.append(stix_indicator(value, Indicator.make_key(IndicatorType.DOMAIN, value), n))
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}).encode()


async def _post_all(client: httpx.AsyncClient, key: str, bodies: list[bytes]) -> tuple[int, list[float]]:
    accepted = 0
    post_ms: list[float] = []
    for body in bodies:
        began = time.perf_counter()
        response = await client.post(
            "/api/v1/ingest/stix",
            params={"feed_id": "bench-edge"},
            content=body,
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        post_ms.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"push failed: {response.status_code} {response.text[:300]}")
        accepted += int(response.json()["accepted"])
    return accepted, post_ms


def _figures(accepted: int, cpu: float, wall: float, post_ms: list[float]) -> dict[str, Any]:
    return {
        "indicators": accepted,
        "cpu_seconds": round(cpu, 3),
        "indicators_per_cpu_second": round(accepted / cpu) if cpu > 0 else None,
        "indicators_per_second": round(accepted / wall) if wall > 0 else None,
        "post_ms_p50": round(statistics.median(post_ms), 1),
    }


async def _edge(
    database_url: str,
    bundles: int,
    *,
    kafka: KafkaSettings | None = None,
    per_bundle: int = PER_BUNDLE,
    broker_pid: int | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    settings = Settings(database_url=database_url, kafka=kafka or KafkaSettings())
    runtime = Runtime.build(settings, bus=None if kafka else MemoryBus())
    await prepare(runtime)
    async with runtime.sessions() as session:
        _, key = await create_api_key(session=session, role=Role.OPERATOR, name="bench edge")
        await session.commit()
    run = uuid.uuid4().hex[:8]
    warm = [bundle(f"w{run}", n * per_bundle, per_bundle) for n in range(WARM_UP)]
    bodies = [bundle(run, n * per_bundle, per_bundle) for n in range(bundles)]
    out: dict[str, Any] = {"bundles": bundles, "indicators_per_bundle": per_bundle}
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.bench") as client:
            await _post_all(client, key, warm)
            for case in ("new", "seen_again"):
                profiler = (
                    cProfile.Profile(time.thread_time) if profile is not None and case == "new" else None
                )
                cpu0, wall0, broker0 = time.process_time(), time.perf_counter(), process_cpu(broker_pid)
                if profiler is not None:
                    profiler.enable()
                accepted, post_ms = await _post_all(client, key, bodies)
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(str(profile))
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                out[case] = _figures(accepted, cpu, wall, post_ms)
                if broker_pid is not None:
                    broker = process_cpu(broker_pid) - broker0
                    out[case]["broker_cpu_seconds"] = round(broker, 3)
                    out[case]["broker_ms_per_indicator"] = round(broker * 1000 / max(1, accepted), 4)
                out[case]["ms_per_indicator"] = round(cpu * 1000 / max(1, accepted), 4)
        published = (
            runtime.bus.size(runtime.topics.indicators) if isinstance(runtime.bus, MemoryBus) else None
        )
        out["published"] = published  # new indicators only: the second posting changed nothing
    finally:
        http = runtime.services.get("ingest_http")
        if http is not None:
            await http.aclose()
        await runtime.close()
    return out


def edge(*, quick: bool, pg_url: str | None = None) -> dict[str, Any]:
    """The edge on SQLite (and on PostgreSQL when ``pg_url``): figures per case."""
    configure_logging(level="WARNING")
    bundles = 3 if quick else 40
    settings = Settings()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ewarn-edge-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'edge.db'}"
        result["sqlite"] = eventloop.run(
            _edge(url, bundles), kind=settings.event_loop, gc_gen0=settings.gc_gen0_threshold
        )
    if pg_url is not None:
        result["postgresql"] = eventloop.run(
            _edge(pg_url, bundles), kind=settings.event_loop, gc_gen0=settings.gc_gen0_threshold
        )
    return result


def kafka_compare(
    compressions: list[str],
    *,
    rounds: int,
    bundles: int,
    per_bundle: int,
    profile: bool,
    services: tuple[str, str, int | None] | None = None,
) -> None:
    """The edge on PostgreSQL and Kafka (started here unless ``services`` = (bootstrap, database URL, broker
    pid)), producer compressions alternated round by round: this process's and the broker's CPU per new
    indicator, one JSON line per case and round."""
    from tests.support.kafka_broker import KafkaBroker
    from tests.support.postgres_server import PostgresServer

    from ewarn.crypto.secretbox import generate_key

    configure_logging(level="WARNING")
    os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())
    loop_settings = Settings()
    with tempfile.TemporaryDirectory(prefix="ewarn-edge-kafka-") as folder:
        pg = broker = None
        if services is None:
            pg, broker = PostgresServer(Path(folder) / "pg"), KafkaBroker(Path(folder) / "kafka")
            pg.start()
            broker.start()
            pid = broker._proc.pid if broker._proc is not None else None
            services = (broker.bootstrap, pg.url, pid)
        bootstrap, url, pid = services
        try:
            for round_no in range(rounds):
                for name in compressions:
                    prefix = f"edge{uuid.uuid4().hex[:8]}"
                    kafka = KafkaSettings(bootstrap=bootstrap, compression=name, topic_prefix=prefix)
                    dump = Path(f"/tmp/edge-{name}-{round_no}.prof") if profile else None
                    result = eventloop.run(
                        _edge(url, bundles, kafka=kafka, per_bundle=per_bundle, broker_pid=pid, profile=dump),
                        kind=loop_settings.event_loop,
                        gc_gen0=loop_settings.gc_gen0_threshold,
                    )
                    load = round(os.getloadavg()[0], 2)
                    print(
                        json.dumps({"round": round_no, "compression": name, "load": load, **result}),
                        flush=True,
                    )
        finally:
            if broker is not None:
                broker.stop()
            if pg is not None:
                pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kafka", default="gzip,none", help="compressions to alternate (PostgreSQL + Kafka)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bundles", type=int, default=40)
    parser.add_argument("--per-bundle", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="cProfile the new case into /tmp/edge-*.prof")
    parser.add_argument("--bootstrap", help="an existing broker (with --pg-url and --broker-pid)")
    parser.add_argument("--pg-url")
    parser.add_argument("--broker-pid", type=int)
    args = parser.parse_args()
    kafka_compare(
        args.kafka.split(","),
        rounds=args.rounds,
        bundles=args.bundles,
        per_bundle=args.per_bundle,
        profile=args.profile,
        services=(args.bootstrap, args.pg_url, args.broker_pid) if args.bootstrap and args.pg_url else None,
    )
    return 0


if __name__ == "__main__":
    ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # ewarn as installed, or from PYTHONPATH (another tree)
    raise SystemExit(main())
