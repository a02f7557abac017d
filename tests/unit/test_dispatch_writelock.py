"""The dispatch write lock: one holder at a time, urgent waiters (intake) ahead of ordinary ones, cancel-safe."""

from __future__ import annotations

import asyncio

import pytest

from ewarn.dispatch.writelock import PriorityWriteLock


async def _holder(lock: PriorityWriteLock, name: str, log: list[str], *, urgent: bool) -> None:
    async with lock.hold(urgent=urgent):
        log.append(f"{name}+")
        await asyncio.sleep(0.01)
        log.append(f"{name}-")


async def test_one_holder_at_a_time_and_urgent_goes_first() -> None:
    lock = PriorityWriteLock()
    log: list[str] = []
    first = asyncio.create_task(_holder(lock, "record1", log, urgent=False))
    await asyncio.sleep(0)  # record1 holds the lock
    waiting = [
        asyncio.create_task(_holder(lock, "record2", log, urgent=False)),
        asyncio.create_task(_holder(lock, "claim", log, urgent=False)),
        asyncio.create_task(_holder(lock, "intake", log, urgent=True)),
    ]
    await asyncio.gather(first, *waiting)
    assert log == [
        "record1+", "record1-",
        "intake+", "intake-",  # queued last, served first
        "record2+", "record2-",
        "claim+", "claim-",
    ]  # fmt: skip
    assert not lock.locked


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_lock() -> None:
    lock = PriorityWriteLock()
    log: list[str] = []
    first = asyncio.create_task(_holder(lock, "a", log, urgent=False))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(_holder(lock, "doomed", log, urgent=True))
    after = asyncio.create_task(_holder(lock, "b", log, urgent=False))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.gather(first, after)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert log == ["a+", "a-", "b+", "b-"]
    assert not lock.locked


async def test_cancelled_just_as_it_was_handed_the_lock_passes_it_on() -> None:
    lock = PriorityWriteLock()
    log: list[str] = []
    release = asyncio.Event()

    async def hold_until_released() -> None:
        async with lock.hold():
            await release.wait()

    first = asyncio.create_task(hold_until_released())
    await asyncio.sleep(0)
    doomed = asyncio.create_task(_holder(lock, "doomed", log, urgent=True))
    after = asyncio.create_task(_holder(lock, "b", log, urgent=False))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # "first" runs, leaves and hands the lock to "doomed", which has not run yet
    assert first.done() and lock.locked
    doomed.cancel()
    await after
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert log == ["b+", "b-"]
    assert not lock.locked
