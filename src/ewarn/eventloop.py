"""The event loop the long-running commands use: uvloop when installed, else asyncio's own.

uvloop runs the same asyncio code with its network I/O and scheduling in C; the dispatch stage, which spends
much of its time in sockets and callbacks, sends ≈10 % more webhooks per CPU-second on it
(bench/dispatch_bench.py). ``EWARN_EVENT_LOOP=asyncio`` forces the standard loop.
"""

from __future__ import annotations

import asyncio
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


def run(main: Coroutine[Any, Any, T], *, kind: LoopKind = "auto") -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main)
