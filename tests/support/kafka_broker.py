"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, from the jars on Maven Central.

See /work/shared/KAFKA.md: the jars come from ``deploy/local/kafka/pom.xml`` via
``mvn dependency:copy-dependencies`` into ``~/.cache/ewarn/kafka-<version>/libs`` (outside the repo, so later
runs start in seconds). Two versions are tested: ``KAFKA_VERSION`` (3.9, reload4j logging) and
``KAFKA4_VERSION`` (4.1, log4j2 logging; Kafka 4 removed old protocol versions, KIP-896).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.netutil import LOOPBACK, free_port, stop_group, tail

KAFKA_VERSION = "3.9.1"
KAFKA4_VERSION = "4.1.2"
KAFKA_VERSIONS = (KAFKA_VERSION, KAFKA4_VERSION)
REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
LOG4J = REPO_ROOT / "deploy" / "local" / "kafka" / "log4j.properties"
LOG4J2 = REPO_ROOT / "deploy" / "local" / "kafka" / "log4j2.properties"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ewarn"


def uses_log4j2(version: str) -> bool:
    """Kafka 4.x logs through log4j2; 3.x through the log4j 1.x API (reload4j)."""
    return int(version.split(".", 1)[0]) >= 4


def logging_options(version: str) -> list[str]:
    """The JVM option pointing the broker's logging backend at our quiet config."""
    if uses_log4j2(version):
        return [f"-Dlog4j2.configurationFile={LOG4J2}"]
    return [f"-Dlog4j.configuration=file:{LOG4J}"]


def ensure_jars(version: str = KAFKA_VERSION) -> Path:
    """Fetch the broker's jars once into the user cache; return the ``libs`` folder."""
    libs = cache_root() / f"kafka-{version}" / "libs"
    if (libs / f"kafka_2.13-{version}.jar").is_file():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn is not installed; it is needed once to fetch the Kafka broker jars")
    # Download next to the final folder and rename, so an interrupted download never looks complete.
    partial = libs.with_name(f"libs.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(POM),
        f"-Dkafka.version={version}",
        "-Plog4j2" if uses_log4j2(version) else "-Preload4j",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={partial}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (partial / f"kafka_2.13-{version}.jar").is_file():
        output = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        raise RuntimeError(f"fetching Kafka {version} jars failed:\n{output}")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs


def cluster_id() -> str:
    """22 characters of URL-safe base64 of a random UUID, never starting with '-' (a CLI flag otherwise)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        if not candidate.startswith("-"):
            return candidate


def metadata_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when the broker answers a Metadata (v4) request listing at least one live broker."""
    client_id = b"ewarn-probe"
    header = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
    body = struct.pack(">ib", -1, 0)  # all topics, no auto-creation
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exact(sock, 4))[0]
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    # correlation id, throttle time, then the brokers array's length
    correlation, _throttle, brokers = struct.unpack(">iii", payload[:12])
    assert isinstance(correlation, int) and isinstance(brokers, int)
    return correlation == 1 and brokers > 0


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        chunks.extend(chunk)
    return bytes(chunks)


class KafkaBroker:
    """One broker+controller node on loopback; ``restart()`` keeps its log dir and ports."""

    def __init__(self, workdir: Path, port: int | None = None, *, version: str = KAFKA_VERSION) -> None:
        self.workdir = Path(workdir)
        self.version = version
        self.port = port or free_port()
        self.controller_port = free_port()
        self.log_dir = self.workdir / "data"
        self.log_file = self.workdir / "broker.log"
        self.config = self.workdir / "server.properties"
        self._libs: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Format storage on first start, launch the JVM and wait until a metadata request answers."""
        self._libs = ensure_jars(self.version)
        if not self.config.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.config.write_text(self._server_properties(), encoding="utf-8")
            self._format_storage()
        self._launch()
        self._wait_ready()

    def stop(self) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL if it takes too long."""
        if self._proc is not None:
            stop_group(self._proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would; ``restart()`` brings it back with the same data."""
        if self._proc is not None:
            stop_group(self._proc, sig=signal.SIGKILL, timeout=STOP_TIMEOUT)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self._launch()
        self._wait_ready()

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            # Single node: internal topics must not ask for three replicas, or groups never get a coordinator.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            # After a SIGKILL the restarted node waits out its old broker session before it is unfenced.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, main: str, *args: str, heap: bool = False) -> list[str]:
        assert self._libs is not None
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is not installed; the Kafka broker needs a JRE (17+)")
        opts = ["-Xms512m", "-Xmx512m"] if heap else []
        return [
            java,
            *opts,
            "-Djava.awt.headless=true",
            *logging_options(self.version),
            f"-Dkafka.logs.dir={self.workdir / 'logs'}",
            "-cp",
            f"{self._libs}/*",
            main,
            *args,
        ]

    def _format_storage(self) -> None:
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(self.config))
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kafka StorageTool format failed:\n{done.stdout}\n{done.stderr}")

    def _launch(self) -> None:
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.config), heap=True),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"Kafka broker exited during start-up:\n{tail(self.log_file)}")
            if metadata_answers(LOOPBACK, self.port):
                return
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(
            f"Kafka broker not ready on {self.bootstrap} after {START_TIMEOUT:.0f}s:\n{tail(self.log_file)}"
        )
