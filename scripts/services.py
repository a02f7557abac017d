"""Prepare or run the real services ewarn's tests use (Kafka, PostgreSQL), on 127.0.0.1 only.

python scripts/services.py prepare   # install PostgreSQL if missing, fetch the Kafka jars (cached)
python scripts/services.py run       # start both in the foreground and print the EWARN_* settings
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kafka_broker import KAFKA_VERSION, KafkaBroker, ensure_jars
from tests.support.postgres_server import PostgresServer, ensure_installed


def prepare(kafka_version: str) -> None:
    """Do every download once, so the test run itself only starts processes."""
    started = time.monotonic()
    bindir = ensure_installed()
    print(f"postgresql: {bindir}", flush=True)
    libs = ensure_jars(kafka_version)
    print(f"kafka {kafka_version}: {libs}", flush=True)
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
    parser.add_argument("--kafka-version", default=KAFKA_VERSION)
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare(args.kafka_version)
        else:
            run(args.kafka_version)
    except RuntimeError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
