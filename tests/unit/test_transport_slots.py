"""The per-origin connection slots of the webhook transport: a limit, a line, a timeout, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from ewarn.dispatch.transport import _Slots


async def test_at_most_the_limit_and_the_rest_wait_in_line() -> None:
    slots = _Slots(2)
    assert await slots.acquire(None) and await slots.acquire(None)
    order: list[int] = []

    async def waiter(n: int) -> None:
        assert await slots.acquire(None)
        order.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert order == [], "both slots are taken"
    slots.release()
    await asyncio.sleep(0.01)
    assert order == [0]
    slots.release()
    slots.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2], "first come, first served"
    assert slots.free == 0
    for _ in range(2):
        slots.release()
    assert slots.free == 2


async def test_a_wait_past_its_timeout_gives_up_and_leaves_the_line() -> None:
    slots = _Slots(1)
    assert await slots.acquire(None)
    assert not await slots.acquire(0.02)
    slots.release()
    assert slots.free == 1, "the timed-out waiter took nothing"
    assert await slots.acquire(0.02)


async def test_a_cancelled_waiter_passes_a_slot_it_was_handed() -> None:
    slots = _Slots(1)
    assert await slots.acquire(None)
    cancelled = asyncio.create_task(slots.acquire(None))
    behind = asyncio.create_task(slots.acquire(None))
    await asyncio.sleep(0.01)
    slots.release()  # handed to ``cancelled``, which is cancelled before it runs
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await asyncio.wait_for(behind, 1), "the slot went on to the next in line"
    assert slots.free == 0
    slots.release()
    assert slots.free == 1


async def test_a_cancelled_waiter_leaves_the_line() -> None:
    slots = _Slots(1)
    assert await slots.acquire(None)
    waiting = asyncio.create_task(slots.acquire(None))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    slots.release()
    assert slots.free == 1
