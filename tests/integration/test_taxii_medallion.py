"""TAXII 2.1 against a real medallion server on loopback: pagination, cursors, restart mid-collection."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from taxii2client.v21 import Collection

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.errors import TransientError
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.models import FeedIn
from ewarn.ingest.service import IngestService
from ewarn.models.indicator import Indicator
from ewarn.settings import IngestSettings, Settings
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="taxii")
USER, PASSWORD = "admin", "Password0"
COLLECTION = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"  # readable and writable in medallion's default data
OBJECTS = 23
PAGE = 5
ACCEPT = {"Accept": "application/taxii+json;version=2.1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _indicator(n: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=n + 1)}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
    }


def _data_file(shared: Path, base: str, target: Path) -> None:
    """medallion's default data, served at our port, with a collection of 23 indicators added three per second
    (so page breaks fall inside groups that share a date_added)."""
    data = json.loads((shared / "taxii-medallion/default_data.json").read_text())
    data["/discovery"]["default"] = f"{base}/trustgroup1/"
    data["/discovery"]["api_roots"] = [f"{base}/trustgroup1/"]
    for name in ("api1", "api2"):
        data.pop(name)
    collections = data["trustgroup1"]["collections"]
    # keep one readable collection only, so the test knows every object the feed can see
    data["trustgroup1"]["collections"] = [c for c in collections if c["id"] == COLLECTION]
    target_collection = data["trustgroup1"]["collections"][0]
    objects = [_indicator(n) for n in range(OBJECTS)]
    target_collection["objects"] = objects
    target_collection["manifest"] = [
        {
            "id": obj["id"],
            "date_added": f"2024-01-01T00:00:{n // 3:02d}.000000Z",
            "version": obj["modified"],
            "media_type": "application/stix+json;version=2.1",
        }
        for n, obj in enumerate(objects)
    ]
    target.write_text(json.dumps(data))


@pytest.fixture
def medallion(shared_data: Path, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    _data_file(shared_data, base, tmp_path / "data.json")
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(tmp_path / "data.json"),
        },
        "users": {USER: PASSWORD},
        "taxii": {"max_page_size": PAGE},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    log = (tmp_path / "medallion.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medallion.scripts.run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(tmp_path / "config.json"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                probe = httpx.get(f"{base}/taxii2/", auth=(USER, PASSWORD), headers=ACCEPT, timeout=1)
                if probe.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(
                    f"medallion did not start: {(tmp_path / 'medallion.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield f"{base}/taxii2/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class CrashingBus(MemoryBus):
    """The in-process bus, except the process "dies" on the n-th publish (nothing of that page is acked)."""

    def __init__(self, crash_on_call: int) -> None:
        super().__init__()
        self._calls = 0
        self._crash_on = crash_on_call

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        self._calls += 1
        if self._calls == self._crash_on:
            raise TransientError("broker connection lost")
        await super().publish_many(topic, items, headers)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _service(sessions: SessionFactory, bus: MemoryBus, http: httpx.AsyncClient) -> IngestService:
    settings = Settings(ingest=IngestSettings(allowed_networks=["127.0.0.1/32"]))  # medallion on loopback
    return IngestService(sessions=sessions, bus=bus, topics=TOPICS, settings=settings, http=http)


async def _add_feed(sessions: SessionFactory, location: str, **credentials: str) -> None:
    async with sessions() as session, session.begin():
        await repository.create_feed(
            session=session,
            feed=FeedIn(
                id="taxii",
                kind="taxii",
                location=location,
                credentials=credentials or {"username": USER, "password": PASSWORD},
                config={"page_size": PAGE, "collections": [COLLECTION]},
            ),
        )


def _stix_ids(bus: MemoryBus) -> list[str]:
    return [Indicator.model_validate_json(r.value).stix_id or "" for r in bus.records(TOPICS.indicators)]


async def test_poll_paginates_and_repoll_takes_nothing(
    medallion: str, sqlite_sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    await _add_feed(sqlite_sessions, medallion)
    bus = MemoryBus()
    service = _service(sqlite_sessions, bus, http)
    first = await service.poll_feed("taxii")
    assert (first.accepted, first.rejected, first.error) == (OBJECTS, 0, None)
    assert first.pages == -(-OBJECTS // PAGE)  # every page of the collection, one stored page each
    assert sorted(_stix_ids(bus)) == sorted(_indicator(n)["id"] for n in range(OBJECTS))
    again = await service.poll_feed("taxii")
    assert (again.accepted, again.published) == (0, 0)
    async with sqlite_sessions() as session:
        health = await repository.feed_health(session=session, feed_id="taxii")
    assert health is not None and health.accepted_total == OBJECTS and health.last_error is None


async def test_restart_mid_collection_loses_and_repeats_nothing(
    medallion: str, sqlite_sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    await _add_feed(sqlite_sessions, medallion)
    crashing = CrashingBus(crash_on_call=3)  # pages 1 and 2 are stored and published, page 3 is not
    first = await _service(sqlite_sessions, crashing, http).poll_feed("taxii")
    assert first.error is not None and first.accepted == 2 * PAGE
    async with sqlite_sessions() as session:
        feed = await repository.get_feed(session=session, feed_id="taxii")
    assert feed is not None and feed.cursor["collections"][COLLECTION]["added_after"]

    fresh = MemoryBus()  # a new process: new service and bus over the same database
    second = await _service(sqlite_sessions, fresh, http).poll_feed("taxii")
    assert second.error is None

    delivered = Counter(_stix_ids(crashing) + _stix_ids(fresh))
    expected = {_indicator(n)["id"] for n in range(OBJECTS)}
    assert set(delivered) == expected  # nothing lost
    assert max(delivered.values()) == 1  # nothing repeated
    assert first.accepted + second.accepted == OBJECTS  # not even re-read
    async with sqlite_sessions() as session:
        assert await repository.count_indicators(session=session) == OBJECTS


async def test_objects_added_later_are_picked_up_from_the_cursor(
    medallion: str, sqlite_sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    await _add_feed(sqlite_sessions, medallion)
    bus = MemoryBus()
    service = _service(sqlite_sessions, bus, http)
    await service.poll_feed("taxii")
    api_root = medallion.replace("/taxii2/", "/trustgroup1/")
    collection = Collection(f"{api_root}collections/{COLLECTION}/", user=USER, password=PASSWORD)
    late = [_indicator(100 + n) for n in range(3)]
    collection.add_objects({"objects": late}, wait_for_completion=False)
    report = await service.poll_feed("taxii")
    assert report.accepted == len(late)
    assert _stix_ids(bus)[-len(late) :] == [obj["id"] for obj in late]


async def test_wrong_password_is_a_recorded_feed_error(
    medallion: str, sqlite_sessions: SessionFactory, http: httpx.AsyncClient
) -> None:
    await _add_feed(sqlite_sessions, medallion, username=USER, password="wrong")
    report = await _service(sqlite_sessions, MemoryBus(), http).poll_feed("taxii")
    assert report.error is not None and "401" in report.error
    async with sqlite_sessions() as session:
        health = await repository.feed_health(session=session, feed_id="taxii")
        rejections = await rejection_store.list_rejections(session=session, feed_id="taxii")
    assert health is not None and health.last_error is not None and "401" in health.last_error
    assert len(rejections) == 1 and "401" in rejections[0].reason
    assert PASSWORD not in rejections[0].reason and "wrong" not in rejections[0].reason
