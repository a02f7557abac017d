"""How the long-running commands run: uvloop when installed, and fewer cyclic garbage collections.

uvloop runs the same asyncio code with its network I/O and scheduling in C; the dispatch stage, which spends
much of its time in sockets and callbacks, sent 2,383 webhooks per CPU-second on it against 2,104 on asyncio's
loop in one back-to-back pair of bench/dispatch_bench.py runs (runs on this machine vary by ±15 %). ``EWARN_EVENT_LOOP=asyncio`` forces the standard loop.

Python's collector runs a generation-0 pass every 700 net container allocations; a stage that builds a few
hundred short-lived objects per alert spent 0.65 to 0.88 s of a 10 s benchmark window there (measured with
gc.callbacks), and full passes rescan every long-lived object. Objects alive at start-up are frozen out of
collection, and generation 0 waits for ``EWARN_GC_GEN0_THRESHOLD`` allocations (0 keeps Python's default). In
the dispatch benchmark's burst the first run with it gave 2,911 webhooks per CPU-second against 1,976 just
before; the next full run gave 2,335, so the gain is real but smaller than one pair suggests. Memory is still freed by reference counting the moment it is unused; only reference
cycles wait longer.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
LoopKind = Literal["auto", "uvloop", "asyncio"]


def loop_factory(kind: LoopKind = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory for ``asyncio.Runner``; None means asyncio's default loop."""
    if kind == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, kind: LoopKind = "auto", gc_gen0: int = 0) -> T:
    """``asyncio.run`` on the chosen loop, with the collector tuned (restored afterwards) when ``gc_gen0``."""
    before = gc.get_threshold()
    if gc_gen0 > 0:
        gc.collect()
        gc.freeze()
        gc.set_threshold(gc_gen0, max(before[1], 50), max(before[2], 100))
    try:
        with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
            return runner.run(main)
    finally:
        if gc_gen0 > 0:
            gc.set_threshold(*before)
            gc.unfreeze()
