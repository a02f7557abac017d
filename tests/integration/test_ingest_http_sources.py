"""Feeds over HTTP from a real server on loopback: conditional requests, retries, bad servers, increments."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.models import FeedIn
from ewarn.ingest.records import FeedContext
from ewarn.ingest.service import IngestService
from ewarn.models.indicator import Indicator
from ewarn.settings import IngestSettings, Settings
from ewarn.status.report import build_status
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="http")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[dict[str, str]], Reply]


class Loopback:
    """A real HTTP server on 127.0.0.1 whose routes the test sets; it records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.requests.append((self.path, headers))
                route = owner.routes.get(self.path.split("?", 1)[0])
                reply = route(headers) if route else Reply(404, b"not found")
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def static(self, path: str, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.routes[path] = lambda _h: Reply(200, body, {"Content-Type": content_type, **headers})

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p.split("?", 1)[0] == path)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def make_service(
    sessions: SessionFactory, bus: MemoryBus, http: httpx.AsyncClient, **ingest: Any
) -> IngestService:
    ingest.setdefault("allowed_networks", ["127.0.0.1/32"])  # the loopback server; nothing else
    settings = Settings(ingest=IngestSettings(request_timeout_seconds=5, **ingest))
    return IngestService(sessions=sessions, bus=bus, topics=TOPICS, settings=settings, http=http)


async def add_feed(sessions: SessionFactory, feed_id: str, kind: str, location: str, **extra: Any) -> None:
    async with sessions() as session, session.begin():
        await repository.create_feed(
            session=session, feed=FeedIn(id=feed_id, kind=kind, location=location, **extra)
        )


async def health(sessions: SessionFactory, feed_id: str) -> Any:
    async with sessions() as session:
        return await repository.feed_health(session=session, feed_id=feed_id)


async def stored_rejections(sessions: SessionFactory, feed_id: str) -> list[Any]:
    async with sessions() as session:
        return await rejection_store.list_rejections(session=session, feed_id=feed_id)


BUNDLE = json.dumps(
    {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--00000000-0000-4000-8000-000000000001",
                "created": "2026-01-01T00:00:00Z",
                "modified": "2026-01-01T00:00:00Z",
                "pattern": "[ipv4-addr:value = '203.0.113.7']",
                "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00Z",
            }
        ],
    }
).encode()


# --- bad servers ------------------------------------------------------------------------------------------


async def test_html_instead_of_json_is_a_feed_error(
    loopback: Loopback, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    loopback.static(
        "/feed.json", b"<!DOCTYPE html><html><body>Login</body></html>", "text/html; charset=utf-8"
    )
    await add_feed(sqlite_sessions, "html", "stix_bundle", f"{loopback.base}/feed.json")
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("html")
    assert report.error is not None and "HTML" in report.error
    state = await health(sqlite_sessions, "html")
    assert "HTML" in state.last_error and state.last_success_at is None
    (rejection,) = await stored_rejections(sqlite_sessions, "html")
    assert rejection.record == f"{loopback.base}/feed.json" and "HTML" in rejection.reason
    assert memory_bus.size(TOPICS.indicators) == 0


async def test_500_is_retried_then_recorded(
    loopback: Loopback, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    loopback.routes["/feed.json"] = lambda _h: Reply(500, b"oops")
    await add_feed(sqlite_sessions, "broken", "stix_bundle", f"{loopback.base}/feed.json")
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("broken")
    assert report.error == "HTTP 500 (after 4 attempts)"
    assert loopback.hits("/feed.json") == 4
    assert "HTTP 500" in (await health(sqlite_sessions, "broken")).last_error


async def test_429_retry_after_is_honoured(
    loopback: Loopback, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    calls = {"n": 0}

    def limited(_h: dict[str, str]) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(429, b"slow down", {"Retry-After": "1"})
        return Reply(200, BUNDLE, {"Content-Type": "application/json"})

    loopback.routes["/feed.json"] = limited
    await add_feed(sqlite_sessions, "limited", "stix_bundle", f"{loopback.base}/feed.json")
    started = time.monotonic()
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("limited")
    assert time.monotonic() - started >= 1.0
    assert (report.accepted, report.error, calls["n"]) == (1, None, 2)


async def test_etag_makes_the_second_poll_conditional(
    loopback: Loopback, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    def conditional(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == '"v1"':
            return Reply(304)
        return Reply(200, BUNDLE, {"Content-Type": "application/json", "ETag": '"v1"'})

    loopback.routes["/feed.json"] = conditional
    await add_feed(sqlite_sessions, "etag", "stix_bundle", f"{loopback.base}/feed.json")
    service = make_service(sqlite_sessions, memory_bus, http)
    assert (await service.poll_feed("etag")).accepted == 1
    second = await service.poll_feed("etag")
    assert (second.accepted, second.error) == (0, None)
    assert loopback.requests[-1][1].get("if-none-match") == '"v1"'
    assert memory_bus.size(TOPICS.indicators) == 1


async def test_payload_over_the_cap_is_refused(
    loopback: Loopback, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    loopback.static("/big.json", BUNDLE + b" " * 5000)
    await add_feed(sqlite_sessions, "big", "stix_bundle", f"{loopback.base}/big.json")
    report = await make_service(sqlite_sessions, memory_bus, http, max_payload_bytes=2000).poll_feed("big")
    assert report.error is not None and "cap of 2000" in report.error
    assert memory_bus.size(TOPICS.indicators) == 0


async def test_malformed_payload_records_rejections_and_keeps_valid_records(
    loopback: Loopback, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    lines = "\n".join(
        ["203.0.113.7", "not an indicator at all!", "x" * 70_000, "198.51.100.9", "bad..domain"]
    )
    loopback.static("/list.txt", b"\xef\xbb\xbf" + lines.encode(), "text/plain")
    await add_feed(sqlite_sessions, "list", "ioc_list", f"{loopback.base}/list.txt")
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("list")
    assert report.accepted == 2 and report.rejected == 3
    records = sorted(r.record for r in await stored_rejections(sqlite_sessions, "list"))
    assert records == ["line 2 0", "line 3", "line 5 0"]
    assert {r.key for r in memory_bus.records(TOPICS.indicators)} == {"ipv4:203.0.113.7", "ipv4:198.51.100.9"}


# --- KEV --------------------------------------------------------------------------------------------------


async def test_kev_repoll_with_nothing_new_yields_nothing(
    shared_data: Path,
    loopback: Loopback,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    catalogue = json.loads((shared_data / "kev/known_exploited_vulnerabilities_2025-08-05.json").read_bytes())
    loopback.static("/kev.json", json.dumps(catalogue).encode())
    await add_feed(sqlite_sessions, "kev", "kev", f"{loopback.base}/kev.json")
    service = make_service(sqlite_sessions, memory_bus, http)
    assert (await service.poll_feed("kev")).accepted == catalogue["count"]
    published = memory_bus.size(TOPICS.indicators)
    again = await service.poll_feed("kev")
    assert (again.accepted, again.published, memory_bus.size(TOPICS.indicators)) == (0, 0, published)
    added = {**catalogue["vulnerabilities"][0], "cveID": "CVE-2099-0001", "dateAdded": "2099-01-01"}
    catalogue["vulnerabilities"].insert(0, added)
    loopback.static("/kev.json", json.dumps(catalogue).encode())
    third = await service.poll_feed("kev")
    assert (
        third.accepted == 1 and memory_bus.records(TOPICS.indicators)[-1].key == "vulnerability:CVE-2099-0001"
    )


# --- MISP feed ----------------------------------------------------------------------------------------------


async def test_misp_feed_incremental_via_manifest_and_hashes(
    shared_data: Path,
    loopback: Loopback,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    folder = shared_data / "misp/redblue232-crowdsec-misp-feed"
    manifest = json.loads((folder / "manifest.json").read_bytes())
    expected = 0
    for uuid in manifest:
        event_bytes = (folder / f"{uuid}.json").read_bytes()
        loopback.static(f"/misp/{uuid}.json", event_bytes)
        expected += sum(1 for a in json.loads(event_bytes)["Event"]["Attribute"] if a["to_ids"])
    loopback.static("/misp/manifest.json", (folder / "manifest.json").read_bytes())
    hashes = (folder / "hashes.csv").read_bytes()
    loopback.static("/misp/hashes.csv", hashes, "text/csv")
    await add_feed(sqlite_sessions, "misp", "misp", f"{loopback.base}/misp/")
    service = make_service(sqlite_sessions, memory_bus, http)
    first = await service.poll_feed("misp")
    assert (first.accepted, first.rejected) == (expected, 0)
    assert sum(loopback.hits(f"/misp/{uuid}.json") for uuid in manifest) == len(manifest)

    again = await service.poll_feed("misp")
    assert again.accepted == 0
    assert sum(loopback.hits(f"/misp/{uuid}.json") for uuid in manifest) == len(manifest)

    changed = next(iter(manifest))
    loopback.static(
        "/misp/hashes.csv", hashes + f"{changed},00000000000000000000000000000000\n".encode(), "text/csv"
    )
    third = await service.poll_feed("misp")
    assert loopback.hits(f"/misp/{changed}.json") == 2
    assert sum(loopback.hits(f"/misp/{uuid}.json") for uuid in manifest) == len(manifest) + 1
    assert third.published == 0  # the same attributes again: merged, nothing new for the correlator


# --- CSAF provider ------------------------------------------------------------------------------------------


def _indicators_in(content: bytes) -> int:
    """What the CSAF reader makes of one document (the reader's shape is its own tests' business)."""
    return len(parse_csaf(content, FeedContext(feed_id="csaf", feed_kind="csaf")).indicators)


def _serve_cisa_provider(shared: Path, loopback: Loopback, *, tampered: str) -> tuple[int, str]:
    """provider-metadata.json → directory with changes.csv, the 8 CISA documents and their .sha512 sidecars;
    one document is served altered. Returns (indicators of the untampered documents, the tampered URL)."""
    folder = shared / "csaf/cisa-icsma"
    rows, cves = [], 0
    for index, doc in enumerate(sorted(folder.glob("*.json"))):
        content = doc.read_bytes()
        if doc.name == tampered:
            content = content.replace(b"Successful exploitation", b"Harmless exploitation", 1)
        else:
            cves += _indicators_in(content)
        loopback.static(f"/csaf/white/{doc.name}", content)
        loopback.static(
            f"/csaf/white/{doc.name}.sha512", (folder / f"{doc.name}.sha512").read_bytes(), "text/plain"
        )
        rows.append(f'"{doc.name}","2024-10-{index + 1:02d}T00:00:00Z"')
    loopback.static("/csaf/white/changes.csv", "\n".join(rows).encode(), "text/csv")
    metadata = {
        "canonical_url": f"{loopback.base}/.well-known/csaf/provider-metadata.json",
        "distributions": [{"directory_url": f"{loopback.base}/csaf/white/"}],
        "metadata_version": "2.0",
        "role": "csaf_trusted_provider",
    }
    loopback.static("/.well-known/csaf/provider-metadata.json", json.dumps(metadata).encode())
    return cves, f"{loopback.base}/csaf/white/{tampered}"


async def test_csaf_trusted_provider_directory_with_sidecars(
    shared_data: Path,
    loopback: Loopback,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    cves, tampered_url = _serve_cisa_provider(shared_data, loopback, tampered="icsma-19-080-01.json")
    await add_feed(
        sqlite_sessions, "cisa", "csaf", f"{loopback.base}/.well-known/csaf/provider-metadata.json"
    )
    service = make_service(sqlite_sessions, memory_bus, http)
    first = await service.poll_feed("cisa")
    assert first.accepted == cves
    (rejection,) = first.rejections
    assert rejection.record == tampered_url and "sha512 of the document does not match" in rejection.reason
    original = (shared_data / "csaf/cisa-icsma/icsma-19-080-01.json").read_bytes()
    untrusted = {i.key for i in parse_csaf(original, FeedContext(feed_id="x", feed_kind="csaf")).indicators}
    assert untrusted and not untrusted & {r.key for r in memory_bus.records(TOPICS.indicators)}

    second = await service.poll_feed("cisa")
    assert second.accepted == 0 and second.rejected == 1  # only the untrusted document is tried again
    assert len(await stored_rejections(sqlite_sessions, "cisa")) == 1  # and its rejection is not duplicated


async def test_csaf_rolie_feed(
    shared_data: Path,
    loopback: Loopback,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    doc = shared_data / "csaf/cisa-icsma/icsma-22-174-01.json"
    content = doc.read_bytes()
    loopback.static(f"/rolie/{doc.name}", content)
    loopback.static(
        f"/rolie/{doc.name}.sha256", f"{hashlib.sha256(content).hexdigest()}  {doc.name}".encode()
    )
    feed = {
        "feed": {
            "id": "cisa-white",
            "entry": [
                {
                    "id": "ICSMA-22-174-01",
                    "updated": "2022-06-23T00:00:00Z",
                    "content": {"type": "application/json", "src": f"{loopback.base}/rolie/{doc.name}"},
                    "link": [
                        {"rel": "self", "href": f"{loopback.base}/rolie/{doc.name}"},
                        {"rel": "hash", "href": f"{loopback.base}/rolie/{doc.name}.sha256"},
                    ],
                }
            ],
        }
    }
    loopback.static("/rolie/feed.json", json.dumps(feed).encode())
    metadata = {"distributions": [{"rolie": {"feeds": [{"url": f"{loopback.base}/rolie/feed.json"}]}}]}
    loopback.static("/provider-metadata.json", json.dumps(metadata).encode())
    await add_feed(sqlite_sessions, "rolie", "csaf", f"{loopback.base}/provider-metadata.json")
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("rolie")
    assert (report.accepted, report.rejected) == (_indicators_in(content), 0)
    assert report.accepted > 0
    assert loopback.hits(f"/rolie/{doc.name}.sha256") == 1


# --- TAXII 2.0 and bearer tokens against a minimal TAXII server ---------------------------------------------

TAXII20 = "application/vnd.oasis.taxii+json; version=2.0"
STIX20 = "application/vnd.oasis.stix+json; version=2.0"
TAXII21 = "application/taxii+json;version=2.1"


def _serve_taxii(loopback: Loopback, version: str, token: str) -> None:
    media = TAXII20 if version == "2.0" else TAXII21
    objects_media = STIX20 if version == "2.0" else TAXII21
    base = loopback.base

    def guarded(body: Any, content_type: str, **headers: str) -> Route:
        def reply(request_headers: dict[str, str]) -> Reply:
            if request_headers.get("authorization") != f"Bearer {token}":
                return Reply(401, b"{}", {"Content-Type": media})
            return Reply(200, json.dumps(body).encode(), {"Content-Type": content_type, **headers})

        return reply

    loopback.routes["/taxii2/"] = guarded({"title": "t", "api_roots": [f"{base}/root/"]}, media)
    loopback.routes["/root/"] = guarded(
        {"title": "root", "versions": [media], "max_content_length": 10**6}, media
    )
    collection = {"id": "c1", "title": "Hospital IOCs", "can_read": True, "can_write": False}
    loopback.routes["/root/collections/"] = guarded({"collections": [collection]}, media)
    loopback.routes["/root/collections/c1/"] = guarded(collection, media)
    indicator = {
        "type": "indicator",
        "id": "indicator--00000000-0000-4000-8000-000000000020",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[domain-name:value = 'lockmed-payments.example']",
        "valid_from": "2026-01-01T00:00:00Z",
    }
    last = {"X-TAXII-Date-Added-Last": "2026-01-01T00:00:00.000000Z"}
    if version == "2.0":
        indicator["labels"] = ["malicious-activity"]
        envelope: dict[str, Any] = {
            "type": "bundle",
            "id": "bundle--2",
            "spec_version": "2.0",
            "objects": [indicator],
        }
        loopback.routes["/root/collections/c1/objects/"] = guarded(
            envelope, objects_media, **{"Content-Range": "items 0-0/1"}, **last
        )
    else:
        indicator |= {"spec_version": "2.1", "pattern_type": "stix"}
        loopback.routes["/root/collections/c1/objects/"] = guarded(
            {"more": False, "objects": [indicator]}, objects_media, **last
        )


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_taxii_with_bearer_token(
    version: str,
    loopback: Loopback,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    _serve_taxii(loopback, version, token="s3cret-token")
    await add_feed(
        sqlite_sessions,
        "tx",
        "taxii",
        f"{loopback.base}/taxii2/",
        credentials={"token": "s3cret-token"},
        config={"version": version},
    )
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("tx")
    assert (report.accepted, report.error) == (1, None)
    got = Indicator.model_validate_json(memory_bus.records(TOPICS.indicators)[0].value)
    assert got.key == "domain:lockmed-payments.example"
    objects_requests = [h for p, h in loopback.requests if p.startswith("/root/collections/c1/objects/")]
    assert objects_requests and all(h["authorization"] == "Bearer s3cret-token" for h in objects_requests)


# --- ingest honesty: what a feed skips shows in its report and health ------------------------------------


async def test_feed_health_counts_skipped_records_by_reason(
    shared_data: Path,
    loopback: Loopback,
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    zebrocy = (shared_data / "misp/eset-malware-ioc-events/sednit_2018-11-20_Zebrocy.json").read_bytes()
    attributes = json.loads(zebrocy)["response"][0]["Event"]["Attribute"]
    loopback.static("/zebrocy.json", zebrocy, ETag='"z1"')
    await add_feed(sqlite_sessions, "zebrocy", "misp", f"{loopback.base}/zebrocy.json")
    report = await make_service(sqlite_sessions, memory_bus, http).poll_feed("zebrocy")
    expected = {"context attribute (to_ids false)": len(attributes)}
    assert (report.read, report.accepted, report.rejected, report.skipped) == (0, 0, 0, len(attributes))
    assert report.counts == expected
    state = await health(sqlite_sessions, "zebrocy")
    assert (state.skipped_total, state.counts) == (len(attributes), expected)
    async with sqlite_sessions() as session:
        (feed,) = (await build_status(session=session)).feeds
    assert (feed.skipped_total, feed.counts) == (len(attributes), expected)
    # the same event again (a new ETag): the totals grow, they are not replaced
    loopback.static("/zebrocy.json", zebrocy, ETag='"z2"')
    await make_service(sqlite_sessions, memory_bus, http).poll_feed("zebrocy")
    state = await health(sqlite_sessions, "zebrocy")
    assert state.counts == {"context attribute (to_ids false)": 2 * len(attributes)}
