"""Correlate stage benchmark: alerts written and published per CPU-second of the batched stage, on one core.

Drives the real stage: a ``CorrelateWorker`` with its ``StageRunner``s on the in-process bus and a real
database (SQLite file; PostgreSQL in a throwaway server, or ``--pg-url``). The indicator records are on the
topic before the clock starts, so the runner hands the stage full batches, as under a burst. Phases:

- ``observables``: domain indicators, each a subdomain of one of eight hospitals' domains (one alert each, the
  shape of the pipeline benchmarks at 100 % matching);
- ``redelivery``: the same records again (at-least-once after a crash): no revision may be written;
- ``advisories``: vulnerability advisories with remediations and CVE details, each hitting a software asset
  in every hospital (several alerts per indicator, the heaviest alerts ewarn builds).

CPU is ``time.process_time`` of this process (every thread: aiosqlite's included; the PostgreSQL server's not,
as in the pipeline benchmarks' per-role figures). Writes ``bench/results/correlate_stage.json``.

    python bench/correlate_stage_bench.py              # SQLite and a throwaway PostgreSQL
    python bench/correlate_stage_bench.py --quick      # scaled down, for the smoke test
    python bench/correlate_stage_bench.py --no-pg --profile   # SQLite only, with a cProfile summary
    python bench/correlate_stage_bench.py --src /path/to/other/src   # the same bench on another tree

Instruction counts (repeatable on a loaded machine), one phase counted:

    valgrind --tool=callgrind --instr-atstart=no python bench/correlate_stage_bench.py --quick --no-pg \\
        --callgrind observables
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


from src_tree import use_src_from_argv  # noqa: E402

use_src_from_argv()

from tests.support.correlate_seed import seed_inventory  # noqa: E402

from ewarn.bus.memory import MemoryBus  # noqa: E402
from ewarn.bus.topics import Topics  # noqa: E402
from ewarn.correlate.worker import CorrelateSettings, CorrelateWorker  # noqa: E402
from ewarn.models import (  # noqa: E402
    AffectedProduct,
    Asset,
    AssetKind,
    Indicator,
    IndicatorType,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.models.indicator import CveDetail, Reference, SourceRemediation  # noqa: E402
from ewarn.store.db import create_engine, create_schema, session_factory  # noqa: E402
from ewarn.store.tables import AlertRow  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "correlate_stage.json"
TARGET_ALERTS_PER_CPU_SECOND = 5_000
HOSPITALS = 8
SOFTWARE_PER_HOSPITAL = 20
NOW = datetime.now(UTC).replace(microsecond=0)


def hospital(n: int) -> str:
    return f"hosp-{n:02d}"


def inventory() -> list[Asset]:
    assets: list[Asset] = []
    for h in range(HOSPITALS):
        provider = hospital(h)
        assets.append(
            Asset(
                id=f"{provider}-web",
                provider_id=provider,
                kind=AssetKind.DOMAIN,
                name="Public web",
                value=f"{provider}.example",
                owner="web team, +49 30 1234",
            )
        )
        for s in range(SOFTWARE_PER_HOSPITAL):
            assets.append(
                Asset(
                    id=f"{provider}-sw-{s}",
                    provider_id=provider,
                    kind=AssetKind.SOFTWARE,
                    name=f"Clinical app {s}",
                    vendor=f"Vendor {s}",
                    product=f"Product {s}",
                    version="2.3.1",
                    location="Data centre A",
                )
            )
    return assets


def observables(count: int, run: str) -> list[Indicator]:
    source = SourceRef(feed_id="push", feed_kind="stix", record="indicator--x", seen_at=NOW)
    return [
        Indicator(
            key=f"domain:s-{run}-{n}.{hospital(n % HOSPITALS)}.example",
            type=IndicatorType.DOMAIN,
            value=f"s-{run}-{n}.{hospital(n % HOSPITALS)}.example",
            name=f"bench {n}",
            stix_id=f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, str(n))}",
            confidence=90,
            labels=["c2"],
            source=source.model_copy(update={"record": f"indicator--{n}"}),
            sources=["push"],
            valid_from=NOW,
            first_seen=NOW,
            last_seen=NOW,
            ingested_at=NOW,
        )
        for n in range(count)
    ]


def advisories(count: int, run: str) -> list[Indicator]:
    out: list[Indicator] = []
    for n in range(count):
        s = n % SOFTWARE_PER_HOSPITAL
        tracking = f"ICSA-{run}-{n:04d}"
        cves = [f"CVE-2025-{n:04d}{i}" for i in range(3)]
        product_id = f"CSAFPID-{n}"
        out.append(
            Indicator(
                key=f"vulnerability:{tracking}",
                type=IndicatorType.VULNERABILITY,
                value=tracking,
                name=None,
                source=SourceRef(feed_id="cisa-csaf", feed_kind="csaf", record=tracking.lower(), seen_at=NOW),
                sources=["cisa-csaf"],
                cves=cves,
                vulnerability=VulnerabilityInfo(
                    cves=cves,
                    title=f"Vendor {s} Product {s} remote code execution",
                    cvss_score=8.8,
                    cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    affected=[
                        AffectedProduct(
                            vendor=f"Vendor {s}",
                            product=f"Product {s}",
                            versions=[VersionRange(raw="< 2.4.0", lt="2.4.0")],
                            product_id=product_id,
                            cves=cves,
                        )
                    ],
                    cve_details=[
                        CveDetail(id=c, title=f"flaw {i}", cvss_score=8.8 - i, cvss_vector="CVSS:3.1/AV:N")
                        for i, c in enumerate(cves)
                    ],
                    actions=[
                        SourceRemediation(
                            category="vendor_fix",
                            text=f"Update Product {s} to version 2.4.0 or later.",
                            url="https://vendor.example/update",
                            fixed_versions=["2.4.0"],
                            product_ids=[product_id],
                        ),
                        SourceRemediation(
                            category="mitigation",
                            text="Restrict network access to the management interface.",
                            product_ids=[product_id],
                        ),
                    ],
                    advisory_url=f"https://www.cisa.gov/news-events/ics-advisories/{tracking.lower()}",
                    links=[
                        Reference(url=f"https://www.cve.org/CVERecord?id={c}", kind="cve", id=c) for c in cves
                    ],
                ),
                first_seen=NOW,
                last_seen=NOW,
                ingested_at=NOW,
            )
        )
    return out


async def _alert_rows(sessions: Any) -> int:
    from sqlalchemy import func, select

    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AlertRow)) or 0)


def _callgrind(state: str) -> None:
    """Switch callgrind's instruction counting on or off for this process (run under valgrind)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True, check=False)


async def _phase(
    name: str,
    bus: MemoryBus,
    topics: Topics,
    worker: CorrelateWorker,
    sessions: Any,
    records: list[bytes],
    profiler: cProfile.Profile | None,
    callgrind: bool = False,
) -> dict[str, Any]:
    """Offer ``records`` to the running stage and wait until its group has committed all of them."""
    group = CorrelateSettings().indicator_group
    alerts_before = bus.size(topics.alerts)
    rows_before = await _alert_rows(sessions)
    await bus.publish_many(topics.indicators, [(None, r) for r in records])
    wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
    if profiler is not None:
        profiler.enable()
    if callgrind:
        _callgrind("on")
    while bus.lag(topics.indicators, group=group) > 0:
        await asyncio.sleep(0.002)
    if callgrind:
        _callgrind("off")
    if profiler is not None:
        profiler.disable()
    cpu, wall, main = time.process_time() - cpu, time.perf_counter() - wall, time.thread_time() - main
    published = bus.size(topics.alerts) - alerts_before
    written = await _alert_rows(sessions) - rows_before
    result = {
        "indicators": len(records),
        "alerts_published": published,
        "alert_rows_written": written,
        "cpu_seconds": round(cpu, 3),
        "main_thread_cpu_seconds": round(main, 3),  # the rest: the database driver's thread (aiosqlite)
        "wall_seconds": round(wall, 3),
        "indicators_per_cpu_second": round(len(records) / cpu) if cpu else None,
        "alerts_per_cpu_second": round(published / cpu) if cpu and published else 0,
        "cpu_microseconds_per_alert": round(cpu / published * 1e6, 1) if published else None,
    }
    print(f"  {name}: {json.dumps(result)}", flush=True)
    return result


async def measure(
    url: str, *, count: int, advisory_count: int, profile: str | None, callgrind: str | None = None
) -> dict[str, Any]:
    engine = create_engine(url)
    await create_schema(engine)
    sessions = session_factory(engine)
    await seed_inventory(sessions, inventory(), now=NOW)
    bus, topics = MemoryBus(), Topics()
    worker = CorrelateWorker(bus, sessions, topics, CorrelateSettings(expiry_sweep_seconds=3600.0))
    running = asyncio.create_task(worker.run())
    while not worker.index.provider_count:
        await asyncio.sleep(0.01)
    run = uuid.uuid4().hex[:6]
    warm = [i.model_dump_json().encode() for i in observables(200, run + "w")]
    await _phase("warm-up", bus, topics, worker, sessions, warm, None)
    # CPU time of the event-loop thread, not wall time: on a shared machine wall time charges preemption to
    # whatever function happened to run
    profiler = cProfile.Profile(time.thread_time) if profile else None

    def profiled(phase: str) -> cProfile.Profile | None:
        return profiler if profile in (phase, "all") else None

    def counted(phase: str) -> bool:
        return callgrind == phase

    first = [i.model_dump_json().encode() for i in observables(count, run)]
    phases = {
        "observables": await _phase(
            "observables",
            bus,
            topics,
            worker,
            sessions,
            first,
            profiled("observables"),
            counted("observables"),
        ),
        "redelivery": await _phase(
            "redelivery", bus, topics, worker, sessions, first, profiled("redelivery"), counted("redelivery")
        ),
    }
    vulns = [i.model_dump_json().encode() for i in advisories(advisory_count, run)]
    phases["advisories"] = await _phase(
        "advisories", bus, topics, worker, sessions, vulns, profiled("advisories"), counted("advisories")
    )
    worker.stop()
    await asyncio.wait_for(running, 30)
    await engine.dispose()
    out: dict[str, Any] = {"phases": phases}
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(
            os.environ.get("BENCH_SORT", "cumulative")
        ).print_stats(60)
        out["profile_top"] = text.getvalue().splitlines()[:80]
        print(text.getvalue())
    return out


async def _fresh_pg_database(server_url: str) -> str:
    import asyncpg

    name = f"bench_stage_{uuid.uuid4().hex[:8]}"
    plain = server_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = server_url.rsplit("/", 1)[0]
    if not base.startswith("postgresql+asyncpg://"):
        base = base.replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def run(
    *,
    quick: bool,
    pg_url: str | None,
    use_pg: bool,
    profile: str | None,
    src: str,
    out: Path,
    callgrind: str | None = None,
) -> dict[str, Any]:
    count, advisory_count = (400, 40) if quick else (10_000, 300)
    started = datetime.now(UTC)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ewarn-stage-bench-") as folder:
        print("sqlite:", flush=True)
        url = f"sqlite+aiosqlite:///{folder}/stage.db"
        results["sqlite"] = asyncio.run(
            measure(url, count=count, advisory_count=advisory_count, profile=profile, callgrind=callgrind)
        )
    if use_pg:
        server = None
        try:
            if pg_url is None:
                sys.path.insert(0, str(ROOT))
                from tests.support.postgres_server import PostgresServer

                server = PostgresServer(Path(tempfile.mkdtemp(prefix="ewarn-stage-bench-pg-")))
                server.start()
                pg_url = server.url
            print("postgresql:", flush=True)
            db = asyncio.run(_fresh_pg_database(pg_url))
            results["postgresql"] = asyncio.run(
                measure(db, count=count, advisory_count=advisory_count, profile=profile)
            )
        finally:
            if server is not None:
                server.stop()
    headline = {
        db: figures["phases"]["observables"]["alerts_per_cpu_second"] for db, figures in results.items()
    }
    payload = {
        "benchmark": "correlate_stage",
        "quick": quick,
        "src": src,
        "started_at": started.isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "batch_size": CorrelateSettings().batch_size,
        "hospitals": HOSPITALS,
        "target_alerts_per_cpu_second": TARGET_ALERTS_PER_CPU_SECOND,
        "alerts_per_cpu_second": headline,
        "meets_target": {db: rate >= TARGET_ALERTS_PER_CPU_SECOND for db, rate in headline.items()},
        **results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"alerts per CPU-second (observables): {headline}; wrote {out}")
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="scaled-down run (smoke test)")
    parser.add_argument("--pg-url", help="use this PostgreSQL server instead of starting a throwaway one")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument(
        "--profile",
        choices=("observables", "redelivery", "advisories", "all"),
        help="cProfile one measured phase (or all) and print the top functions",
    )
    parser.add_argument(
        "--callgrind",
        choices=("observables", "redelivery", "advisories"),
        help="under valgrind --tool=callgrind --instr-atstart=no: count instructions of this phase (SQLite)",
    )
    parser.add_argument("--src", default=str(ROOT / "src"), help="the ewarn source tree to measure")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    run(
        quick=args.quick,
        pg_url=args.pg_url,
        use_pg=not args.no_pg,
        profile=args.profile,
        src=args.src,
        out=args.out,
        callgrind=args.callgrind,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
