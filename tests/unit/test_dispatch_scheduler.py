"""The in-memory scheduler: global and per-endpoint limits, round-robin, read-ahead and claim exclusion."""

from __future__ import annotations

from ewarn.dispatch.scheduler import Slots


def _take_all(slots: Slots[str]) -> list[tuple[str, str]]:
    out = []
    while (got := slots.take()) is not None:
        out.append(got)
    return out


def test_per_endpoint_limit_leaves_room_for_others() -> None:
    slots: Slots[str] = Slots(concurrency=4, per_endpoint=2)
    for i in range(6):
        slots.add("slow:443", f"s{i}")
    for i in range(3):
        slots.add("fast:443", f"f{i}")
    started = _take_all(slots)
    assert sorted(e for e, _ in started) == ["fast:443", "fast:443", "slow:443", "slow:443"]
    assert slots.busy == 4 and slots.waiting == 5
    slots.finished("fast:443")
    assert slots.take() == ("fast:443", "f2"), "a freed slot goes to the endpoint below its limit"
    slots.finished("fast:443")
    assert slots.take() is None, "slow is at its limit; fast has nothing left"


def test_round_robin_between_endpoints() -> None:
    slots: Slots[str] = Slots(concurrency=6, per_endpoint=6)
    for e in ("a", "b", "c"):
        for i in range(2):
            slots.add(e, f"{e}{i}")
    assert [item for _, item in _take_all(slots)] == ["a0", "b0", "c0", "a1", "b1", "c1"]


def test_read_ahead_and_claim_room() -> None:
    slots: Slots[str] = Slots(concurrency=4, per_endpoint=4)
    assert slots.wants_more() and slots.room() == 8
    for i in range(8):
        slots.add("a", str(i))
    _take_all(slots)
    assert (slots.busy, slots.waiting, slots.room()) == (4, 4, 0)
    assert not slots.wants_more(), "twice the slots are running or waiting"
    slots.finished("a")
    slots.take()
    assert slots.waiting == 3 and slots.wants_more(), "the read-ahead fell below one per slot"


def test_full_endpoints_are_not_claimed_for() -> None:
    slots: Slots[str] = Slots(concurrency=8, per_endpoint=2)
    for i in range(4):
        slots.add("slow", str(i))
    slots.add("fast", "x")
    _take_all(slots)
    assert slots.full_endpoints() == {"slow"}, "2 running + 2 waiting = its read-ahead is full"


def test_drain_hands_back_what_waits() -> None:
    slots: Slots[str] = Slots(concurrency=1, per_endpoint=1)
    for i in range(3):
        slots.add("a", str(i))
    assert slots.take() == ("a", "0")
    assert slots.drain() == ["1", "2"] and slots.waiting == 0 and slots.take() is None
    slots.finished("a")
    assert slots.busy == 0 and dict(slots.in_flight) == {}


def test_limits_are_sane() -> None:
    slots: Slots[str] = Slots(concurrency=0, per_endpoint=99)
    assert (slots.concurrency, slots.per_endpoint) == (1, 1)
