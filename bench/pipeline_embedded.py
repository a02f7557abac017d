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
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

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
from tests.support.netutil import free_port, stop_group, tail  # noqa: E402
from tests.support.pipeline_rig import register_hospitals  # noqa: E402
from tests.support.processes import child_environment, ewarn_command  # noqa: E402
from tests.support.receivers import WebhookReceiver  # noqa: E402

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


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
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
    pids: dict[str, int | None] = {"serve": served.proc.pid}
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, alive=served.check_alive)
        headers = {"Authorization": f"Bearer {operator_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            target = Target(
                client=client,
                hospital_domains=[h.domain for h in hospitals],
                receipt=receipt,
                pids=pids,
                drain_timeout=args.drain_timeout,
                alive=served.check_alive,
            )
            warm, steps = await warm_up_and_run(target, args, lambda: tail(served.log, 40))
    finally:
        served.stop()
        await receiver.down()
    setup = {
        "processes": ["ewarn serve (api + ingest + correlate + dispatch)"],
        "bus": "in-process",
        "database": "SQLite",
    }
    return report("pipeline_embedded", args, setup=setup, warm=warm, steps=steps, receipt=receipt)


def main() -> int:
    args = settle_arguments(arguments(__doc__, out=RESULTS, budget=300.0).parse_args())
    workdir = Path(tempfile.mkdtemp(prefix="ewarn-pipeline-embedded-"))
    try:
        return run_and_write(bench(args, workdir), args.out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
