"""Progress of long CLI work (feed polls and backfills, exports, retro-hunts) on stderr.

A terminal gets a live line (rich); anything else (a log file, CI, a pipe) gets one JSON line when the work
starts, then at most one every ``interval`` seconds, then a last one when it ends, so a long poll shows it is
alive without flooding the log. ``quiet`` silences both. Standard output stays for the command's result.

    with cli_progress("poll cisa-kev", unit="pages", quiet=quiet) as progress:
        ...
        progress.update(done=pages, accepted=n)      # or progress.advance(1)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

DEFAULT_INTERVAL_SECONDS = 5.0


class ProgressSink(Protocol):
    """What long work calls as it goes."""

    def update(self, *, done: int | None = None, total: int | None = None, **fields: Any) -> None: ...

    def advance(self, step: int = 1, **fields: Any) -> None: ...


class _Counter:
    """The figures shared by every sink: items done, the total when known, and named extra figures."""

    def __init__(self, total: int | None) -> None:
        self.done = 0
        self.total = total
        self.fields: dict[str, Any] = {}

    def apply(self, done: int | None, total: int | None, step: int, fields: dict[str, Any]) -> None:
        self.done = done if done is not None else self.done + step
        if total is not None:
            self.total = total
        self.fields.update(fields)


class SilentProgress:
    """``--quiet``: the figures are kept (a caller may read them), nothing is printed."""

    def __init__(self, total: int | None = None) -> None:
        self.figures = _Counter(total)

    def update(self, *, done: int | None = None, total: int | None = None, **fields: Any) -> None:
        self.figures.apply(done, total, 0, fields)

    def advance(self, step: int = 1, **fields: Any) -> None:
        self.figures.apply(None, None, step, fields)

    def close(self, *, failed: bool = False) -> None:
        pass


class JsonLinesProgress(SilentProgress):
    """Not a terminal: a JSON line at the start, at most one per ``interval`` seconds, and one at the end."""

    def __init__(
        self,
        what: str,
        *,
        stream: TextIO,
        unit: str,
        total: int | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(total)
        self._what, self._unit, self._stream = what, unit, stream
        self._interval, self._clock = interval, clock
        self._started = clock()
        self._last_line = self._started
        self._line("started")

    def _line(self, state: str) -> None:
        figures = self.figures
        line = {
            "progress": self._what,
            "state": state,
            "done": figures.done,
            "total": figures.total,
            "unit": self._unit,
            "elapsed_seconds": round(self._clock() - self._started, 3),
            **figures.fields,
        }
        self._stream.write(json.dumps(line, default=str) + "\n")
        self._stream.flush()

    def _maybe_line(self) -> None:
        now = self._clock()
        if now - self._last_line >= self._interval:
            self._last_line = now
            self._line("running")

    def update(self, *, done: int | None = None, total: int | None = None, **fields: Any) -> None:
        super().update(done=done, total=total, **fields)
        self._maybe_line()

    def advance(self, step: int = 1, **fields: Any) -> None:
        super().advance(step, **fields)
        self._maybe_line()

    def close(self, *, failed: bool = False) -> None:
        self._line("failed" if failed else "finished")


class LiveProgress(SilentProgress):
    """A terminal: one live rich line (spinner or bar, count, elapsed time, the extra figures)."""

    def __init__(self, what: str, *, console: Console, unit: str, total: int | None = None) -> None:
        super().__init__(total)
        self._unit = unit
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"{unit}" + " {task.fields[extra]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._bar.add_task(what, total=total, extra="")
        self._bar.start()

    def _show(self) -> None:
        figures = self.figures
        extra = " ".join(f"{key} {value}" for key, value in figures.fields.items())
        self._bar.update(self._task, completed=figures.done, total=figures.total, extra=extra)

    def update(self, *, done: int | None = None, total: int | None = None, **fields: Any) -> None:
        super().update(done=done, total=total, **fields)
        self._show()

    def advance(self, step: int = 1, **fields: Any) -> None:
        super().advance(step, **fields)
        self._show()

    def close(self, *, failed: bool = False) -> None:
        if (
            self.figures.total is None and not failed
        ):  # an open-ended count: the bar shows done once it is over
            self._bar.update(self._task, total=self.figures.done)
        self._bar.stop()


@contextmanager
def cli_progress(
    what: str,
    *,
    unit: str = "items",
    total: int | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
    interval: float = DEFAULT_INTERVAL_SECONDS,
) -> Iterator[ProgressSink]:
    """Progress of ``what`` on ``stream`` (stderr): live on a terminal, JSON lines otherwise, none if quiet."""
    out = stream if stream is not None else sys.stderr
    sink: SilentProgress
    if quiet:
        sink = SilentProgress(total)
    elif out.isatty():
        sink = LiveProgress(what, console=Console(file=out), unit=unit, total=total)
    else:
        sink = JsonLinesProgress(what, stream=out, unit=unit, total=total, interval=interval)
    try:
        yield sink
    except BaseException:
        sink.close(failed=True)
        raise
    sink.close()
