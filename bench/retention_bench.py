"""Retention benchmark: dispatch's outbox work with a large outbox, before and after pruning, in one run.

The embedded default (SQLite file, migrated with Alembic). The outbox is filled with ``--rows`` delivered rows
(30 days old, one attempt each, a real alert as payload), as a service that never pruned would hold. Then, in
the same process and database:

- ``before``: ``--rounds`` rounds of dispatch intake (``--per-round`` new alert events and pending deliveries,
  written in batches of 200 as the intake does) and of claiming them back (``claim_due``, 100 per claim, as the
  sender loop does), and one status report (its delivery counts and latencies read the outbox);
- ``prune``: one ``prune_once`` pass with the default ages (7 days for delivered rows): time and rows removed;
- ``after``: the same rounds again on the pruned outbox.

Writes ``bench/results/retention.json``. ``--quick`` is the smoke test's run (small counts). No network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.receivers import sample_alert  # noqa: E402

from ewarn.ids import delivery_id  # noqa: E402
from ewarn.models.common import utcnow  # noqa: E402
from ewarn.retention.prune import prune_once  # noqa: E402
from ewarn.settings import RetentionSettings  # noqa: E402
from ewarn.status.report import build_status  # noqa: E402
from ewarn.store.db import SessionFactory, create_engine, session_factory  # noqa: E402
from ewarn.store.migrate import upgrade_to_head  # noqa: E402
from ewarn.store.repositories.deliveries import claim_due, insert_alert_events, insert_deliveries  # noqa: E402
from ewarn.store.tables import DeliveryRow, ProviderRow, SubscriptionRow  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "retention.json"
PROVIDER, SUBSCRIPTION = "st-elsewhere", "sub_bench"
INTAKE_BATCH, CLAIM_BATCH = 200, 100


def _row(alert_id: str, revision: int, payload: dict[str, Any], status: str, at: Any) -> dict[str, Any]:
    return {
        "id": delivery_id(alert_id=alert_id, subscription_id=SUBSCRIPTION, revision=revision),
        "alert_id": alert_id,
        "alert_revision": revision,
        "subscription_id": SUBSCRIPTION,
        "provider_id": PROVIDER,
        "channel": "webhook",
        "status": status,
        "attempts": 1 if status == "delivered" else 0,
        "attempts_before_replay": 0,
        "last_error": None,
        "last_status_code": 200 if status == "delivered" else None,
        "next_attempt_at": at if status == "pending" else None,
        "lease_until": None,
        "dispatched_at": at if status == "delivered" else None,
        "delivered_at": at if status == "delivered" else None,
        "payload": payload,
        "digest_key": None,
        "created_at": at,
    }


async def fill(sessions: SessionFactory, rows: int, payload: dict[str, Any]) -> float:
    """The provider, its subscription and ``rows`` old delivered outbox rows with their attempts."""
    started = time.perf_counter()
    old = utcnow() - timedelta(days=30)
    async with sessions() as session:
        await session.execute(
            insert(ProviderRow).values(id=PROVIDER, name=PROVIDER, country="DE", contacts=[], created_at=old)
        )
        await session.execute(
            insert(SubscriptionRow).values(
                id=SUBSCRIPTION,
                provider_id=PROVIDER,
                channel="webhook",
                target="https://hooks.example.org/x",
                created_at=old,
            )
        )
        await session.commit()
    # One row written the ordinary way, then copied in SQL with random hex ids (delivery ids are hashes, so
    # the primary-key index takes them at random places, as in a real outbox).
    template = _row("al_old_0", 1, payload, "delivered", old)
    columns = [c.name for c in DeliveryRow.__table__.columns]
    copied = ", ".join(
        "lower(hex(randomblob(32)))" if c == "id" else "'al_old_' || n" if c == "alert_id" else c
        for c in columns
    )
    async with sessions() as session:
        await session.execute(insert(DeliveryRow), [template])
        await session.execute(
            text(
                f"INSERT INTO deliveries ({', '.join(columns)}) "
                "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :more) "
                f"SELECT {copied} FROM seq, deliveries WHERE deliveries.id = :template"
            ),
            {"more": rows - 1, "template": template["id"]},
        )
        await session.execute(
            text(
                "INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, ok) "
                "SELECT id, 1, created_at, 200, 1 FROM deliveries"
            )
        )
        await session.commit()
    return time.perf_counter() - started


async def one_round(
    sessions: SessionFactory, tag: str, count: int, payload: dict[str, Any]
) -> dict[str, float]:
    """Intake ``count`` new alerts into the outbox, then claim them all back; seconds of each."""
    now = utcnow()
    events = [
        {"provider_id": PROVIDER, "alert_id": f"al_{tag}_{i}", "revision": 1, "created_at": now}
        for i in range(count)
    ]
    rows = [_row(f"al_{tag}_{i}", 1, payload, "pending", now) for i in range(count)]
    started = time.perf_counter()
    for lo in range(0, count, INTAKE_BATCH):
        async with sessions() as session:
            await insert_alert_events(session=session, events=events[lo : lo + INTAKE_BATCH])
            await insert_deliveries(session=session, rows=rows[lo : lo + INTAKE_BATCH])
            await session.commit()
    intake = time.perf_counter() - started
    claimed, claim = 0, 0.0
    while True:
        started = time.perf_counter()
        async with sessions() as session:
            got = await claim_due(
                session=session, now=utcnow(), lease_until=utcnow() + timedelta(minutes=5), limit=CLAIM_BATCH
            )
            await session.commit()
        claim += time.perf_counter() - started
        if not got:
            break
        claimed += len(got)
        # Settled as the sender's outcomes would (untimed): a claimed row that stayed pending would be skipped
        # by every later claim and slow it down, which is not what the outbox looks like in service.
        async with sessions() as session:
            done = utcnow()
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_([d.id for d in got]))
                .values(status="delivered", delivered_at=done, lease_until=None)
            )
            await session.commit()
    if claimed != count:
        raise RuntimeError(f"claimed {claimed} of {count}")
    return {"intake_seconds": intake, "claim_seconds": claim}


async def phase(
    sessions: SessionFactory, name: str, rounds: int, count: int, payload: dict[str, Any]
) -> dict[str, Any]:
    runs = [await one_round(sessions, f"{name}{r}", count, payload) for r in range(rounds)]
    async with sessions() as session:
        outbox = int(await session.scalar(select(func.count()).select_from(DeliveryRow)) or 0)
        started = time.perf_counter()
        await build_status(session=session)
        report = time.perf_counter() - started
    intake = statistics.median(r["intake_seconds"] for r in runs)
    claim = statistics.median(r["claim_seconds"] for r in runs)
    return {
        "outbox_rows_at_end": outbox,
        "rounds": rounds,
        "per_round": count,
        "intake_ms_per_1000_p50": round(intake / count * 1000 * 1000, 2),
        "claim_ms_per_1000_p50": round(claim / count * 1000 * 1000, 2),
        "claim_ms_per_claim_of_100_p50": round(claim / (count / CLAIM_BATCH) * 1000, 3),
        "status_report_ms": round(report * 1000, 2),
        "runs": [{k: round(v, 4) for k, v in r.items()} for r in runs],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    payload = sample_alert(severity="high").model_dump(mode="json")
    with tempfile.TemporaryDirectory(prefix="ewarn-retention-bench-") as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'ewarn.db'}")
        try:
            await upgrade_to_head(engine)
            sessions = session_factory(engine)
            fill_seconds = await fill(sessions, args.rows, payload)
            before = await phase(sessions, "b", args.rounds, args.per_round, payload)
            started = time.perf_counter()
            pruned = await prune_once(engine=engine, settings=RetentionSettings(batch_size=args.batch))
            prune_seconds = time.perf_counter() - started
            after = await phase(sessions, "a", args.rounds, args.per_round, payload)
        finally:
            await engine.dispose()

    def ratio(key: str) -> float | None:
        return round(before[key] / after[key], 2) if after[key] else None

    return {
        "quick": args.quick,
        "database": "sqlite",
        "outbox_rows_filled": args.rows,
        "payload_bytes": len(json.dumps(payload)),
        "fill_seconds": round(fill_seconds, 2),
        "before": before,
        "prune": {
            "seconds": round(prune_seconds, 2),
            "batch_size": args.batch,
            "pruned": pruned.pruned,
            "rows_per_second": round(pruned.total / prune_seconds) if prune_seconds else None,
        },
        "after": after,
        "before_over_after": {
            "intake": ratio("intake_ms_per_1000_p50"),
            "claim": ratio("claim_ms_per_1000_p50"),
            "status_report": ratio("status_report_ms"),
        },
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: small counts")
    parser.add_argument("--rows", type=int, default=100_000, help="old delivered rows in the outbox at start")
    parser.add_argument("--rounds", type=int, default=3, help="intake+claim rounds before and after")
    parser.add_argument("--per-round", type=int, default=2000, help="new deliveries per round")
    parser.add_argument("--batch", type=int, default=5000, help="retention batch size")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds, args.per_round, args.batch = 3000, 2, 400, 1000
    result = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: result[k] for k in ("outbox_rows_filled", "before_over_after")}
    summary["prune_seconds"] = result["prune"]["seconds"]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
