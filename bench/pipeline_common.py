"""What both pipeline benchmarks share: their options, the receipt, the steps and the figures per step.

The offer (``pipeline_offer``) posts STIX 2.1 bundles to the push API (``POST /api/v1/ingest/stix``) every
``TICK`` seconds, so indicators enter at ``rate`` per second; a fraction of them (domains under a hospital's
registered domain) match exactly one hospital's asset each and the rest (domains under ``elsewhere.example``)
match nothing. Each indicator is stamped with the wall-clock time its POST started; the signature-verifying loopback receiver
(``tests.support.receivers.WebhookReceiver``, in this process) stamps each verified webhook on arrival, and
the alert's ``indicator_key`` ties the two together. End-to-end latency is therefore ingest → verified
receipt, every stage in between included (push API parse + store + publish, correlate, dispatch).

CPU seconds come from ``/proc/<pid>/stat`` (user + system) of every role process, read before and after each
step. Figures are only comparable within one run: the machine is shared, so the JSON records the load average,
and how late this process's own event loop ran during the step (``bench_loop_lag_ms``: the receiver stamps
arrivals on that loop, so a late loop inflates latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pipeline_offer import TICK, build_offer, offer
from tests.support.receivers import Request, WebhookReceiver

from ewarn import eventloop

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


# Per step number, per matching indicator key that arrived: (POST started, POST answered, verified receipt).
Timeline = dict[int, dict[str, tuple[float, float, float]]]


@dataclass
class Target:
    """What the steps run against: the push API client, the hospitals, the receipt, the processes to watch."""

    client: httpx.AsyncClient
    hospital_domains: Sequence[str]
    receipt: Receipt
    pids: dict[str, int | None]
    drain_timeout: float
    alive: Callable[[], None] = lambda: None
    timeline: Timeline = field(default_factory=dict)


async def _loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    """How late a 10 ms sleep of this process's event loop wakes up, every 10 ms."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        began = loop.time()
        await asyncio.sleep(0.01)
        samples.append((loop.time() - began - 0.01) * 1000)


async def run_step(target: Target, step: Step, step_no: int) -> dict[str, Any]:
    """One offered rate and match fraction: offer, wait for every expected alert (or the timeout), figures."""
    receipt = target.receipt
    built = build_offer(step, step_no, target.hospital_domains)
    cpu_before = {name: cpu_seconds(pid) for name, pid in target.pids.items()}
    bench_before = time.process_time()
    lag: list[float] = []
    lag_stop = asyncio.Event()
    lag_task = asyncio.create_task(_loop_lag(lag, lag_stop))
    posts = await offer(target.client, built.bundles)
    offer_end = posts.first_sent + len(built.bundles) * TICK
    deadline = time.monotonic() + target.drain_timeout
    while not built.matching <= receipt.arrivals.keys() and time.monotonic() < deadline:
        target.alive()
        await asyncio.sleep(0.02)
    lag_stop.set()
    await lag_task
    arrived = [k for k in built.matching if k in receipt.arrivals]
    target.timeline[step_no] = {
        k: (posts.sent_at[k], posts.answered_at[k], receipt.arrivals[k]) for k in arrived
    }
    latencies = [(receipt.arrivals[k] - posts.sent_at[k]) * 1000 for k in arrived]
    last_arrival = max((receipt.arrivals[k] for k in arrived), default=offer_end)
    complete = len(arrived) == len(built.matching)
    cpu = {
        name: round(after - before, 3)
        for name, pid in target.pids.items()
        if (before := cpu_before[name]) is not None and (after := cpu_seconds(pid)) is not None
    }
    alerts = len(arrived)
    offered = sum(len(keys) for _, keys in built.bundles)
    window = max(last_arrival, posts.last_done) - posts.first_sent
    result: dict[str, Any] = {
        **asdict(step),
        "step_no": step_no,
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
        "bench_loop_lag_ms": {
            "p50": percentile(lag, 50),
            "p99": percentile(lag, 99),
            "max": max(lag, default=None),
        },
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


def parse_step(text: str) -> tuple[int, float]:
    """``RATE:PERCENT`` (``1000:20``) of ``--grid``."""
    rate, _, percent = text.partition(":")
    return int(rate), float(percent) / 100


def steps_for(args: argparse.Namespace) -> tuple[list[Step], list[Step]]:
    """The issue's grid (rates by fractions; ``--grid`` to choose), then the step up at 20 % and 100 % until it
    saturates."""
    seconds = args.seconds
    if args.quick:
        return [Step(100, 0.2, seconds)], []
    pairs = args.grid or [(rate, f) for rate in (300, 1000) for f in (0.01, 0.2, 1.0)]
    grid = [Step(rate, f, seconds) for rate, f in pairs]
    step_up = [Step(rate, f, seconds, "saturation") for f in (0.2, 1.0) for rate in args.saturation]
    return grid, step_up


async def run_steps(
    target: Target, grid: Sequence[Step], step_up: Sequence[Step], budget: float
) -> list[dict[str, Any]]:
    """Every grid step, then the step up per fraction until one step does not keep up (or the budget ends)."""
    out: list[dict[str, Any]] = []
    stop_at = time.monotonic() + budget
    saturated: set[float] = set()
    for n, step in enumerate([*grid, *step_up]):
        if time.monotonic() > stop_at:
            out.append({**asdict(step), "skipped": "time budget spent"})
            continue
        if step.phase == "saturation" and step.fraction in saturated:
            continue
        result = await run_step(target, step, n)
        print(summary_line(result), flush=True)
        out.append(result)
        if not result["kept_up"]:
            saturated.add(step.fraction)
            if result["undelivered_at_timeout"]:
                # A backlog would spill into the next step's figures: let it drain (bounded) first.
                await settle(target.receipt, target.drain_timeout)
    return out


WARMUP_STEP_NO = 999


async def warm_up_and_run(
    target: Target, args: argparse.Namespace, describe: Callable[[], str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A warm-up step (not reported: consumer groups assigned, connections and caches made), then the steps."""
    warm = await run_step(
        dataclasses.replace(target, drain_timeout=60), Step(50, 1.0, 1.0, "warmup"), WARMUP_STEP_NO
    )
    if warm["alerts_delivered"] != warm["alerts_expected"]:
        raise RuntimeError(f"warm-up alerts did not arrive:\n{describe()}")
    grid, step_up = steps_for(args)
    return warm, await run_steps(target, grid, step_up, args.budget)


async def wait_ready(base: str, *, alive: Callable[[], None] = lambda: None, timeout: float = 60) -> None:
    """Until the push API answers ``/healthz``."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as probe:
        while True:
            alive()
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} did not answer /healthz within {timeout:.0f}s")
            await asyncio.sleep(0.2)


def arguments(doc: str | None, *, out: Path, budget: float) -> argparse.ArgumentParser:
    """The options both pipeline benchmarks take."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small step (smoke test)")
    parser.add_argument("--seconds", type=float, default=None, help="offer duration per step")
    parser.add_argument(
        "--grid",
        type=parse_step,
        nargs="*",
        default=None,
        help="steps as RATE:PERCENT (default: the issue's)",
    )
    parser.add_argument("--saturation", type=int, nargs="*", default=[2000, 4000, 8000])
    parser.add_argument("--drain-timeout", type=float, default=None)
    parser.add_argument("--budget", type=float, default=budget, help="seconds for all steps together")
    parser.add_argument("--out", type=Path, default=out)
    return parser


def settle_arguments(args: argparse.Namespace) -> argparse.Namespace:
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.drain_timeout = args.drain_timeout or (20.0 if args.quick else 30.0)
    return args


def report(
    benchmark: str,
    args: argparse.Namespace,
    *,
    setup: dict[str, Any],
    warm: dict[str, Any],
    steps: list[dict[str, Any]],
    receipt: Receipt,
) -> dict[str, Any]:
    """The JSON both benchmarks write (each adds its own keys)."""
    return {
        "benchmark": benchmark,
        "quick": args.quick,
        "machine": machine(),
        "setup": {
            **setup,
            "hospitals": 8,
            "latency": "POST of the bundle to the push API → signature-verified receipt at the receiver",
        },
        "steps": steps,
        "warmup": warm,
        "best_sustained": best_sustained(steps),
        "duplicates": receipt.duplicates,
        "rejected_webhooks": receipt.rejected,
    }


def run_and_write(bench: Coroutine[Any, Any, dict[str, Any]], out: Path) -> int:
    # asyncio, not uvloop: the in-process receiver (tests.support.receivers) needs asyncio transports.
    write_results(out, eventloop.run(bench, kind="asyncio", gc_gen0=50_000))
    return 0


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
