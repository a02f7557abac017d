"""Pipeline benchmark on the embedded default: one ``ewarn serve`` process (SQLite, in-process bus).

The push API of a served app is the ingest edge (``POST /api/v1/ingest/stix``); correlate and dispatch run in
the same process, as ``ewarn serve`` starts them. Eight hospitals (``tests.support.pipeline_rig``), each with
its own domain and a webhook subscription to one signature-verifying receiver on loopback (in this process).
See ``pipeline_common`` for the offer and the figures.

    python bench/pipeline_embedded.py            # full run (≈ 4 min)
    python bench/pipeline_embedded.py --quick    # one small step: the smoke test's run (≈ 15 s)

Writes ``bench/results/pipeline_embedded.json`` (``--out`` to change). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

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
from tests.support.netutil import free_port, stop_group, tail  # noqa: E402
from tests.support.pipeline_rig import register_hospitals  # noqa: E402
from tests.support.processes import child_environment, ewarn_command  # noqa: E402
from tests.support.receivers import WebhookReceiver  # noqa: E402

from ewarn import eventloop  # noqa: E402
from ewarn.store.db import create_engine, session_factory  # noqa: E402
from ewarn.store.migrate import upgrade_to_head  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline_embedded.json"


class Served:
    """``ewarn serve`` in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*ewarn_command(), "serve"],
                env=child_environment(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"ewarn serve exited ({self.proc.returncode}):\n{tail(self.log, 40)}")

    def stop(self) -> None:
        stop_group(self.proc, sig=signal.SIGTERM, timeout=30)


async def _wait_ready(base: str, served: Served, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as probe:
        while True:
            served.check_alive()
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"ewarn serve did not answer /healthz within {timeout:.0f}s")
            await asyncio.sleep(0.2)


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    grid, step_up = steps_for(quick=args.quick, seconds=args.seconds, saturation=args.saturation)
    database_url = f"sqlite+aiosqlite:///{workdir / 'ewarn.db'}"
    receiver = WebhookReceiver()
    hook = await receiver.start()
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        hospitals = await register_hospitals(session_factory(engine), 8, hook)
    finally:
        await engine.dispose()
    receiver.secrets = [h.secret for h in hospitals]
    receipt = Receipt()
    receipt.attach(receiver)
    operator_key = f"ewk_bench_{secrets.token_urlsafe(24)}"
    port = free_port()
    env = {
        "EWARN_DATABASE_URL": database_url,
        "EWARN_API_HOST": "127.0.0.1",
        "EWARN_API_PORT": str(port),
        "EWARN_BOOTSTRAP_OPERATOR_KEY": operator_key,
        "EWARN_DISPATCH__ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
        "EWARN_DISPATCH__REQUEST_TIMEOUT_SECONDS": "2",
        "EWARN_DISPATCH__BACKOFF_BASE_SECONDS": "0.1",
        "EWARN_DISPATCH__BACKOFF_MAX_SECONDS": "1",
        "EWARN_LOG_LEVEL": "WARNING",
        "EWARN_LOG_JSON": "true",
    }
    served = Served(env, workdir / "serve.log")
    domains = [h.domain for h in hospitals]
    pids: dict[str, int | None] = {"serve": served.proc.pid}
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base, served)
        headers = {"Authorization": f"Bearer {operator_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            warm = await run_step(
                client=client,
                step=Step(50, 1.0, 1.0, "warmup"),
                step_no=999,
                hospital_domains=domains,
                receipt=receipt,
                pids=pids,
                drain_timeout=60,
                alive=served.check_alive,
            )
            if warm["alerts_delivered"] != warm["alerts_expected"]:
                raise RuntimeError(f"warm-up alerts did not arrive:\n{tail(served.log, 40)}")
            steps = await run_steps(
                client=client,
                grid=grid,
                step_up=step_up,
                hospital_domains=domains,
                receipt=receipt,
                pids=pids,
                drain_timeout=args.drain_timeout,
                alive=served.check_alive,
                budget_seconds=args.budget,
            )
    finally:
        served.stop()
        await receiver.down()
    return {
        "benchmark": "pipeline_embedded",
        "quick": args.quick,
        "machine": machine(),
        "setup": {
            "processes": ["ewarn serve (api + ingest + correlate + dispatch)"],
            "hospitals": 8,
            "bus": "in-process",
            "database": "SQLite",
            "latency": "POST of the bundle to the push API → signature-verified receipt at the receiver",
        },
        "steps": steps,
        "warmup": warm,
        "best_sustained": best_sustained(steps),
        "duplicates": receipt.duplicates,
        "rejected_webhooks": receipt.rejected,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small step (smoke test)")
    parser.add_argument("--seconds", type=float, default=None, help="offer duration per step")
    parser.add_argument("--saturation", type=int, nargs="*", default=[2000, 4000, 8000])
    parser.add_argument("--drain-timeout", type=float, default=None)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for all steps together")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.drain_timeout = args.drain_timeout or (20.0 if args.quick else 30.0)
    workdir = Path(tempfile.mkdtemp(prefix="ewarn-pipeline-embedded-"))
    try:
        # asyncio, not uvloop: the in-process receiver (tests.support.receivers) needs asyncio transports.
        result = eventloop.run(bench(args, workdir), kind="asyncio", gc_gen0=50_000)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_results(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
