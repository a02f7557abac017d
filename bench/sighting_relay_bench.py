"""Sighting relay benchmark on Kafka + PostgreSQL role processes: hospital A submits, hospital B receives.

``ewarn run api`` (the intake: ``POST /api/v1/sightings`` stores, publishes the sector indicator and the relay
alerts), ``ewarn run correlate`` and ``ewarn run dispatch`` run as separate processes against one KRaft broker
and one PostgreSQL (``tests.support.pipeline_rig``). Hospital A (``hospital-0``) submits sightings of distinct
public addresses at a steady rate; the figure is the time from A's submission to the arrival of B's
(``hospital-1``) signature-verified relay webhook. After the run: B's blocklist holds every entry, and A's
identity appears nowhere B reads (webhooks, alerts, blocklist, sightings).

    python bench/sighting_relay_bench.py            # 300 sightings at 10/s (starts its own Kafka and PostgreSQL)
    python bench/sighting_relay_bench.py --quick    # 40 sightings at 10/s
    python bench/sighting_relay_bench.py --bootstrap HOST:PORT --pg-url URL

Writes ``bench/results/sighting_relay.json`` (``--out`` to change). Loopback only. Target: p99 ≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from tests.support.netutil import free_port  # noqa: E402
from tests.support.pipeline_rig import Rig, pipeline_rig  # noqa: E402

from ewarn import eventloop  # noqa: E402
from ewarn.crypto.secretbox import generate_key  # noqa: E402
from ewarn.models.provider import Role  # noqa: E402
from ewarn.store.repositories.principals import create_api_key  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sighting_relay.json"
TARGET_P99_MS = 2000.0
REPORTER, RECIPIENT = "hospital-0", "hospital-1"


def observable(n: int) -> str:
    """Distinct public addresses, outside every registered range and the allow-list."""
    return f"185.220.{100 + n // 250}.{n % 250 + 1}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def _keys(rig: Rig) -> dict[str, str]:
    out = {}
    async with rig.deployment.sessions() as session:
        for provider in (REPORTER, RECIPIENT):
            _, key = await create_api_key(
                session=session, role=Role.PROVIDER, provider_id=provider, name="bench"
            )
            out[provider] = key
        await session.commit()
    return out


async def relay_run(rig: Rig, base: str, *, count: int, rate: float, timeout: float = 60.0) -> dict[str, Any]:
    """Submit ``count`` sightings from A at ``rate``/s; measure submission → B's verified relay webhook."""
    keys = await _keys(rig)
    submitted: dict[str, float] = {}
    errors = 0
    async with httpx.AsyncClient(base_url=base, timeout=10) as api:
        a_auth = {"Authorization": f"Bearer {keys[REPORTER]}"}
        b_auth = {"Authorization": f"Bearer {keys[RECIPIENT]}"}
        began = time.time()
        for n in range(count):
            await asyncio.sleep(max(0.0, began + n / rate - time.time()))
            now = datetime.now(UTC)
            body = {
                "observable": observable(n),
                "type": "ip",
                "kind": "blocked",
                "first_seen": (now - timedelta(minutes=5)).isoformat(),
                "last_seen": now.isoformat(),
                "count": 3,
            }
            sent = time.time()
            resp = await api.post("/api/v1/sightings", json=body, headers=a_auth)
            if resp.status_code == 201:
                submitted[f"ipv4:{observable(n)}"] = sent
            else:
                errors += 1

        def arrivals() -> dict[str, float]:
            out: dict[str, float] = {}
            for request in rig.receiver.requests:
                if not (request.verified and 200 <= request.status < 300):
                    continue
                data = request.json()["data"]
                if data["provider_id"] == RECIPIENT and data["indicator_key"] in submitted:
                    out.setdefault(data["indicator_key"], request.at)
            return out

        async def all_arrived() -> bool:
            return len(arrivals()) >= len(submitted)

        await rig.fleet.wait_for(all_arrived, timeout=timeout, what="B's relay webhooks")
        got = arrivals()
        latencies = [(got[k] - submitted[k]) * 1000 for k in submitted if k in got]
        blocklist = (await api.get("/api/v1/blocklists/ip.txt", headers=b_auth)).text.splitlines()
        b_reads = [
            *(r.body.decode() for r in rig.receiver.requests if r.json()["data"]["provider_id"] == RECIPIENT),
            (await api.get("/api/v1/alerts", params={"limit": 500}, headers=b_auth)).text,
            "\n".join(blocklist),
            (await api.get("/api/v1/sightings", headers=b_auth)).text,
        ]
    reporter_named = any(REPORTER in text or "Hospital 0" in text for text in b_reads)
    webhooks_read = len(b_reads) - 3
    return {
        "sightings_offered": count,
        "sightings_accepted": len(submitted),
        "submission_errors": errors,
        "rate_per_second": rate,
        "relay_webhooks_at_b": len(got),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies), 1),
        },
        "target_p99_ms": TARGET_P99_MS,
        "target_met": percentile(latencies, 99) <= TARGET_P99_MS,
        "b_blocklist_has_every_entry": {k.split(":", 1)[1] for k in submitted} <= set(blocklist),
        "reporter_identity_in_b_reads": reporter_named,
        "b_webhooks_checked_for_identity": webhooks_read,
    }


async def bench(bootstrap: str, pg_url: str, *, count: int, rate: float, logdir: Path) -> dict[str, Any]:
    async with pipeline_rig(
        postgres_url=pg_url, bootstrap=bootstrap, partitions=4, hospitals=2, logdir=logdir
    ) as rig:
        port = free_port()
        rig.fleet.spawn("correlate")
        rig.fleet.spawn("dispatch")
        rig.fleet.spawn("api", EWARN_API_PORT=str(port), EWARN_SIGHTINGS__QUOTA_PER_HOUR="1000000")
        base = f"http://127.0.0.1:{port}"

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient(base_url=base) as client:
                    return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await rig.fleet.wait_for(ready, timeout=60, what="the API to answer /readyz")
        await asyncio.sleep(3)  # consumers join their groups before the clock starts
        result = await relay_run(rig, base, count=count, rate=rate)
        result["exit_codes"] = await rig.fleet.close()
        return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--bootstrap")
    parser.add_argument("--pg-url")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    count = args.count or (40 if args.quick else 300)
    from pipeline_kafka import services

    os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())  # PostgreSQL needs the at-rest key
    with services(args.bootstrap, args.pg_url) as (bootstrap, pg_url, _pid):
        logdir = Path(tempfile.mkdtemp(prefix="ewarn-sighting-bench-"))
        result = eventloop.run(
            bench(bootstrap, pg_url, count=count, rate=args.rate, logdir=logdir), kind="asyncio"
        )  # the test receiver needs asyncio transports
    result = {"benchmark": "sighting_relay", "at": datetime.now(UTC).isoformat(), **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["sightings_accepted"] == count and not result["reporter_identity_in_b_reads"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
