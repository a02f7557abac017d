"""What both pipeline benchmarks share: the offer at the ingest edge, the receipt, and the figures per step.

An offer posts STIX 2.1 bundles to the push API (``POST /api/v1/ingest/stix``) every ``TICK`` seconds, so
indicators enter at ``rate`` per second; a fraction of them (domains under a hospital's registered domain)
match exactly one hospital's asset each and the rest (domains under ``elsewhere.example``) match nothing. Each
indicator is stamped with the wall-clock time its POST started; the signature-verifying loopback receiver
(``tests.support.receivers.WebhookReceiver``, in this process) stamps each verified webhook on arrival, and
the alert's ``indicator_key`` ties the two together. End-to-end latency is therefore ingest → verified
receipt, every stage in between included (push API parse + store + publish, correlate, dispatch).

CPU seconds come from ``/proc/<pid>/stat`` (user + system) of every role process, read before and after each
step. Figures are only comparable within one run: the machine is shared, so the JSON records the load average.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.support.receivers import Request, WebhookReceiver

from ewarn.models.indicator import Indicator, IndicatorType

TICK = 0.1  # one bundle every 100 ms: at 1,000/s a bundle holds 100 indicators
MAX_POSTS_IN_FLIGHT = 16
STAMP = "2026-01-05T08:00:00.000Z"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of one process (threads included), from /proc; None if it is gone."""
    if pid is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "started_at": datetime.now(UTC).isoformat(),
    }


@dataclass(frozen=True)
class Step:
    rate: int  # indicators offered per second
    fraction: float  # share of them that match one asset
    seconds: float  # how long the offer lasts
    phase: str = "grid"  # "grid" (the table) or "saturation" (the step up)


@dataclass
class Receipt:
    """Verified webhooks by indicator key (first arrival), duplicates and rejects counted."""

    arrivals: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    rejected: int = 0

    def attach(self, receiver: WebhookReceiver) -> None:
        def note(request: Request) -> None:
            if not (request.verified and 200 <= request.status < 300):
                self.rejected += 1
                return
            key = request.json()["data"]["indicator_key"]
            if key in self.arrivals:
                self.duplicates += 1
            else:
                self.arrivals[key] = request.at

        receiver.on_request = note


@dataclass
class Offer:
    """The bundles of one step, built before the clock starts, and which keys must raise an alert."""

    bundles: list[tuple[bytes, list[str]]]
    matching: set[str]


def build_offer(step: Step, step_no: int, hospital_domains: Sequence[str]) -> Offer:
    per_tick = max(1, round(step.rate * TICK))
    ticks = max(1, round(step.seconds / TICK))
    run = uuid.uuid4().hex[:6]  # fresh names in every run and step: nothing is deduplicated away
    bundles: list[tuple[bytes, list[str]]] = []
    matching: set[str] = set()
    n = 0
    for _ in range(ticks):
        objects = []
        keys = []
        for _ in range(per_tick):
            hits = int((n + 1) * step.fraction) > int(n * step.fraction)
            parent = hospital_domains[n % len(hospital_domains)] if hits else "elsewhere.example"
            value = f"s{step_no}-{run}-{n}.{parent}"
            key = Indicator.make_key(IndicatorType.DOMAIN, value)
            keys.append(key)
            if hits:
                matching.add(key)
            objects.append(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, key)}",
                    "created": STAMP,
                    "modified": STAMP,
                    "name": f"bench {n}",
                    "indicator_types": ["malicious-activity"],
                    "pattern": f"[domain-name:value = '{value}']",
                    "pattern_type": "stix",
                    "pattern_version": "2.1",
                    "valid_from": STAMP,
                    "confidence": 90,
                    "labels": ["c2"],
                }
            )
            n += 1
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        bundles.append((json.dumps(bundle).encode(), keys))
    return Offer(bundles, matching)


@dataclass
class Posts:
    sent_at: dict[str, float] = field(default_factory=dict)  # indicator key -> wall clock at its POST
    accepted: int = 0
    failed: int = 0
    post_ms: list[float] = field(default_factory=list)
    behind: int = 0  # ticks that found MAX_POSTS_IN_FLIGHT posts still open (the edge fell behind)
    first_sent: float = 0.0
    last_done: float = 0.0


async def offer(client: httpx.AsyncClient, bundles: Sequence[tuple[bytes, list[str]]]) -> Posts:
    """Post one bundle per tick on a fixed schedule (open-loop: a slow edge does not slow the offer)."""
    posts = Posts()
    slots = asyncio.Semaphore(MAX_POSTS_IN_FLIGHT)
    loop = asyncio.get_running_loop()

    async def post(body: bytes, keys: list[str]) -> None:
        started = time.time()
        for key in keys:
            posts.sent_at[key] = started
        try:
            response = await client.post(
                "/api/v1/ingest/stix",
                params={"feed_id": "bench"},
                content=body,
                headers={"content-type": "application/json"},
            )
            if response.status_code == 200:
                posts.accepted += int(response.json()["accepted"])
            else:
                posts.failed += len(keys)
        except httpx.HTTPError:
            posts.failed += len(keys)
        finally:
            posts.post_ms.append((time.time() - started) * 1000)
            posts.last_done = time.time()
            slots.release()

    tasks = []
    began = loop.time()
    posts.first_sent = time.time()
    for i, (body, keys) in enumerate(bundles):
        delay = began + i * TICK - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if slots.locked():
            posts.behind += 1
        await slots.acquire()
        tasks.append(asyncio.create_task(post(body, keys)))
    await asyncio.gather(*tasks)
    return posts


async def run_step(
    *,
    client: httpx.AsyncClient,
    step: Step,
    step_no: int,
    hospital_domains: Sequence[str],
    receipt: Receipt,
    pids: dict[str, int | None],
    drain_timeout: float,
    alive: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """One offered rate and match fraction: offer, wait for every expected alert (or the timeout), figures."""
    built = build_offer(step, step_no, hospital_domains)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    bench_before = time.process_time()
    posts = await offer(client, built.bundles)
    offer_end = posts.first_sent + len(built.bundles) * TICK
    deadline = time.monotonic() + drain_timeout
    while not built.matching <= receipt.arrivals.keys() and time.monotonic() < deadline:
        alive()
        await asyncio.sleep(0.02)
    arrived = [k for k in built.matching if k in receipt.arrivals]
    latencies = [(receipt.arrivals[k] - posts.sent_at[k]) * 1000 for k in arrived]
    last_arrival = max((receipt.arrivals[k] for k in arrived), default=offer_end)
    complete = len(arrived) == len(built.matching)
    cpu = {
        name: round(after - before, 3)
        for name, pid in pids.items()
        if (before := cpu_before[name]) is not None and (after := cpu_seconds(pid)) is not None
    }
    alerts = len(arrived)
    offered = sum(len(keys) for _, keys in built.bundles)
    window = max(last_arrival, posts.last_done) - posts.first_sent
    result: dict[str, Any] = {
        **asdict(step),
        "indicators_offered": offered,
        "indicators_accepted": posts.accepted,
        "indicators_failed": posts.failed,
        "offer_seconds": round(offer_end - posts.first_sent, 3),
        "edge_fell_behind_ticks": posts.behind,
        "indicators_per_second": round(posts.accepted / max(posts.last_done - posts.first_sent, 1e-9), 1),
        "ingest_post_ms": {"p50": percentile(posts.post_ms, 50), "p99": percentile(posts.post_ms, 99)},
        "alerts_expected": len(built.matching),
        "alerts_delivered": alerts,
        "alerts_per_second": round(alerts / window, 1) if window > 0 else None,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": max(latencies, default=None),
            "mean": statistics.fmean(latencies) if latencies else None,
        },
        "drain_seconds": round(max(0.0, last_arrival - offer_end), 3) if complete else None,
        "undelivered_at_timeout": len(built.matching) - alerts,
        "cpu_seconds": cpu,
        "bench_process_cpu_seconds": round(time.process_time() - bench_before, 3),
        "duplicates_so_far": receipt.duplicates,
        "load_average": os.getloadavg(),
    }
    for name, seconds in cpu.items():
        if seconds > 0 and alerts:
            result.setdefault("alerts_per_cpu_second", {})[name] = round(alerts / seconds, 1)
    result["kept_up"] = bool(
        complete and posts.failed == 0 and posts.behind == 0 and (result["drain_seconds"] or 0) <= 2.0
    )
    return result


def steps_for(*, quick: bool, seconds: float, saturation: Sequence[int]) -> tuple[list[Step], list[Step]]:
    """The issue's grid (rates by fractions), then the step up at 20 % and 100 % until it saturates."""
    if quick:
        return [Step(100, 0.2, seconds)], []
    grid = [Step(rate, f, seconds) for rate in (300, 1000) for f in (0.01, 0.2, 1.0)]
    step_up = [Step(rate, f, seconds, "saturation") for f in (0.2, 1.0) for rate in saturation]
    return grid, step_up


async def run_steps(
    *,
    client: httpx.AsyncClient,
    grid: Sequence[Step],
    step_up: Sequence[Step],
    hospital_domains: Sequence[str],
    receipt: Receipt,
    pids: dict[str, int | None],
    drain_timeout: float,
    alive: Callable[[], None] = lambda: None,
    budget_seconds: float,
) -> list[dict[str, Any]]:
    """Every grid step, then the step up per fraction until one step does not keep up (or the budget ends)."""
    out: list[dict[str, Any]] = []
    stop_at = time.monotonic() + budget_seconds
    saturated: set[float] = set()
    for n, step in enumerate([*grid, *step_up]):
        if time.monotonic() > stop_at:
            out.append({**asdict(step), "skipped": "time budget spent"})
            continue
        if step.phase == "saturation" and step.fraction in saturated:
            continue
        result = await run_step(
            client=client,
            step=step,
            step_no=n,
            hospital_domains=hospital_domains,
            receipt=receipt,
            pids=pids,
            drain_timeout=drain_timeout,
            alive=alive,
        )
        print(summary_line(result), flush=True)
        out.append(result)
        if not result["kept_up"]:
            saturated.add(step.fraction)
            if result["undelivered_at_timeout"]:
                # A backlog would spill into the next step's figures: let it drain (bounded) first.
                await settle(receipt, drain_timeout)
    return out


async def settle(receipt: Receipt, timeout: float) -> None:
    """Wait until no webhook arrived for two seconds (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline and len(receipt.arrivals) != seen:
        seen = len(receipt.arrivals)
        await asyncio.sleep(2.0)


def summary_line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f}"

    drain = "—" if r["drain_seconds"] is None else f"{r['drain_seconds']:.1f}s"
    return (
        f"  {r['phase']:<10} {r['rate']:>5}/s {r['fraction'] * 100:>5.0f}%: "
        f"{r['indicators_per_second']:>7.0f} ind/s, {r['alerts_delivered']}/{r['alerts_expected']} alerts "
        f"({r['alerts_per_second']}/s), p50 {ms(lat['p50'])} p99 {ms(lat['p99'])} max {ms(lat['max'])} ms, "
        f"drain {drain}, cpu {r['cpu_seconds']}, kept up {r['kept_up']}"
    )


def best_sustained(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per fraction, the highest offered rate that kept up, with its figures."""
    best: dict[str, Any] = {}
    for r in steps:
        if r.get("skipped") or not r["kept_up"]:
            continue
        label = f"{r['fraction'] * 100:g}%"
        if label not in best or r["rate"] > best[label]["rate"]:
            best[label] = {
                "rate": r["rate"],
                "indicators_per_second": r["indicators_per_second"],
                "alerts_per_second": r["alerts_per_second"],
                "p99_ms": r["latency_ms"]["p99"],
            }
    return best


def write_results(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {path}")
