"""Scale-out: two correlate and two dispatch processes share their consumer groups' partitions.

Both members of each group join before any work arrives and the assignment stays put through the run. Then:
the correlators own disjoint halves of the indicators topic (the assignments their Kafka bus logs), every
partition's records were committed, and each correlator's heartbeat counts the indicators it handled (both
non-zero, summing to exactly the number produced: none handled twice); both dispatchers took alerts in. Every
expected alert arrives, once per webhook-id.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2
from tests.plugins.services import BrokerHandle
from tests.support.pipeline_rig import (
    Rig,
    assert_exactly_expected,
    committed_offsets,
    expected_alerts,
    pipeline_rig,
    produce_indicators,
    synthetic_indicators,
)
from tests.support.processes import RoleProcess

pytestmark = pytest.mark.slow  # the service fixtures add the kafka and postgres markers

INDICATORS = 3000
HOSPITALS = 8
PARTITIONS = 4
START_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 90.0


def last_assignment(process: RoleProcess, topic: str) -> set[int]:
    """The partitions of ``topic`` the process was given at its latest rebalance of that topic's group."""
    for event in reversed(process.events("kafka_partitions_assigned")):
        owned = [p.rsplit(":", 1) for p in event.get("partitions", [])]
        mine = {int(n) for t, n in owned if t == topic}
        if mine:
            return mine
    return set()


def assignments_of(process: RoleProcess, topic: str) -> int:
    """How often the group consuming ``topic`` assigned partitions to the process (other groups not counted)."""
    return sum(
        any(p.rsplit(":", 1)[0] == topic for p in event.get("partitions", []))
        for event in process.events("kafka_partitions_assigned")
    )


def split_between(processes: list[RoleProcess], topic: str) -> bool:
    """True when the processes' current assignments are disjoint, non-empty, and cover every partition."""
    owned = [last_assignment(p, topic) for p in processes]
    every = set(range(PARTITIONS))
    return all(owned) and set().union(*owned) == every and sum(len(o) for o in owned) == PARTITIONS


async def wait_split(rig: Rig, processes: list[RoleProcess], topic: str) -> None:
    async def done() -> bool:
        return split_between(processes, topic)

    def progress() -> str:
        return ", ".join(f"{p.name}: {sorted(last_assignment(p, topic))}" for p in processes)

    await rig.fleet.wait_for(done, timeout=START_TIMEOUT, what=f"{topic} split between", progress=progress)


async def test_two_correlators_and_two_dispatchers_share_the_work(
    kafka_broker: BrokerHandle, postgres_url: str, tmp_path: Path
) -> None:
    async with pipeline_rig(
        postgres_url=postgres_url,
        bootstrap=kafka_broker.bootstrap,
        partitions=PARTITIONS,
        hospitals=HOSPITALS,
        logdir=tmp_path / "logs",
    ) as rig:
        topics = rig.deployment.topics
        # The premise of "both dispatchers get work": alerts are keyed by provider, and these providers' keys
        # land on every partition (aiokafka's default partitioner), so any split of the four gives both some.
        keyed = {(murmur2(h.provider_id.encode()) & 0x7FFFFFFF) % PARTITIONS for h in rig.hospitals}
        assert keyed == set(range(PARTITIONS)), f"providers only on alert partitions {keyed}"
        indicators = synthetic_indicators(rig.hospitals, INDICATORS)
        expected = expected_alerts(rig.hospitals, indicators)
        correlators = [rig.fleet.spawn("correlate") for _ in range(2)]
        dispatchers = [rig.fleet.spawn("dispatch") for _ in range(2)]
        # Let both members of each group join before any work arrives, so the work is split, not raced for.
        await wait_split(rig, correlators, topics.indicators)
        await wait_split(rig, dispatchers, topics.alerts)
        owned_before = {p.name: last_assignment(p, topics.indicators) for p in correlators}
        rebalances_before = {p.name: assignments_of(p, topics.indicators) for p in correlators}

        began = time.monotonic()
        await produce_indicators(rig.bus, topics, indicators)
        took = await rig.wait_delivered(expected, timeout=DELIVERY_TIMEOUT)
        elapsed = time.monotonic() - began

        committed: dict[int, int] = {}

        async def all_committed() -> bool:
            committed.update(
                await committed_offsets(kafka_broker.bootstrap, "ewarn-correlate", topics.indicators)
            )
            return sum(committed.values()) == INDICATORS

        await rig.fleet.wait_for(
            all_committed, timeout=10, what="the correlate group to commit every indicator", interval=0.5
        )
        owned_after = {p.name: last_assignment(p, topics.indicators) for p in correlators}
        rebalances_after = {p.name: assignments_of(p, topics.indicators) for p in correlators}
        # Heartbeats (every 2 s) carry each process's counters: indicators handled, alerts taken in.
        await rig.fleet.wait_for(
            lambda: _heartbeats_reach(rig, correlate=INDICATORS, dispatch=len(expected)),
            timeout=10,
            what="heartbeats counting every indicator and every alert",
        )
        handled = await _counter(rig, "correlate", "processed")
        intake = await _counter(rig, "dispatch", "alerts")
        codes = await rig.fleet.close()
        got = rig.deliveries()

    print(
        f"\nscale-out: {INDICATORS} indicators -> {len(expected)} alerts in {took:.1f}s "
        f"(produce+deliver {elapsed:.1f}s); correlators own {owned_after}; committed {committed}; "
        f"indicators handled by pid {handled}; alerts taken in by pid {intake}; "
        f"{len(got.items)} requests, {got.redelivered} redeliveries"
    )
    assert owned_after == owned_before and rebalances_after == rebalances_before, (
        "no rebalance of the indicators group during the run"
    )
    # Keys spread over every partition, and every partition's records were committed by its owner.
    assert sum(committed.values()) == INDICATORS, f"committed offsets {committed} != {INDICATORS} records"
    for name, partitions in owned_after.items():
        assert all(committed.get(p, 0) > 0 for p in partitions), f"{name} committed nothing on {partitions}"
    assert len(handled) == 2 and all(n > 0 for n in handled.values()), f"both correlators worked: {handled}"
    assert sum(handled.values()) == INDICATORS, f"each indicator handled once, by one of them: {handled}"
    assert len(intake) == 2 and all(n > 0 for n in intake.values()), (
        f"both dispatchers took alerts in: {intake}"
    )
    assert_exactly_expected(got, expected, rig.hospitals)
    assert len(got.webhook_ids) == len(expected), "one webhook-id per alert"
    assert all(code == 0 for code in codes.values()), f"every process stops cleanly on SIGTERM: {codes}"


async def _counter(rig: Rig, role: str, name: str) -> dict[int, int]:
    """One heartbeat counter of every process of ``role``, by pid."""
    return {pid: int(s.get(name, 0)) for pid, s in (await rig.deployment.heartbeat_stats(role)).items()}


async def _heartbeats_reach(rig: Rig, *, correlate: int, dispatch: int) -> bool:
    handled = await _counter(rig, "correlate", "processed")
    intake = await _counter(rig, "dispatch", "alerts")
    return sum(handled.values()) >= correlate and sum(intake.values()) >= dispatch
