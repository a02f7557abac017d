"""Webhook transport benchmark: the hand-written HTTP/1.1 client (``dispatch/transport.py``) beside aiohttp's.

Both send the same signed webhooks (``Signer``: Standard Webhooks, the subscription's secret, a new
webhook-id each) to the same receiver, a separate process that verifies every signature
(``python -m tests.support.receivers``), at the dispatcher's concurrency (256 in flight, 32 connections per
origin), with the SSRF guard in the path:

- ``handwritten``: ``WebhookSender`` with ``PinnedHTTPTransport``, exactly the dispatcher's path (guard check
  per request, the request head written by hand, capped read).
- ``aiohttp``: ``aiohttp.ClientSession`` whose resolver returns only the address the SSRF guard checked (the
  connection can reach nothing else), the guard's check per request as the sender does, same headers, same
  timeouts, the body read up to the same cap.

The URL names a host (``hooks.bench.test``) resolved by a static table to 127.0.0.1, so the resolver path is
taken. Reported: requests per wall-second and per CPU-second of this process (the receiver runs apart), for
rounds alternating the two clients; the decision rule of issue 12 (switch when aiohttp reaches ⅔ of the
hand-written rate) is applied to the best CPU-second rates. Writes ``bench/results/transport.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.receivers import sample_alert  # noqa: E402

from ewarn import eventloop  # noqa: E402
from ewarn.crypto.secretbox import new_webhook_secret  # noqa: E402
from ewarn.dispatch.ssrf import SsrfGuard, StaticResolver  # noqa: E402
from ewarn.dispatch.transport import PinnedHTTPTransport  # noqa: E402
from ewarn.dispatch.webhook import Signer, WebhookSender  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "transport.json"
HOST = "hooks.bench.test"
CONCURRENCY = 256
PER_ORIGIN = 32
TIMEOUT = 10.0
CAP = 64 * 1024


class PinnedResolver(AbstractResolver):
    """aiohttp resolver that answers with the SSRF-checked address only (refusals raise, nothing connects)."""

    def __init__(self, guard: SsrfGuard) -> None:
        self._guard = guard

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        target = await self._guard.check(f"http://{host}:{port}/")
        address = target.address
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET if address.version == 4 else socket.AF_INET6,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def _guard() -> SsrfGuard:
    return SsrfGuard(resolver=StaticResolver({HOST: ["127.0.0.1"]}), allowed_networks=["127.0.0.0/8"])


async def _drive(count: int, one: Any) -> dict[str, Any]:
    slots = asyncio.Semaphore(CONCURRENCY)
    statuses: dict[int, int] = {}

    async def task(n: int) -> None:
        async with slots:
            status = await one(n)
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(task(-1 - n) for n in range(min(300, count))))  # connections and caches warm
    statuses.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task(n) for n in range(count)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "requests": count,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "per_second": round(count / wall, 1),
        "per_cpu_second": round(count / cpu, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


async def handwritten(url: str, secret: str, body: bytes, count: int, tag: str) -> dict[str, Any]:
    transport = PinnedHTTPTransport(max_connections_per_origin=PER_ORIGIN, max_body_bytes=CAP)
    sender = WebhookSender(
        http=None,  # type: ignore[arg-type]  # never used when a PinnedHTTPTransport is given
        guard=_guard(),
        transport=transport,
        timeout_seconds=TIMEOUT,
        max_response_bytes=CAP,
    )

    async def one(n: int) -> int:
        result = await sender.send(
            url=url, msg_id=f"{tag}_{n}", body=body, content_type="application/json", secrets=[secret]
        )
        return result.status_code or 0

    try:
        return await _drive(count, one)
    finally:
        await transport.aclose()


async def with_aiohttp(url: str, secret: str, body: bytes, count: int, tag: str) -> dict[str, Any]:
    guard = _guard()
    signer = Signer()
    connector = aiohttp.TCPConnector(
        limit=CONCURRENCY, limit_per_host=PER_ORIGIN, resolver=PinnedResolver(guard), use_dns_cache=False
    )
    timeout = aiohttp.ClientTimeout(total=TIMEOUT * 2, connect=TIMEOUT, sock_read=TIMEOUT)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def one(n: int) -> int:
            await guard.check(url)  # as the sender does per hop (redirects are followed by hand)
            headers = signer.headers(
                msg_id=f"{tag}_{n}", timestamp=datetime.now(UTC), body=body, secrets=[secret]
            )
            headers["content-type"] = "application/json"
            headers["accept-encoding"] = "identity"
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await response.content.read(CAP)
                return response.status

        return await _drive(count, one)


def _receiver(secret: str, stats: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.receivers", "--secret", secret, "--stats", str(stats)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"receiver did not start: {line!r}")
    return proc, int(line.split()[1])


async def bench(args: argparse.Namespace, url: str, secret: str) -> dict[str, Any]:
    body = sample_alert().model_dump_json().encode()
    rounds: dict[str, list[dict[str, Any]]] = {"handwritten": [], "aiohttp": []}
    for r in range(args.rounds):
        for name, client in (("handwritten", handwritten), ("aiohttp", with_aiohttp)):
            result = await client(url, secret, body, args.count, f"{name}{r}")
            print(f"  {name:<12} {result}", flush=True)
            rounds[name].append(result)
    best = {name: max(x["per_cpu_second"] for x in runs) for name, runs in rounds.items()}
    best_wall = {name: max(x["per_second"] for x in runs) for name, runs in rounds.items()}
    ratio = best["aiohttp"] / best["handwritten"]
    return {
        "rounds": rounds,
        "best_per_cpu_second": best,
        "best_per_second": best_wall,
        "ratio_aiohttp_to_handwritten_cpu": round(ratio, 3),
        "ratio_aiohttp_to_handwritten_wall": round(best_wall["aiohttp"] / best_wall["handwritten"], 3),
        "rule": "switch to aiohttp if it reaches 2/3 of the hand-written rate (per CPU-second)",
        "decision": "aiohttp" if ratio >= 2 / 3 else "handwritten",
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.count = args.count or (500 if args.quick else 10_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    secret = new_webhook_secret()
    stats = args.out.parent / "transport-receiver-stats.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    proc, port = _receiver(secret, stats)
    try:
        result = eventloop.run(bench(args, f"http://{HOST}:{port}/hook", secret), kind="auto")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    received = json.loads(stats.read_text())
    stats.unlink()
    result = {
        "benchmark": "transport",
        "quick": args.quick,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
        },
        "setup": {
            "concurrency": CONCURRENCY,
            "connections_per_origin": PER_ORIGIN,
            "aiohttp": aiohttp.__version__,
        },
        **result,
        "receiver": {k: received[k] for k in ("requests", "verified", "rejected")},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps({k: result[k] for k in ("best_per_cpu_second", "best_per_second", "decision", "receiver")})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
