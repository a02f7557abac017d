"""IngestService behaviour: all-or-nothing pages, the scheduler, and one-shot ingest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.data import demo_bundle_bytes
from ewarn.errors import ConfigurationError, TransientError
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.models import FeedIn
from ewarn.ingest.service import IngestService
from ewarn.settings import IngestSettings, Settings
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="svc")


class DownBus(MemoryBus):
    """A bus whose broker is unreachable: nothing is ever acknowledged."""

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        raise TransientError("no broker")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def service(
    sessions: SessionFactory, bus: MemoryBus, http: httpx.AsyncClient, **ingest: float | str
) -> IngestService:
    settings = Settings(ingest=IngestSettings.model_validate(ingest))
    return IngestService(sessions=sessions, bus=bus, topics=TOPICS, settings=settings, http=http)


async def test_unacknowledged_publish_writes_nothing(
    sqlite_sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    with pytest.raises(TransientError):
        await service(sqlite_sessions, DownBus(), http).ingest_bytes(
            payload=demo_bundle_bytes(), kind="stix_bundle"
        )
    async with sqlite_sessions() as session:
        assert await repository.count_indicators(session=session) == 0
        assert await rejection_store.count_rejections(session=session) == 0


async def test_failed_publish_keeps_the_cursor_and_health(
    sqlite_sessions: SessionFactory, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(demo_bundle_bytes())
    async with sqlite_sessions() as session, session.begin():
        await repository.create_feed(
            session=session, feed=FeedIn(id="demo", kind="stix_bundle", location=str(path))
        )
    report = await service(sqlite_sessions, DownBus(), http, file_root=str(tmp_path)).poll_feed("demo")
    assert report.error is not None and "no broker" in report.error and report.accepted == 0
    async with sqlite_sessions() as session:
        feed = await repository.get_feed(session=session, feed_id="demo")
        health = await repository.feed_health(session=session, feed_id="demo")
        assert await repository.count_indicators(session=session) == 0
    assert feed is not None and feed.cursor == {}
    assert health is not None and health.accepted_total == 0 and health.last_success_at is None
    # the broker is back: the same window is read again, in full
    bus = MemoryBus()
    retried = await service(sqlite_sessions, bus, http, file_root=str(tmp_path)).poll_feed("demo")
    assert retried.error is None and retried.accepted > 0
    assert bus.size(TOPICS.indicators) == retried.published > 0
    async with sqlite_sessions() as session:
        feed = await repository.get_feed(session=session, feed_id="demo")
    assert feed is not None and "sha256" in feed.cursor


async def test_unknown_kind_and_missing_file(
    sqlite_sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    svc = service(sqlite_sessions, MemoryBus(), http)
    with pytest.raises(ConfigurationError):
        await svc.ingest_bytes(payload=b"{}", kind="rss")
    with pytest.raises(ConfigurationError):
        await svc.ingest_location("/nonexistent/bundle.json")
    with pytest.raises(ConfigurationError):
        await svc.poll_feed("no-such-feed")


async def test_scheduler_polls_each_feed_on_its_interval(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    locations = []
    for n in range(3):
        bundle = json.loads(demo_bundle_bytes())
        path = tmp_path / f"bundle-{n}.json"
        path.write_text(json.dumps(bundle))
        locations.append(path)
    async with sqlite_sessions() as session, session.begin():
        for n, path in enumerate(locations):
            feed = FeedIn(
                id=f"f{n}", kind="stix_bundle", location=str(path), interval_seconds=10, enabled=n != 2
            )
            await repository.create_feed(session=session, feed=feed)
    svc = service(
        sqlite_sessions,
        memory_bus,
        http,
        max_concurrent_feeds=1,
        poll_jitter_fraction=0.0,
        file_root=str(tmp_path),
    )
    task = asyncio.create_task(svc.run_scheduler())
    try:
        for _ in range(100):
            async with sqlite_sessions() as session:
                polled = [await repository.feed_health(session=session, feed_id=f"f{n}") for n in range(3)]
            if all(h is not None and h.last_success_at for h in polled[:2]):
                break
            await asyncio.sleep(0.05)
    finally:
        svc.stop()
        await asyncio.wait_for(task, timeout=5)
    assert all(h is not None and h.last_success_at is not None for h in polled[:2])
    assert polled[2] is not None and polled[2].last_polled_at is None  # disabled: never polled
    assert polled[0] is not None and polled[0].accepted_total > 0
