"""The long-running commands' event loop: uvloop when installed, asyncio's own when asked for."""

from __future__ import annotations

import asyncio
import gc

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


async def _gc_state() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_the_collector_is_tuned_while_running_and_restored_after() -> None:
    before = gc.get_threshold()
    threshold, frozen = eventloop.run(_gc_state(), gc_gen0=12_345)
    assert threshold[0] == 12_345 and threshold[1] >= 50 and threshold[2] >= 100
    assert frozen > 0, "what was alive at start-up is out of the collector's way"
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_zero_keeps_pythons_default_collector() -> None:
    before = gc.get_threshold()
    threshold, frozen = eventloop.run(_gc_state(), gc_gen0=0)
    assert threshold == before and frozen == 0
    assert Settings().gc_gen0_threshold == 50_000
