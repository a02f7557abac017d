"""Dispatch benchmark: signed webhooks from one dispatch process to a loopback receiver (embedded default).

Phases, in one run, against the same receiver (a separate process that verifies every signature with
``standardwebhooks``):

- ``sustained``: alerts offered at ``--rate`` per second for ``--seconds``; delivered per second and the
  ingest-to-delivery latency of each alert (alert stamped ``ingested_at`` as it enters the alerts topic →
  the receiver has it, signature verified). Target: keeps up with 2,000/s, median < 100 ms.
- ``burst``: ``--burst`` alerts at once; deliveries per second until the last one is delivered (capacity).
- ``baseline``: the same number of plain POSTs with httpx's default client, signed the same way (so the
  verifying receiver accepts them), no database, no bus, at the same concurrency: what the loopback HTTP path alone costs. The report gives dispatch/baseline.

``--databases sqlite,postgresql`` runs the phases once per outbox database (PostgreSQL: a throwaway server, or
``--pg-url``); ``webhooks_per_cpu_second`` puts the burst's signed webhooks per CPU-second of the dispatch
process side by side (issue 12's target: 5,000). ``--phases burst`` runs the burst alone.

Writes ``bench/results/dispatch.json``. ``--quick`` is a smoke test (small counts). Loopback only. ``--src`` measures
another source tree with this script (old and new alternated); ``--profile FILE`` writes a cProfile of the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]


from src_tree import use_src_from_argv  # noqa: E402

use_src_from_argv()

from tests.support.receivers import add_provider, add_subscription, deliveries, sample_alert  # noqa: E402

import ewarn  # noqa: E402
from ewarn import eventloop  # noqa: E402
from ewarn.bus.memory import MemoryBus  # noqa: E402
from ewarn.crypto.secretbox import generate_key  # noqa: E402
from ewarn.dispatch.transport import PinnedHTTPTransport  # noqa: E402
from ewarn.dispatch.worker import DispatchWorker  # noqa: E402
from ewarn.ids import delivery_id  # noqa: E402
from ewarn.runtime import Runtime  # noqa: E402
from ewarn.settings import DispatchSettings, SecretsSettings, Settings  # noqa: E402
from ewarn.store.db import as_utc, create_schema  # noqa: E402
from ewarn.store.repositories.subscriptions import update_subscription  # noqa: E402
from ewarn.store.tables import DeliveryAttemptRow, DeliveryRow  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "dispatch.json"


class Receiver:
    """The receiver process: started with the subscription's secret, stopped with SIGTERM for its stats."""

    def __init__(self, secret: str, folder: Path) -> None:
        self.stats_path = folder / "receiver-stats.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.receivers",
                "--secret",
                secret,
                "--stats",
                str(self.stats_path),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        stats: dict[str, Any] = json.loads(self.stats_path.read_text())
        return stats


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Prepared:
    """Alert messages serialised before the clock starts: the producer's work is not the benchmark's."""

    ids: list[str]
    messages: list[tuple[str | None, bytes]]


def _alerts(prefix: str, count: int) -> Prepared:
    alerts = [sample_alert(asset_id=f"{prefix}_{i}", severity="high") for i in range(count)]
    return Prepared([a.id for a in alerts], [(a.provider_id, a.model_dump_json().encode()) for a in alerts])


async def _settled(runtime: Runtime, worker: DispatchWorker, expected: int, timeout: float) -> None:
    """Wait until ``expected`` deliveries are recorded delivered (the worker's count, then the database's)."""
    deadline = time.monotonic() + timeout
    while worker.counters["delivered"] < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {expected} deliveries within {timeout}s")
        await asyncio.sleep(0.02)
    while time.monotonic() < deadline:
        async with runtime.sessions() as session:
            done = await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "delivered")
            )
        if (done or 0) >= expected:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"fewer than {expected} deliveries recorded within {timeout}s")


async def _publish(runtime: Runtime, batch: Prepared, lo: int, hi: int, sent_at: dict[str, float]) -> None:
    """Publish messages ``lo:hi``; their ingest time is now (latency is measured from here)."""
    now = time.time()
    for alert_id in batch.ids[lo:hi]:
        sent_at[alert_id] = now
    await runtime.bus.publish_many(runtime.topics.alerts, batch.messages[lo:hi])


async def sustained(
    runtime: Runtime, batch: Prepared, *, rate: int, sent_at: dict[str, float]
) -> dict[str, Any]:
    """Offer ``batch`` at ``rate`` alerts/s in 10 ms slices; return what was offered."""
    per_tick = max(1, rate // 100)
    total = len(batch.ids)
    start = time.perf_counter()
    for i in range(0, total, per_tick):
        await _publish(runtime, batch, i, i + per_tick, sent_at)
        next_at = start + (i + per_tick) / rate
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    offered_for = time.perf_counter() - start
    return {"ids": batch.ids, "offered": total, "offered_seconds": round(offered_for, 3)}


async def burst(runtime: Runtime, batch: Prepared, *, sent_at: dict[str, float]) -> dict[str, Any]:
    started = time.time()
    await _publish(runtime, batch, 0, len(batch.ids), sent_at)
    return {"ids": batch.ids, "offered": len(batch.ids), "started": started}


async def baseline(port: int, secret: str, *, count: int, concurrency: int) -> dict[str, Any]:
    """Plain POSTs with httpx's default client, no database and no bus: the HTTP path alone.

    Signed like the dispatcher's (Standard Webhooks, the subscription's secret, a new webhook-id each), so the
    verifying receiver accepts them: the baseline pays for signing too, and its answers are the 2xx ours get.
    """
    body = sample_alert().model_dump_json().encode()
    text = body.decode()
    signer = Webhook(secret)
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one(n: int) -> int:
            msg_id = f"baseline_{n}"
            now = datetime.now(UTC)
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(msg_id, now, text),
                "content-type": "application/json",
            }
            async with sem:
                url = f"http://127.0.0.1:{port}/baseline"
                return (await client.post(url, content=body, headers=headers)).status_code

        await asyncio.gather(*[one(-1 - n) for n in range(min(200, count))])  # warm the pool
        started = time.perf_counter()
        codes = await asyncio.gather(*[one(n) for n in range(count)])
        took = time.perf_counter() - started
    return {
        "requests": count,
        "warm_up_requests": min(200, count),
        "seconds": round(took, 3),
        "per_second": round(count / took, 1),
        "status": sorted(set(codes)),
        "accepted": sum(200 <= c < 300 for c in codes),
    }


def _latencies(
    ids: list[str], sub_id: str, sent_at: dict[str, float], arrivals: dict[str, float]
) -> list[float]:
    out = []
    for alert_id in ids:
        got = arrivals.get(delivery_id(alert_id=alert_id, subscription_id=sub_id, revision=1))
        if got is not None:
            out.append((got - sent_at[alert_id]) * 1000)
    return out


def _arrival_times(ids: list[str], sub_id: str, arrivals: dict[str, float]) -> list[float]:
    return sorted(arrivals[delivery_id(alert_id=a, subscription_id=sub_id, revision=1)] for a in ids)


def _sustained_result(
    phase: dict[str, Any],
    sub_id: str,
    sent_at: dict[str, float],
    arrivals: dict[str, float],
    stages: dict[str, tuple[float, float, float]],
) -> dict[str, Any]:
    times = _arrival_times(phase["ids"], sub_id, arrivals)
    rate = len(times) / (times[-1] - times[0]) if len(times) > 1 else None
    return {
        "offered_per_second": phase["rate"],
        "offered": phase["offered"],
        "offer_window_seconds": phase["offered_seconds"],
        "delivered_per_second": round(rate, 1) if rate else None,
        "all_delivered_after_seconds": round(phase["took"], 3),
        "cpu_share_of_one_core": round(phase["cpu"] / phase["took"], 2),
        "latency_ingest_to_delivery": _summary(_latencies(phase["ids"], sub_id, sent_at, arrivals)),
        "latency_breakdown": _breakdown(phase["ids"], sub_id, sent_at, arrivals, stages),
    }


async def _stage_times(runtime: Runtime) -> dict[str, tuple[float, float, float]]:
    """Delivery id → (stored in the outbox, send started, send finished), epoch seconds, first attempt."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(DeliveryRow.id, DeliveryRow.created_at, DeliveryAttemptRow.at, DeliveryRow.delivered_at)
            .join(DeliveryAttemptRow, DeliveryAttemptRow.delivery_id == DeliveryRow.id)
            .where(DeliveryAttemptRow.attempt == 1, DeliveryRow.delivered_at.is_not(None))
        )
        return {
            r.id: tuple(as_utc(t).timestamp() for t in (r.created_at, r.at, r.delivered_at)) for r in rows
        }


def _breakdown(
    ids: list[str],
    sub_id: str,
    sent_at: dict[str, float],
    arrivals: dict[str, float],
    stages: dict[str, tuple[float, float, float]],
) -> dict[str, float | None]:
    """Median milliseconds spent in each step from the alerts topic to the receiver's verified arrival."""
    parts: dict[str, list[float]] = {"to_outbox": [], "outbox_to_send": [], "send_to_arrival": [], "send": []}
    for alert_id in ids:
        did = delivery_id(alert_id=alert_id, subscription_id=sub_id, revision=1)
        if did not in stages or did not in arrivals:
            continue
        stored, started, finished = stages[did]
        parts["to_outbox"].append((stored - sent_at[alert_id]) * 1000)
        parts["outbox_to_send"].append((started - stored) * 1000)
        parts["send_to_arrival"].append((arrivals[did] - started) * 1000)
        parts["send"].append((finished - started) * 1000)
    return {f"{k}_p50_ms": round(percentile(v, 50) or 0, 2) if v else None for k, v in parts.items()}


def _by_rate(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each rate's runs side by side: the machine is noisy, so one run's median is not the whole story."""
    out: dict[str, dict[str, Any]] = {}
    for rate in sorted({r["offered_per_second"] for r in results}, reverse=True):
        runs = [r for r in results if r["offered_per_second"] == rate]
        p50s = [r["latency_ingest_to_delivery"]["p50_ms"] for r in runs]
        out[str(rate)] = {
            "runs": len(runs),
            "p50_ms_each_run": p50s,
            "p50_ms_median_of_runs": statistics.median(p50s),
            "delivered_per_second_each_run": [r["delivered_per_second"] for r in runs],
        }
    return out


def _summary(latencies: list[float]) -> dict[str, float | None]:
    return {
        "p50_ms": round(percentile(latencies, 50) or 0, 2) if latencies else None,
        "p95_ms": round(percentile(latencies, 95) or 0, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) or 0, 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
    }


def _cpu_split() -> tuple[float, float]:
    """(user, system) CPU seconds of this process so far, all threads (the SQLite driver runs in threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of this process so far: the main thread (the event loop) and the others (database
    driver threads), from Linux /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {"main": 0.0, "other_threads": 0.0}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        key = "main" if task.name == str(os.getpid()) else "other_threads"
        out[key] = round(out[key] + (int(fields[11]) + int(fields[12])) / ticks, 2)
    return out


async def run(args: argparse.Namespace, database: str, database_url: str | None) -> dict[str, Any]:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    folder = Path(tempfile.mkdtemp(prefix="ewarn-dispatch-bench-"))
    settings = Settings(
        database_url=database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        dispatch=DispatchSettings(allowed_networks=["127.0.0.0/8"], concurrency=args.concurrency),
        # PostgreSQL needs a key sealing the signing secrets at rest (SQLite makes a key file by itself).
        secrets=SecretsSettings(keys=SecretStr(generate_key())) if database_url else SecretsSettings(),
    )
    runtime = Runtime.build(settings, bus=MemoryBus())
    await create_schema(runtime.engine)
    await add_provider(runtime.sessions)
    receiver: Receiver | None = None
    try:
        sub, secret = await add_subscription(runtime.sessions, "http://127.0.0.1:1/hook")
        assert secret is not None
        receiver = Receiver(secret, folder)
        async with runtime.sessions() as session:
            await update_subscription(
                session=session, subscription_id=sub.id, target=f"http://127.0.0.1:{receiver.port}/hook"
            )
            await session.commit()
        sent_at: dict[str, float] = {}
        transport = PinnedHTTPTransport()
        async with httpx.AsyncClient(trust_env=False) as http:
            worker = DispatchWorker(
                sessions=runtime.sessions,
                bus=runtime.bus,
                topics=runtime.topics,
                settings=settings,
                http=http,
                transport=transport,
            )
            task = asyncio.create_task(worker.run())
            try:
                warm = _alerts("warm", 200)
                plan = (
                    [rate for _ in range(args.repeat) for rate in args.rates]
                    if "sustained" in args.phases
                    else []
                )
                steadies = [
                    _alerts(f"sus{n}-{rate}", int(rate * args.seconds)) for n, rate in enumerate(plan)
                ]
                bulk = _alerts("burst", args.burst)
                # The prepared messages are long-lived test data, not the dispatcher's: keep the collector from
                # rescanning them on every full collection while the clock runs.
                gc.collect()
                gc.freeze()
                await _publish(runtime, warm, 0, 200, sent_at)
                expected = 200
                await _settled(runtime, worker, expected, timeout=60)
                phases = []
                for rate, steady in zip(plan, steadies, strict=True):
                    t0, cpu0 = time.perf_counter(), time.process_time()
                    offered = await sustained(runtime, steady, rate=rate, sent_at=sent_at)
                    expected += offered["offered"]
                    await _settled(runtime, worker, expected, timeout=60 + args.seconds * 4)
                    offered["took"] = time.perf_counter() - t0
                    offered["cpu"] = time.process_time() - cpu0
                    offered["rate"] = rate
                    phases.append(offered)
                threads_before = _thread_cpu()
                profiler = cProfile.Profile(time.thread_time) if args.profile else None  # main thread CPU
                t1, cpu1, split1 = time.perf_counter(), time.process_time(), _cpu_split()
                if profiler is not None:
                    profiler.enable()
                bursted = await burst(runtime, bulk, sent_at=sent_at)
                expected += args.burst
                await _settled(runtime, worker, expected, timeout=600)
                burst_took = time.perf_counter() - t1
                burst_cpu = time.process_time() - cpu1
                split2 = _cpu_split()
                threads_after = _thread_cpu()
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(str(args.profile))
            finally:
                worker.stop()
                await asyncio.wait_for(task, 60)
        base = (
            await baseline(receiver.port, secret, count=args.burst, concurrency=args.concurrency)
            if "baseline" in args.phases
            else None
        )
        stats = receiver.stop()
        receiver = None
        arrivals: dict[str, float] = stats["arrivals"]
        burst_lat = _latencies(bursted["ids"], sub.id, sent_at, arrivals)
        burst_arrivals = _arrival_times(bursted["ids"], sub.id, arrivals)
        burst_rate = args.burst / (burst_arrivals[-1] - bursted["started"])
        stages = await _stage_times(runtime)
        sustained_results = [_sustained_result(phase, sub.id, sent_at, arrivals, stages) for phase in phases]
        rows = await deliveries(runtime.sessions)
        return {
            "benchmark": "dispatch",
            "quick": args.quick,
            "when": datetime.now(UTC).isoformat(),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "load_average_at_start": load_at_start,
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            },
            "setup": {
                "database": "SQLite file (embedded default), WAL"
                if database == "sqlite"
                else "PostgreSQL (throwaway server on loopback, fsync off)"
                if database_url and args.pg_url is None
                else "PostgreSQL",
                "bus": "in-process",
                "processes": "one dispatch process; a receiver process verifying every signature",
                "concurrency": args.concurrency,
                "http_transport": "ewarn.dispatch.transport.PinnedHTTPTransport",
                "event_loop": type(asyncio.get_running_loop()).__module__,
                "src": str(Path(ewarn.__file__).resolve().parents[1]),
                "gc_threshold": list(gc.get_threshold()),
            },
            "sustained": sustained_results,
            "sustained_by_rate": _by_rate(sustained_results),
            "burst": {
                "alerts": args.burst,
                "delivered_per_second": round(burst_rate, 1),
                "settled_in_db_seconds": round(burst_took, 3),
                # CPU the dispatch process used (all its threads): what the rate would be on a core of its own.
                "cpu_seconds": round(burst_cpu, 3),
                "delivered_per_cpu_second": round(args.burst / burst_cpu, 1),
                "cpu_user_seconds": round(split2[0] - split1[0], 3),
                "cpu_system_seconds": round(split2[1] - split1[1], 3),
                "cpu_share_of_one_core": round(burst_cpu / burst_took, 2),
                "cpu_seconds_by_thread": {
                    k: round(threads_after[k] - threads_before[k], 2) for k in threads_after
                },
                "latency_ingest_to_delivery": _summary(burst_lat),
            },
            "baseline_plain_httpx_signed": base,
            "ratio_burst_to_baseline": round(burst_rate / base["per_second"], 3) if base else None,
            "receiver": {
                "requests": stats["requests"],
                "verified": stats["verified"],
                "rejected": stats["rejected"],
            },
            "deliveries": {"rows": len(rows), "delivered": sum(r.status == "delivered" for r in rows)},
            "worker": worker.stats(),
            "targets": {"signed_per_second": 2000, "p50_ms": 100, "signed_per_cpu_second": 5000},
        }
    finally:
        if receiver is not None:
            receiver.proc.kill()
        await runtime.close()
        shutil.rmtree(folder, ignore_errors=True)


def _run_on(args: argparse.Namespace, database: str) -> dict[str, Any]:
    """Every phase against one outbox database (``postgresql``: ``--pg-url`` or a throwaway server)."""
    if database == "sqlite":
        return eventloop.run(run(args, database, None), kind=args.loop, gc_gen0=args.gc_gen0)
    if database != "postgresql":
        raise SystemExit(f"unknown database {database!r} (sqlite, postgresql)")
    if args.pg_url:
        return eventloop.run(run(args, database, args.pg_url), kind=args.loop, gc_gen0=args.gc_gen0)
    from tests.support.postgres_server import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="ewarn-dispatch-bench-pg-")))
    server.start()
    try:
        return eventloop.run(run(args, database, server.url), kind=args.loop, gc_gen0=args.gc_gen0)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: small counts, a second of load")
    parser.add_argument(
        "--rates",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[2000, 1000],
        help="alerts offered per second, one sustained phase per rate (comma-separated)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the sustained phase")
    parser.add_argument("--repeat", type=int, default=3, help="sustained phases per rate")
    parser.add_argument("--burst", type=int, default=20000, help="alerts in the burst phase")
    # Deeper than the 32 connections the transport opens per receiver: waiting sends batch the database work.
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--gc-gen0",
        type=int,
        default=Settings().gc_gen0_threshold,
        help="generation-0 GC threshold, as EWARN_GC_GEN0_THRESHOLD (0: Python's default)",
    )
    parser.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="event loop (as EWARN_EVENT_LOOP)",
    )
    parser.add_argument(
        "--databases",
        type=lambda v: v.split(","),
        default=None,
        help="outbox databases, comma-separated: sqlite, postgresql (default both; --quick: sqlite)",
    )
    parser.add_argument("--src", default=str(ROOT / "src"), help="the ewarn source tree to measure")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the burst phase to this file")
    parser.add_argument("--pg-url", help="use this PostgreSQL instead of starting a throwaway one")
    parser.add_argument(
        "--phases",
        type=lambda v: set(v.split(",")),
        default={"sustained", "burst", "baseline"},
        help="phases to run, comma-separated: sustained, burst (always), baseline",
    )
    args = parser.parse_args()
    if args.quick:
        args.rates, args.seconds, args.burst, args.repeat = [500], 1.0, 1000, 1
    databases = args.databases or (["sqlite"] if args.quick else ["sqlite", "postgresql"])
    results = {db: _run_on(args, db) for db in databases}
    result = dict(results[databases[0]])
    result["databases"] = databases
    for db in databases[1:]:
        result[db] = results[db]
    result["webhooks_per_cpu_second"] = {
        db: results[db]["burst"]["delivered_per_cpu_second"] for db in databases
    } | {"target": 5000}
    if not args.quick or args.out != RESULTS:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "sustained_by_rate",
                    "burst",
                    "baseline_plain_httpx_signed",
                    "ratio_burst_to_baseline",
                    "webhooks_per_cpu_second",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
