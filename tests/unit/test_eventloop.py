"""The long-running commands' event loop: uvloop when installed, asyncio's own when asked for."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from ewarn import eventloop
from ewarn.settings import Settings


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_auto_and_uvloop_run_on_uvloop() -> None:
    assert eventloop.run(_loop_type(), kind="auto") is uvloop.Loop
    assert eventloop.run(_loop_type(), kind="uvloop") is uvloop.Loop


def test_asyncio_forces_the_standard_loop() -> None:
    kind = eventloop.run(_loop_type(), kind="asyncio")
    assert kind.__module__.startswith("asyncio") and kind is not uvloop.Loop


def test_the_setting_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EWARN_EVENT_LOOP", "asyncio")
    assert Settings().event_loop == "asyncio"
    monkeypatch.setenv("EWARN_EVENT_LOOP", "tokio")
    with pytest.raises(ValueError, match="event_loop"):
        Settings()
