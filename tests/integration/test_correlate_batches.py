"""The batched correlate stage: what a batch costs, a batch redelivered after a crash, batch sizes under load.

Counted on the real in-process bus (a wrapper counting its calls) and a real database (SQLAlchemy engine events
counting statements and commits), never on mocks of the stage's own code.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tests.integration.test_correlate_worker import WAIT, Clock, asset, delete_asset, ip, seed

from ewarn.bus.base import Consumer, Record
from ewarn.bus.memory import MemoryBus
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics
from ewarn.correlate.worker import CorrelateSettings, CorrelateWorker
from ewarn.errors import TransientError
from ewarn.models import Alert, AlertStatus, AssetChange, AssetKind, Indicator
from ewarn.store.db import SessionFactory
from ewarn.store.tables import AlertEventRow, AlertRow

NETWORKS = [
    asset("net-a", AssetKind.NETWORK, "Campus A", value="10.1.0.0/16"),
    asset("net-b", AssetKind.NETWORK, "Campus B", provider="prov-b", value="10.2.0.0/16"),
]


def indicators(count: int) -> list[Indicator]:
    """``count`` indicators, each matching exactly one provider's network."""
    return [ip(f"10.{1 + n % 2}.{n // 250}.{n % 250 + 1}") for n in range(count)]


class Crash(BaseException):
    """The process dies here: nothing in the stage may catch it (it is no ``Exception``)."""


class CountingBus:
    """The in-process bus, counting publish calls per topic; can die at a publish or at an offset commit."""

    def __init__(self, inner: MemoryBus) -> None:
        self.inner = inner
        self.publish_calls: Counter[str] = Counter()
        self.crash_at_publish: str | None = None
        self.crash_at_commit: str | None = None

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(
        self, topic: str, *, key: str | None, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        await self.publish_many(topic, [(key, value)], headers)

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        self.publish_calls[topic] += 1
        if topic == self.crash_at_publish:
            raise Crash(f"died before {topic} acknowledged")
        await self.inner.publish_many(topic, items, headers)

    def consumer(self, topics: Sequence[str], *, group: str) -> Consumer:
        return _CrashingConsumer(self, self.inner.consumer(topics, group=group))


class _CrashingConsumer:
    def __init__(self, bus: CountingBus, inner: Consumer) -> None:
        self._bus = bus
        self._inner = inner

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        return await self._inner.fetch(max_records=max_records, timeout=timeout)

    async def commit(self, records: Sequence[Record]) -> None:
        if any(r.topic == self._bus.crash_at_commit for r in records):
            raise Crash("died before the offsets were committed")
        await self._inner.commit(records)


class StatementCounter:
    """Counts commits and the statements that write alerts and publish marks on a real engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.commits = 0
        self.statements: Counter[str] = Counter()
        sync = engine.sync_engine
        event.listen(sync, "commit", self._on_commit)
        event.listen(sync, "before_cursor_execute", self._on_statement)

    def _on_commit(self, _conn: Any) -> None:
        self.commits += 1

    def _on_statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if words and words[0].upper() in {"INSERT", "UPDATE"}:
            verb = words[0].upper()
            table = (words[2] if verb == "INSERT" else words[1]).strip('"')
            self.statements[f"{verb} {table}"] += 1


def engine_of(sessions: SessionFactory) -> AsyncEngine:
    bind = sessions.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    return bind


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def stored(sessions: SessionFactory) -> tuple[dict[str, int], int]:
    """Alert id -> revision, and the number of publish marks."""
    async with sessions() as session:
        revisions = {r.id: r.revision for r in await session.scalars(select(AlertRow))}
        marks = int(await session.scalar(select(func.count()).select_from(AlertEventRow)) or 0)
    return revisions, marks


@asynccontextmanager
async def running(worker: CorrelateWorker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, WAIT)


async def crashes(worker: CorrelateWorker) -> None:
    """Run ``worker`` until it dies of ``Crash``, then let its other runners (left running) wind down."""
    with pytest.raises(Crash):
        await asyncio.wait_for(worker.run(), WAIT)
    worker.stop()
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=WAIT)


async def publish_indicators(bus: MemoryBus, topics: Topics, items: Sequence[Indicator]) -> None:
    await bus.publish_many(topics.indicators, [(i.key, i.model_dump_json().encode()) for i in items])


@pytest.mark.parametrize("count", [pytest.param(2, id="2"), pytest.param(40, id="40")])
async def test_a_batch_of_matching_records_costs_one_write_transaction_and_one_publish(
    sessions: SessionFactory, count: int
) -> None:
    await seed(sessions, NETWORKS)
    memory, topics = MemoryBus(), Topics()
    bus = CountingBus(memory)
    await publish_indicators(
        memory, topics, indicators(count)
    )  # all there before the stage starts: one batch
    worker = CorrelateWorker(bus, sessions, topics, CorrelateSettings(batch_size=500), clock=Clock())
    await worker.load_assets()
    counter = StatementCounter(engine_of(sessions))
    async with running(worker):
        await until(lambda: memory.lag(topics.indicators, group="ewarn-correlate") == 0)
    assert bus.publish_calls[topics.alerts] == 1
    # one transaction writes every revision, one records every publish mark; nothing else committed
    assert counter.commits == 2
    assert counter.statements == Counter({"INSERT alerts": 1, "INSERT alert_events": 1})
    revisions, marks = await stored(sessions)
    assert len(revisions) == count and set(revisions.values()) == {1} and marks == count
    assert {Alert.model_validate_json(r.value).id for r in memory.records(topics.alerts)} == set(revisions)


async def test_a_retro_hunt_raising_many_alerts_writes_and_publishes_them_once(
    sqlite_sessions: SessionFactory,
) -> None:
    """A bulk import's retro-hunt: 60 stored indicators hit the new network, then half of it is removed."""
    sessions = sqlite_sessions
    stored_indicators = indicators(120)[::2]  # the ones inside prov-a's 10.1.0.0/16
    await seed(sessions, NETWORKS, stored_indicators)
    memory, topics = MemoryBus(), Topics()
    bus = CountingBus(memory)
    worker = CorrelateWorker(bus, sessions, topics, clock=Clock())
    counter = StatementCounter(engine_of(sessions))
    change = AssetChange(provider_id="prov-a", changed_asset_ids=["net-a"], changed_at=Clock()())
    raised = await worker.retro_hunt(change)
    assert len(raised) == 60 and {a.revision for a in raised} == {1}
    assert bus.publish_calls[topics.alerts] == 1
    assert counter.statements == Counter({"INSERT alerts": 1, "INSERT alert_events": 1})
    assert counter.commits == 2

    await delete_asset(sessions, "net-a")
    counter.commits = 0
    gone = AssetChange(provider_id="prov-a", removed_asset_ids=["net-a"], changed_at=Clock()())
    closed = await worker.retro_hunt(gone)
    assert len(closed) == 60 and {(a.revision, a.status) for a in closed} == {(2, AlertStatus.RESOLVED)}
    assert bus.publish_calls[topics.alerts] == 2
    assert counter.commits == 2  # the resolutions: one write transaction, one publish mark


@pytest.mark.parametrize(
    "crash",
    [
        pytest.param("publish", id="crash-before-the-publish-is-acknowledged"),
        pytest.param("commit", id="crash-after-publishing-before-the-offsets-commit"),
    ],
)
async def test_a_whole_batch_redelivered_after_a_crash_gives_the_same_alerts_and_revisions(
    sqlite_sessions: SessionFactory, crash: str
) -> None:
    sessions = sqlite_sessions
    await seed(sessions, NETWORKS)
    memory, topics = MemoryBus(), Topics()
    bus = CountingBus(memory)
    batch = indicators(30)
    await publish_indicators(memory, topics, batch)
    if crash == "publish":
        bus.crash_at_publish = topics.alerts
    else:
        bus.crash_at_commit = topics.indicators
    await crashes(CorrelateWorker(bus, sessions, topics, clock=Clock()))
    before, _ = await stored(sessions)
    assert len(before) == 30  # the revisions were stored before the crash
    assert memory.lag(topics.indicators, group="ewarn-correlate") == 30  # nothing committed

    bus.crash_at_publish = bus.crash_at_commit = None
    restarted = CorrelateWorker(bus, sessions, topics, clock=Clock())
    async with running(restarted):
        await until(lambda: memory.lag(topics.indicators, group="ewarn-correlate") == 0)
    after, marks = await stored(sessions)
    assert after == before and set(after.values()) == {1} and marks == 30
    published = [Alert.model_validate_json(r.value) for r in memory.records(topics.alerts)]
    # each alert reached the topic exactly once, with the ids and revision 1 it was stored with
    assert sorted((a.id, a.revision) for a in published) == sorted(after.items())


class _RecordingHandlers:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.at: list[float] = []
        self.slow = 0.0
        self.outages = 0  # the next calls fail as if the database or broker were away

    async def one(self, record: Record) -> None:
        await self.many([record])

    async def many(self, records: Sequence[Record]) -> None:
        self.batches.append([str(r.key) for r in records])
        self.at.append(time.monotonic())
        if self.outages:
            self.outages -= 1
            raise TransientError("database unavailable")
        if poison := [r for r in records if r.value == b"poison"]:
            raise ValueError(f"cannot read {poison[0].key}")
        await asyncio.sleep(self.slow)


async def _run_runner(bus: MemoryBus, handlers: _RecordingHandlers, batch_size: int) -> StageRunner:
    return StageRunner(
        bus=bus,
        topics=["in"],
        group="g",
        stage="batch-test",
        handler=handlers.one,
        batch_handler=handlers.many,
        dlq_topic="dlq",
        batch_size=batch_size,
        backoff_base=0.001,
    )


async def test_an_idle_stage_gets_a_batch_of_one_at_once_and_a_backlog_comes_in_bounded_batches() -> None:
    bus, handlers = MemoryBus(), _RecordingHandlers()
    runner = await _run_runner(bus, handlers, batch_size=10)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.sleep(0.1)  # idle: the runner waits on the bus
        sent = time.monotonic()
        await bus.publish("in", key="first", value=b"1")

        def handled(n: int) -> Callable[[], bool]:
            return lambda: sum(len(b) for b in handlers.batches) >= n

        await until(handled(1))
        assert handlers.batches == [["first"]]
        assert (
            handlers.at[0] - sent < 0.2
        )  # delivered as soon as it came, not after the fetch timeout (0.5 s)

        handlers.slow = (
            0.2  # while one batch is handled, 24 more arrive: they come as full batches, then the rest
        )
        await bus.publish("in", key="second", value=b"2")
        await asyncio.sleep(0.05)
        await bus.publish_many("in", [(f"k{n}", b"x") for n in range(24)])
        await until(handled(26))
        assert [len(b) for b in handlers.batches] == [1, 1, 10, 10, 4]
        await until(lambda: bus.lag("in", group="g") == 0)
    finally:
        runner.stop()
        await asyncio.wait_for(task, WAIT)


async def test_a_poison_record_makes_its_batch_go_record_by_record_and_is_dead_lettered_alone() -> None:
    bus, handlers = MemoryBus(), _RecordingHandlers()
    await bus.publish_many("in", [("a", b"1"), ("bad", b"poison"), ("c", b"3")])
    runner = await _run_runner(bus, handlers, batch_size=10)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: bus.lag("in", group="g") == 0)
    finally:
        runner.stop()
        await asyncio.wait_for(task, WAIT)
    assert handlers.batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    assert [r.key for r in bus.records("dlq")] == ["bad"]
    assert (runner.stats.processed, runner.stats.dead_lettered) == (2, 1)


@pytest.mark.parametrize(
    ("outages", "expected", "retries"),
    [
        pytest.param(2, [["a", "b", "c"]] * 3, 2, id="short-outage-the-batch-is-tried-again-whole"),
        # the first try and three more, then one record at a time
        pytest.param(4, [["a", "b", "c"]] * 4 + [["a"], ["b"], ["c"]], 3, id="long-outage-record-by-record"),
    ],
)
async def test_an_outage_during_a_batch_retries_the_whole_batch_before_going_record_by_record(
    outages: int, expected: list[list[str]], retries: int
) -> None:
    bus, handlers = MemoryBus(), _RecordingHandlers()
    handlers.outages = outages
    await bus.publish_many("in", [("a", b"1"), ("b", b"2"), ("c", b"3")])
    runner = await _run_runner(bus, handlers, batch_size=10)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: bus.lag("in", group="g") == 0)
    finally:
        runner.stop()
        await asyncio.wait_for(task, WAIT)
    assert handlers.batches == expected
    assert (runner.stats.processed, runner.stats.retries, runner.stats.dead_lettered) == (3, retries, 0)


async def test_a_poison_indicator_in_a_batch_is_dead_lettered_and_the_others_raise_their_alerts(
    sqlite_sessions: SessionFactory,
) -> None:
    await seed(sqlite_sessions, NETWORKS)
    bus, topics = MemoryBus(), Topics()
    good = indicators(4)
    items = [(i.key, i.model_dump_json().encode()) for i in good]
    items.insert(2, ("ipv4:x", b'{"key": "ipv4:x"}'))
    await bus.publish_many(topics.indicators, items)
    worker = CorrelateWorker(bus, sqlite_sessions, topics, clock=Clock())
    async with running(worker):
        await until(lambda: bus.lag(topics.indicators, group="ewarn-correlate") == 0)
    assert [r.key for r in bus.records(topics.dlq)] == ["ipv4:x"]
    assert sorted(
        Alert.model_validate_json(r.value).indicator_key for r in bus.records(topics.alerts)
    ) == sorted(i.key for i in good)


class _OtherWriterFirst:
    """A session factory under which another writer commits just before this writer's first write transaction.

    Reads open no transaction of their own here; the first ``session.begin()`` is the write of revisions.
    """

    def __init__(self, inner: SessionFactory) -> None:
        self._inner = inner
        self.other: Callable[[], Awaitable[object]] | None = None

    def __call__(self) -> Any:
        return _BeginsAfter(self._inner(), self) if self.other is not None else self._inner()


class _BeginsAfter:
    """A real session whose first ``begin()`` lets the factory's ``other`` writer run to its end first."""

    def __init__(self, session: AsyncSession, factory: _OtherWriterFirst) -> None:
        self._session = session
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def __aenter__(self) -> _BeginsAfter:
        await self._session.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._session.__aexit__(*exc)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        other, self._factory.other = self._factory.other, None
        if other is not None:
            await other()
        async with self._session.begin() as transaction:
            yield transaction


async def test_a_writer_beaten_to_a_new_alert_by_another_process_neither_fails_nor_bumps_it(
    sessions: SessionFactory,
) -> None:
    """Between this writer's read and its write, another process (its own writer) stores the same alerts."""
    await seed(sessions, NETWORKS)
    bus = MemoryBus()
    indicator = indicators(1)[0]
    other = CorrelateWorker(bus, sessions, Topics(), clock=Clock())
    await other.load_assets()
    # session 1: read the stored revisions (none yet); the other process commits before session 2, the write
    interleaved = _OtherWriterFirst(sessions)
    loser = CorrelateWorker(bus, interleaved, Topics(), clock=Clock())  # type: ignore[arg-type]
    await loser.load_assets()
    interleaved.other = lambda: other.handle_indicator(indicator)
    assert await loser.handle_indicator(indicator) == []  # the winner published it already: nothing to add
    assert interleaved.other is None  # the other process did write in between
    revisions, marks = await stored(sessions)
    assert list(revisions.values()) == [1] and marks == 1
    assert len(bus.records(Topics().alerts)) == 1
