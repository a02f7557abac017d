"""CLI progress: JSON lines off a terminal (throttled), a live line on one, nothing when quiet."""

from __future__ import annotations

import io
import json

import pytest

from ewarn.cli_progress import JsonLinesProgress, cli_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("update_times", "expected_running_at"),
    [
        pytest.param([1, 2, 3], [], id="quick-work-start-and-end-only"),
        pytest.param([1, 6, 7, 12], [6, 12], id="one-line-per-interval"),
        pytest.param([20], [20], id="a-long-wait-then-one-update"),
    ],
)
def test_json_lines_are_throttled(update_times: list[float], expected_running_at: list[float]) -> None:
    clock, stream = FakeClock(), io.StringIO()
    progress = JsonLinesProgress("poll kev", stream=stream, unit="pages", interval=5.0, clock=clock)
    for n, at in enumerate(update_times, start=1):
        clock.now = 100.0 + at
        progress.update(done=n, accepted=n * 10)
    progress.close()
    lines = _lines(stream)
    assert [line["state"] for line in lines] == [
        "started",
        *["running"] * len(expected_running_at),
        "finished",
    ]
    assert [line["elapsed_seconds"] for line in lines[1:-1]] == expected_running_at
    last = lines[-1]
    assert (last["progress"], last["unit"], last["done"], last["accepted"]) == (
        "poll kev",
        "pages",
        len(update_times),
        len(update_times) * 10,
    )


def test_not_a_terminal_gets_json_lines_and_failure_is_said() -> None:
    stream = io.StringIO()
    with (
        pytest.raises(RuntimeError),
        cli_progress("export", unit="rows", total=10, stream=stream) as progress,
    ):
        progress.advance(4)
        raise RuntimeError("disk full")
    lines = _lines(stream)
    assert [line["state"] for line in lines] == ["started", "failed"]
    assert (lines[-1]["done"], lines[-1]["total"]) == (4, 10)


def test_quiet_prints_nothing() -> None:
    stream = Terminal()
    with cli_progress("poll kev", quiet=True, stream=stream) as progress:
        progress.update(done=3)
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_live_line() -> None:
    stream = Terminal()
    with cli_progress("backfill kev", unit="pages", stream=stream) as progress:
        for page in range(1, 4):
            progress.update(done=page, accepted=page * 100)
    shown = stream.getvalue()
    assert "backfill kev" in shown and "accepted 300" in shown and "3/3" in shown
    assert not shown.lstrip().startswith("{"), "a terminal gets no JSON"
