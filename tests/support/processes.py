"""Real ``ewarn run ROLE`` processes for the multi-process tests: spawn, crash, stop, and wait with evidence.

Each ``RoleProcess`` runs in its own process group (so ``kill9`` takes any child with it), writes stdout and
stderr to one log file (kept across restarts, so a crash and its recovery read as one story), and gets only
the ``EWARN_*`` variables it is given: nothing leaks in from the test runner's environment.

``Fleet`` keeps every process a test started, stops them all at the end (SIGTERM, then SIGKILL), and builds
failure messages that carry the tail of every log: a timeout says what each process was doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.support.netutil import stop_group, tail

STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 25


def ewarn_command() -> list[str]:
    """The ``ewarn`` console script of this interpreter's environment (or the same entry point via -c)."""
    script = Path(sys.executable).with_name("ewarn")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from ewarn.cli import main; main()"]


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The runner's environment without any ``EWARN_*`` setting (but the test run's secrets keys), plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("EWARN_") or k == "EWARN_SECRETS__KEYS"}
    return {**base, "PYTHONUNBUFFERED": "1", **env}


class RoleProcess:
    """One ``ewarn run ROLE`` process; ``start`` again after ``kill9``/``terminate`` to restart it."""

    def __init__(self, *, name: str, role: str, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.role = role
        self.env = dict(env)
        self.log_path = log_path
        self.starts = 0
        self.stopped_on_purpose = False  # by kill9/terminate: not a failure when it is found not running
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        self.stopped_on_purpose = False
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: start #{self.starts} ({time.strftime('%H:%M:%S')}) ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [*ewarn_command(), "run", self.role],
                env=child_environment(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: signals reach it and only it
            )

    def kill9(self) -> None:
        """SIGKILL the process group, as a crash or an OOM kill would; nothing gets to clean up."""
        proc = self._require()
        self.stopped_on_purpose = True
        stop_group(proc, sig=signal.SIGKILL, timeout=STOP_TIMEOUT)
        self._note(f"killed with SIGKILL (exit {proc.returncode})")

    async def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (the role finishes its work in flight), wait, SIGKILL after ``timeout``; the exit code.

        Waits without blocking the event loop: the test's receiver may still be answering the role."""
        proc = self._require()
        self.stopped_on_purpose = True
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            self._note(f"did not stop within {timeout:.0f}s of SIGTERM; SIGKILL")
            self._signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, STOP_TIMEOUT)
        code = int(proc.returncode)
        self._note(f"stopped with SIGTERM (exit {code})")
        return code

    # --- state ------------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def events(self, name: str) -> list[dict[str, Any]]:
        """Every structured (JSON) log line whose ``event`` is ``name``, in order."""
        found: list[dict[str, Any]] = []
        for line in self.log_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == name:
                found.append(record)
        return found

    def describe(self, lines: int = LOG_TAIL_LINES) -> str:
        state = "running" if self.alive else f"exited ({self.returncode})"
        header = f"=== {self.name} [{self.role}, pid {self.pid}, {state}] {self.log_path}"
        return f"{header}\n{tail(self.log_path, lines)}"

    def _require(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._proc

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._require().pid, sig)

    def _note(self, text: str) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: {text} ({time.strftime('%H:%M:%S')}) ---\n".encode())


class Fleet:
    """The processes of one test; ``close`` stops every one still running."""

    def __init__(self, logdir: Path, env: Mapping[str, str]) -> None:
        self.logdir = logdir
        self.env = dict(env)
        self.processes: list[RoleProcess] = []
        logdir.mkdir(parents=True, exist_ok=True)

    def spawn(self, role: str, name: str | None = None, **env: str) -> RoleProcess:
        """Start ``ewarn run ROLE`` with the fleet's environment plus ``env``."""
        name = name or f"{role}-{sum(p.role == role for p in self.processes) + 1}"
        process = RoleProcess(
            name=name, role=role, env={**self.env, **env}, log_path=self.logdir / f"{name}.log"
        )
        process.start()
        self.processes.append(process)
        return process

    def __iter__(self) -> Iterator[RoleProcess]:
        return iter(self.processes)

    def of_role(self, role: str) -> list[RoleProcess]:
        return [p for p in self.processes if p.role == role]

    def describe(self, lines: int = LOG_TAIL_LINES) -> str:
        """The tail of every process log, for a failure message."""
        return "\n".join(p.describe(lines) for p in self.processes)

    def check_alive(self) -> None:
        """Fail at once, with the logs, if a process the test expects to be running has exited."""
        dead = [p for p in self.processes if not p.alive and not p.stopped_on_purpose]
        if dead:
            names = ", ".join(f"{p.name} (exit {p.returncode})" for p in dead)
            raise AssertionError(f"process exited unexpectedly: {names}\n{self.describe(60)}")

    async def close(self) -> dict[str, int]:
        """SIGTERM every running process at once (SIGKILL any that hangs); returns each one's exit code."""
        running = [p for p in self.processes if p.alive]
        codes = await asyncio.gather(*(p.terminate() for p in running))
        return {p.name: code for p, code in zip(running, codes, strict=True)}

    async def wait_for(
        self,
        check: Callable[[], Awaitable[bool]],
        *,
        timeout: float,
        what: str,
        progress: Callable[[], str] | None = None,
        interval: float = 0.1,
    ) -> float:
        """Poll ``check`` until true; returns the seconds it took. On timeout (or a process dying
        unexpectedly) fail with ``what``, the progress so far and every process log's tail."""
        began = time.monotonic()
        while not await check():
            self.check_alive()
            if time.monotonic() - began > timeout:
                detail = f" ({progress()})" if progress is not None else ""
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{self.describe()}"
                )
            await asyncio.sleep(interval)
        return time.monotonic() - began

    async def wait_for_event(
        self, process: RoleProcess, event: str, *, timeout: float, count: int = 1
    ) -> float:
        """Wait until ``process`` logged ``event`` at least ``count`` times (counted over all its starts)."""

        async def seen() -> bool:
            return len(process.events(event)) >= count

        return await self.wait_for(seen, timeout=timeout, what=f"{process.name} to log {event!r} x{count}")
