"""Prepare or run the real services ewarn's tests use (Kafka, PostgreSQL), on 127.0.0.1 only.

python scripts/services.py prepare   # install PostgreSQL, Chromium if missing; fetch the Kafka jars (cached)
                                     # for every version the tests run (3.9 and 4.1), or only --kafka-version
python scripts/services.py run       # start both in the foreground and print the EWARN_* settings
                                     # (Kafka 3.9 unless --kafka-version)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kafka_broker import KAFKA_VERSION, KAFKA_VERSIONS, KafkaBroker, ensure_jars
from tests.support.postgres_server import PostgresServer, ensure_installed

CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> Path:
    """Install Debian's ``chromium`` (the status page's browser test) if it is missing; return its path."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        raise RuntimeError("Chromium is not installed and we are not root: `apt-get install chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        # a fixed argv, no shell
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM


def prepare(kafka_versions: Sequence[str]) -> None:
    """Do every download once, so the test run itself only starts processes."""
    started = time.monotonic()
    bindir = ensure_installed()
    print(f"postgresql: {bindir}", flush=True)
    for version in kafka_versions:
        libs = ensure_jars(version)
        print(f"kafka {version}: {libs}", flush=True)
    print(f"chromium: {ensure_chromium()}", flush=True)
    print(f"services ready in {time.monotonic() - started:.1f}s", flush=True)


def run(kafka_version: str) -> None:
    """Start a broker and a database until interrupted; data lives in a temporary folder."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="ewarn-services-") as tmp:
        broker = KafkaBroker(Path(tmp) / "kafka", version=kafka_version)
        database = PostgresServer(Path(tmp) / "postgres")
        try:
            broker.start()
            database.start()
            print(f"EWARN_KAFKA__BOOTSTRAP={broker.bootstrap}")
            print(f"EWARN_DATABASE_URL={database.url}", flush=True)
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            database.stop()
            broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["prepare", "run"])
    parser.add_argument(
        "--kafka-version",
        default=None,
        help=f"prepare: only this version (default: {', '.join(KAFKA_VERSIONS)}); run: default {KAFKA_VERSION}",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare([args.kafka_version] if args.kafka_version else KAFKA_VERSIONS)
        else:
            run(args.kafka_version or KAFKA_VERSION)
    except RuntimeError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
