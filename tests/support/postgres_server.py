"""A throwaway PostgreSQL server on 127.0.0.1 from Debian's ``postgresql`` package, installed when missing."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support.netutil import LOOPBACK, free_port, stop_group, tail

DATABASE = "ewarn"
SUPERUSER = "postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def find_bindir() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<major>/bin`` holding ``initdb``."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if not found:
        return None
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def ensure_installed() -> Path:
    """Install Debian's ``postgresql`` package if no server binaries are present; return their folder."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise RuntimeError("PostgreSQL is not installed and we are not root: `apt-get install postgresql`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb exists")
    return bindir


def server_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as: ``postgres`` when we are root (initdb refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root but there is no `postgres` OS user to run the server") from exc


class PostgresServer:
    """initdb + postgres on a free loopback port with trust auth and fsync off; database ``ewarn`` created."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.log_file = self.workdir / "postgres.log"
        self._user = server_user()
        self._bindir: Path | None = None
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{LOOPBACK}:{self.port}/{DATABASE}"

    def start(self) -> None:
        self._bindir = ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._root = self._make_root()
        self._initdb()
        self._launch()
        self._wait_ready()
        self._run_client("createdb", DATABASE)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open sessions, no waiting for clients), then remove the data."""
        if self._proc is not None:
            stop_group(self._proc, sig=signal.SIGINT, timeout=STOP_TIMEOUT)
            self._proc = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def _make_root(self) -> Path:
        # pytest's tmp dirs are private to root; the server user must own a folder it can reach.
        root = Path(tempfile.mkdtemp(prefix="ewarn-pg-")) if self._user else self.workdir / "pg"
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "socket").mkdir(exist_ok=True)
        if self._user is not None:
            for path in (root, root / "data", root / "socket"):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        return root

    def _identity(self) -> tuple[int | None, int | None, list[int] | None]:
        """uid, gid, groups for subprocess: the child drops to the server user itself, so no wrapper
        process (runuser) sits between us and postgres and our signals reach the postmaster."""
        if self._user is None:
            return None, None, None
        return self._user.pw_uid, self._user.pw_gid, []

    def _bin(self, name: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / name)

    def _initdb(self) -> None:
        assert self._root is not None
        cmd = [
            self._bin("initdb"),
            "-D",
            str(self._root / "data"),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        uid, gid, groups = self._identity()
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=False, user=uid, group=gid, extra_groups=groups
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _launch(self) -> None:
        assert self._root is not None
        cmd = [
            self._bin("postgres"),
            "-D",
            str(self._root / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self._root / "socket"),
            "-c",
            f"listen_addresses={LOOPBACK}",
            # A test database: durability buys nothing and costs seconds.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ]
        uid, gid, groups = self._identity()
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited during start-up:\n{tail(self.log_file)}")
            probe = [self._bin("pg_isready"), "-q", "-h", LOOPBACK, "-p", str(self.port), "-U", SUPERUSER]
            if subprocess.run(probe, check=False).returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL not ready on port {self.port} after {START_TIMEOUT:.0f}s")

    def _run_client(self, name: str, *args: str) -> None:
        cmd = [self._bin(name), "-h", LOOPBACK, "-p", str(self.port), "-U", SUPERUSER, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@asynccontextmanager
async def temporary_database(postgres_url: str) -> AsyncIterator[str]:
    """A brand-new empty database on the server at ``postgres_url``; yields its URL, drops it after."""
    name = f"t_{uuid.uuid4().hex}"
    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
