"""The feed fetcher under the SSRF guard: every hop checked and pinned, credentials kept in their origin,
local files only under the file root, TLS always verified.

Every server here listens on loopback (127.0.0.1, and 127.0.0.2 to prove a refused hop never reaches it).
Names resolve through a fixed table; addresses outside loopback are only ever refused, never connected to.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ewarn.bus.memory import MemoryBus
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.fetch import Fetcher, FetchError
from ewarn.ingest.models import FeedIn
from ewarn.ingest.service import IngestService, build_fetcher
from ewarn.netguard import SsrfGuard, StaticResolver
from ewarn.settings import IngestSettings, Settings
from ewarn.store.db import SessionFactory

BUNDLE = (
    b'{"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "spec_version": "2.1",'
    b' "id": "indicator--00000000-0000-4000-8000-000000000001", "created": "2026-01-01T00:00:00Z",'
    b' "modified": "2026-01-01T00:00:00Z", "pattern": "[ipv4-addr:value = \'203.0.113.7\']",'
    b' "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}]}'
)
SECRET_BODY = b"root:x:0:0:secret-internal-service"


@dataclass
class Server:
    """A real HTTP(S) server on a loopback address; routes answer (status, body, headers)."""

    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    routes: dict[str, Callable[[], tuple[int, bytes, dict[str, str]]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = owner.routes.get(self.path)
                status, body, headers = route() if route else (404, b"not found", {})
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        scheme = "https" if self.tls else "http"
        self.base = f"{scheme}://{self.host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def ok(self, path: str, body: bytes = BUNDLE) -> None:
        self.routes[path] = lambda: (200, body, {})

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = lambda: (status, b"", {"Location": location})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Server:
        try:
            server = Server(host=host, tls=tls)
        except OSError as exc:  # pragma: no cover - every Linux answers on all of 127/8
            pytest.fail(f"cannot listen on {host}: {exc}")
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def fetcher(
    http: httpx.AsyncClient,
    *,
    allowed: tuple[str, ...] = ("127.0.0.1/32",),
    names: dict[str, list[str]] | None = None,
    roots: tuple[Path, ...] = (),
) -> Fetcher:
    guard = SsrfGuard(resolver=StaticResolver(names or {}), allowed_networks=allowed)
    return Fetcher(http, guard=guard, file_roots=roots, attempts=1)


# --- every hop through the guard -----------------------------------------------------------------------


async def test_redirect_to_another_loopback_address_is_refused_and_never_reached(
    servers: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    inside = servers("127.0.0.2")
    inside.ok("/secret", SECRET_BODY)
    feed = servers()
    feed.redirect("/feed.json", f"{inside.base}/secret")
    with pytest.raises(FetchError) as caught:
        await fetcher(http).get(f"{feed.base}/feed.json")
    assert "refused" in caught.value.reason and "127.0.0.2" in caught.value.reason
    assert "loopback" in caught.value.reason
    assert inside.requests == []  # the guard decided before any connection was made
    assert SECRET_BODY.decode() not in str(caught.value)


@pytest.mark.parametrize(
    ("location", "why"),
    [
        pytest.param("http://10.1.2.3/x", "private", id="private-literal"),
        pytest.param("http://169.254.169.254/latest/meta-data/", "metadata", id="cloud-metadata"),
        pytest.param("http://internal.test/x", "private", id="name-resolving-private"),
        pytest.param("http://rebind.test/x", "private", id="one-private-answer-among-public"),
        pytest.param("http://[::1]/x", "loopback", id="ipv6-loopback"),
        pytest.param("http://[::ffff:127.0.0.3]/x", "loopback", id="ipv4-mapped-loopback"),
        pytest.param("http://2130706434/x", "loopback", id="decimal-loopback"),
        pytest.param("http://0x7f.0.0.2/x", "loopback", id="hex-loopback"),
        pytest.param("file:///etc/passwd", "scheme", id="file-scheme"),
        pytest.param("ftp://127.0.0.1/x", "scheme", id="ftp-scheme"),
    ],
)
async def test_redirect_targets_outside_the_allow_list_are_refused(
    servers: Callable[..., Server], http: httpx.AsyncClient, location: str, why: str
) -> None:
    feed = servers()
    feed.redirect("/feed.json", location, status=307)
    names = {
        "internal.test": ["10.0.0.5"],
        "rebind.test": ["198.51.100.7", "192.168.1.1"],
        "2130706434": ["127.0.0.2"],  # what getaddrinfo makes of these forms
        "0x7f.0.0.2": ["127.0.0.2"],
    }
    with pytest.raises(FetchError) as caught:
        await fetcher(http, names=names).get(f"{feed.base}/feed.json")
    assert "refused" in caught.value.reason and why in caught.value.reason
    assert [path for path, _ in feed.requests] == ["/feed.json"]


async def test_the_first_hop_is_checked_too(http: httpx.AsyncClient) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher(http, allowed=()).get("http://127.0.0.1:9/feed.json")
    assert "loopback and not in the allow-list" in caught.value.reason


async def test_a_name_is_resolved_once_and_the_checked_address_is_used(
    servers: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    feed = servers()
    feed.ok("/feed.json")
    resolver = StaticResolver({"feed.test": ["127.0.0.1"]})
    pinned = Fetcher(http, guard=SsrfGuard(resolver=resolver, allowed_networks=["127.0.0.1/32"]), attempts=1)
    fetched = await pinned.get(f"http://feed.test:{feed.port}/feed.json")
    assert fetched.content == BUNDLE
    assert resolver.lookups == ["feed.test"]  # no second lookup by the HTTP client
    assert feed.requests[0][1]["host"] == f"feed.test:{feed.port}"


async def test_too_many_redirects(servers: Callable[..., Server], http: httpx.AsyncClient) -> None:
    feed = servers()
    feed.redirect("/loop", "/loop")
    with pytest.raises(FetchError) as caught:
        await fetcher(http).get(f"{feed.base}/loop")
    assert "more than 5 redirects" in caught.value.reason
    assert len(feed.requests) == 6


# --- credentials stay in their origin ------------------------------------------------------------------


CREDENTIALS = {"token": "feed-token", "headers": {"X-API-Key": "feed-key"}}


async def test_credentials_follow_a_redirect_within_the_origin(
    servers: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    feed = servers()
    feed.redirect("/old.json", "/new.json", status=301)
    feed.ok("/new.json")
    await fetcher(http).get(f"{feed.base}/old.json", credentials=CREDENTIALS)
    (_, first), (_, second) = feed.requests
    for headers in (first, second):
        assert headers["authorization"] == "Bearer feed-token" and headers["x-api-key"] == "feed-key"


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(CREDENTIALS, id="bearer-and-api-key"),
        pytest.param({"username": "u", "password": "p"}, id="basic-auth"),
        pytest.param({"authorization": "MISP-KEY"}, id="raw-authorization"),
    ],
)
async def test_credentials_are_dropped_when_a_redirect_leaves_the_origin(
    servers: Callable[..., Server], http: httpx.AsyncClient, credentials: dict[str, Any]
) -> None:
    feed, other = servers(), servers()
    feed.redirect("/feed.json", f"{other.base}/mirror.json")
    other.redirect("/mirror.json", f"{feed.base}/back.json")  # and back: still none, the chain left once
    feed.ok("/back.json")
    fetched = await fetcher(http).get(f"{feed.base}/feed.json", credentials=credentials)
    assert fetched.content == BUNDLE
    assert "authorization" in feed.requests[0][1]
    for _path, headers in [*other.requests, feed.requests[1]]:
        assert "authorization" not in headers and "x-api-key" not in headers


async def test_no_cookie_is_sent_to_a_feed(servers: Callable[..., Server], http: httpx.AsyncClient) -> None:
    feed = servers()
    feed.routes["/feed.json"] = lambda: (200, BUNDLE, {"Set-Cookie": "session=from-feed; Path=/"})
    http.cookies.set("session", "another-components-cookie", domain="127.0.0.1")
    first = fetcher(http)
    await first.get(f"{feed.base}/feed.json")
    await first.get(f"{feed.base}/feed.json")
    assert [headers.get("cookie") for _path, headers in feed.requests] == [None, None]
    assert feed.requests[0][1]["user-agent"] == "ewarn-ingest"


# --- local files -----------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "feeds"
    (root / "misp").mkdir(parents=True)
    (root / "misp" / "bundle.json").write_bytes(BUNDLE)
    (tmp_path / "secret.txt").write_bytes(SECRET_BODY)
    (root / "escape.json").symlink_to(tmp_path / "secret.txt")
    (root / "inner.json").symlink_to(root / "misp" / "bundle.json")
    return root


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        pytest.param("{root}/../secret.txt", "outside the configured file root", id="dot-dot"),
        pytest.param("{root}/escape.json", "outside the configured file root", id="symlink-out"),
        pytest.param("{tmp}/secret.txt", "outside the configured file root", id="absolute-outside"),
        pytest.param("file://{tmp}/secret.txt", "outside the configured file root", id="file-url-outside"),
        pytest.param("file://other-host/{tmp}/secret.txt", "another host", id="file-url-remote-host"),
        pytest.param("../secret.txt", "outside the configured file root", id="relative-dot-dot"),
    ],
)
async def test_local_files_outside_the_root_are_refused(
    tree: Path, http: httpx.AsyncClient, location: str, reason: str
) -> None:
    where = location.format(root=tree, tmp=tree.parent)
    with pytest.raises(FetchError) as caught:
        await fetcher(http, roots=(tree,)).get(where)
    assert reason in caught.value.reason
    assert SECRET_BODY.decode() not in str(caught.value)


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("{root}/misp/bundle.json", id="absolute"),
        pytest.param("file://{root}/misp/bundle.json", id="file-url"),
        pytest.param("misp/bundle.json", id="relative-to-root"),
        pytest.param("{root}/inner.json", id="symlink-within"),
    ],
)
async def test_local_files_under_the_root_are_read(
    tree: Path, http: httpx.AsyncClient, location: str
) -> None:
    fetched = await fetcher(http, roots=(tree,)).get(location.format(root=tree))
    assert fetched.content == BUNDLE


async def test_no_file_root_means_no_local_files(tree: Path, http: httpx.AsyncClient) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher(http).get(str(tree / "misp" / "bundle.json"))
    assert "not enabled" in caught.value.reason


async def test_a_remote_feed_never_reads_local_files(tree: Path, http: httpx.AsyncClient) -> None:
    remote = fetcher(http, roots=(tree,)).for_location("https://provider.example/feed.json")
    with pytest.raises(FetchError):
        await remote.get(str(tree / "misp" / "bundle.json"))


async def test_stored_feed_with_a_local_path_outside_the_root_is_refused(
    tree: Path, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    settings = Settings(ingest=IngestSettings(file_root=str(tree)))
    service = IngestService(
        sessions=sqlite_sessions, bus=memory_bus, topics=_topics(), settings=settings, http=http
    )
    async with sqlite_sessions() as session, session.begin():
        await repository.create_feed(
            session=session,
            feed=FeedIn(id="snoop", kind="ioc_list", location=str(tree.parent / "secret.txt")),
        )
        await repository.create_feed(
            session=session, feed=FeedIn(id="ok", kind="stix_bundle", location="misp/bundle.json")
        )
    snoop = await service.poll_feed("snoop")
    assert snoop.error is not None and "outside the configured file root" in snoop.error
    assert snoop.accepted == 0 and all(SECRET_BODY.decode() not in r.reason for r in snoop.rejections)
    async with sqlite_sessions() as session:
        rejections = await rejection_store.list_rejections(session=session, feed_id="snoop")
    assert all("secret-internal" not in (r.excerpt or "") + r.reason for r in rejections)
    assert (await service.poll_feed("ok")).accepted == 1


async def test_one_shot_ingest_reads_the_operators_own_path(
    tree: Path, sqlite_sessions: SessionFactory, memory_bus: MemoryBus, http: httpx.AsyncClient
) -> None:
    service = IngestService(
        sessions=sqlite_sessions, bus=memory_bus, topics=_topics(), settings=Settings(), http=http
    )
    report = await service.ingest_location(str(tree / "misp" / "bundle.json"))
    assert (report.accepted, report.error) == (1, None)


async def test_stored_feed_redirect_to_127_0_0_2_is_refused_and_its_body_never_shown(
    servers: Callable[..., Server],
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    inside = servers("127.0.0.2")
    inside.ok("/admin", SECRET_BODY)
    feed = servers()
    feed.redirect("/list.txt", f"{inside.base}/admin")
    settings = Settings(ingest=IngestSettings(allowed_networks=["127.0.0.1/32"]))
    service = IngestService(
        sessions=sqlite_sessions, bus=memory_bus, topics=_topics(), settings=settings, http=http
    )
    async with sqlite_sessions() as session, session.begin():
        await repository.create_feed(
            session=session, feed=FeedIn(id="redir", kind="ioc_list", location=f"{feed.base}/list.txt")
        )
    report = await service.poll_feed("redir")
    assert report.error is not None and "127.0.0.2 is loopback and not in the allow-list" in report.error
    assert inside.requests == []
    async with sqlite_sessions() as session:
        rejections = await rejection_store.list_rejections(session=session, feed_id="redir")
        health = await repository.feed_health(session=session, feed_id="redir")
    assert len(rejections) == 1 and all("secret-internal" not in (r.excerpt or "") for r in rejections)
    assert health is not None and "127.0.0.2" in (health.last_error or "")


# --- TLS ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``feed.test`` (made now; nothing is committed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feed.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("feed.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(
    ("trust", "host", "outcome"),
    [
        pytest.param(False, "feed.test", "certificate verify failed", id="untrusted-certificate"),
        pytest.param(True, "feed.test", None, id="ca-bundle-trusts-it"),
        pytest.param(True, "other.test", "certificate verify failed", id="name-mismatch"),
    ],
)
async def test_tls_is_verified_against_the_feed_name(
    servers: Callable[..., Server],
    certificate: tuple[Path, Path],
    http: httpx.AsyncClient,
    trust: bool,
    host: str,
    outcome: str | None,
) -> None:
    cert_path, key_path = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_path, key_path)
    feed = servers(tls=tls)
    feed.ok("/feed.json")
    settings = IngestSettings(
        allowed_networks=["127.0.0.1/32"],
        ca_bundle=str(cert_path) if trust else None,
        request_timeout_seconds=5,
    )
    resolver = StaticResolver({"feed.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    fetch = build_fetcher(settings, http, resolver=resolver)
    url = f"https://{host}:{feed.port}/feed.json"
    try:
        if outcome is None:
            assert (await fetch.get(url)).content == BUNDLE
            assert feed.requests[0][1]["host"] == f"feed.test:{feed.port}"
        else:
            with pytest.raises(FetchError) as caught:
                await fetch.get(url)
            assert (
                outcome in caught.value.reason.lower()
                and "tls verification failed" in caught.value.reason.lower()
            )
            assert feed.requests == []
    finally:
        await fetch.aclose()


def test_no_setting_switches_tls_verification_off() -> None:
    fields = set(IngestSettings.model_fields)
    assert not {f for f in fields if "verify" in f or "insecure" in f}


def _topics() -> Any:
    from ewarn.bus.topics import Topics

    return Topics(prefix="guard")


# --- TAXII (requests, through the same guard) -------------------------------------------------------------


async def _poll_taxii(
    sessions: SessionFactory, bus: MemoryBus, http: httpx.AsyncClient, location: str
) -> Any:
    settings = Settings(ingest=IngestSettings(allowed_networks=["127.0.0.1/32"], request_timeout_seconds=5))
    service = IngestService(sessions=sessions, bus=bus, topics=_topics(), settings=settings, http=http)
    async with sessions() as session, session.begin():
        await repository.create_feed(
            session=session,
            feed=FeedIn(id="taxii", kind="taxii", location=location, credentials={"token": "taxii-token"}),
        )
    return await service.poll_feed("taxii")


async def test_taxii_redirect_to_another_loopback_address_is_refused(
    servers: Callable[..., Server],
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    inside = servers("127.0.0.2")
    inside.ok("/taxii2/", SECRET_BODY)
    discovery = servers()
    discovery.redirect("/taxii2/", f"{inside.base}/taxii2/")
    report = await _poll_taxii(sqlite_sessions, memory_bus, http, f"{discovery.base}/taxii2/")
    assert report.error is not None and "127.0.0.2 is loopback and not in the allow-list" in report.error
    assert inside.requests == [] and len(discovery.requests) == 1
    assert discovery.requests[0][1]["authorization"] == "Bearer taxii-token"


async def test_taxii_discovery_outside_the_allow_list_is_never_contacted(
    servers: Callable[..., Server],
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    inside = servers("127.0.0.2")
    report = await _poll_taxii(sqlite_sessions, memory_bus, http, f"{inside.base}/taxii2/")
    assert report.error is not None and "refused" in report.error
    assert inside.requests == []


async def test_taxii_credentials_are_not_sent_to_a_redirects_other_origin(
    servers: Callable[..., Server],
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
) -> None:
    mirror = servers()
    discovery = servers()
    discovery.redirect("/taxii2/", f"{mirror.base}/taxii2/")
    await _poll_taxii(sqlite_sessions, memory_bus, http, f"{discovery.base}/taxii2/")
    assert discovery.requests[0][1]["authorization"] == "Bearer taxii-token"
    assert mirror.requests and all("authorization" not in headers for _path, headers in mirror.requests)


# --- credentials never follow a listing to another origin -----------------------------------------------


@pytest.mark.parametrize(
    ("trust_other", "expected"),
    [
        pytest.param(False, None, id="other-origin-gets-nothing"),
        pytest.param(True, "Bearer csaf-token", id="origin-the-operator-added"),
    ],
)
async def test_a_listing_cannot_send_the_feeds_credentials_elsewhere(
    servers: Callable[..., Server],
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
    trust_other: bool,
    expected: str | None,
) -> None:
    feed, other = servers(), servers()
    other.ok("/doc.json", b"{}")
    rolie = {
        "feed": {
            "entry": [
                {
                    "updated": "2026-01-01T00:00:00Z",
                    "content": {"src": f"{other.base}/doc.json"},
                    "link": [{"rel": "self", "href": f"{other.base}/doc.json"}],
                }
            ]
        }
    }
    feed.ok("/rolie.json", json.dumps(rolie).encode())
    settings = Settings(ingest=IngestSettings(allowed_networks=["127.0.0.1/32"], request_timeout_seconds=5))
    service = IngestService(
        sessions=sqlite_sessions, bus=memory_bus, topics=_topics(), settings=settings, http=http
    )
    config = {"require_hash": False, "credential_origins": [other.base] if trust_other else []}
    async with sqlite_sessions() as session, session.begin():
        await repository.create_feed(
            session=session,
            feed=FeedIn(
                id="csaf",
                kind="csaf",
                location=f"{feed.base}/rolie.json",
                credentials={"token": "csaf-token"},
                config=config,
            ),
        )
    await service.poll_feed("csaf")
    assert feed.requests[0][1]["authorization"] == "Bearer csaf-token"
    assert [headers.get("authorization") for path, headers in other.requests if path == "/doc.json"] == [
        expected
    ]


@pytest.mark.parametrize(
    ("trust", "outcome"),
    [
        pytest.param(False, "TAXII request failed", id="untrusted-certificate"),
        pytest.param(True, "TAXII", id="trusted-reaches-the-server"),
    ],
)
async def test_taxii_over_tls_is_pinned_and_verified(
    servers: Callable[..., Server],
    certificate: tuple[Path, Path],
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    http: httpx.AsyncClient,
    trust: bool,
    outcome: str,
) -> None:
    cert_path, key_path = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_path, key_path)
    discovery = servers(tls=tls)
    discovery.routes["/taxii2/"] = lambda: (
        200,
        b'{"title": "t", "api_roots": []}',
        {"Content-Type": "application/taxii+json;version=2.1"},
    )
    settings = Settings(
        ingest=IngestSettings(
            allowed_networks=["127.0.0.1/32"],
            ca_bundle=str(cert_path) if trust else None,
            request_timeout_seconds=5,
        )
    )
    resolver = StaticResolver({"feed.test": ["127.0.0.1"]})
    service = IngestService(
        sessions=sqlite_sessions,
        bus=memory_bus,
        topics=_topics(),
        settings=settings,
        http=http,
        resolver=resolver,
    )
    async with sqlite_sessions() as session, session.begin():
        await repository.create_feed(
            session=session,
            feed=FeedIn(id="taxii", kind="taxii", location=f"https://feed.test:{discovery.port}/taxii2/"),
        )
    try:
        report = await service.poll_feed("taxii")
    finally:
        await service.fetcher.aclose()
    if trust:
        assert report.error is None and resolver.lookups == ["feed.test"]
        assert discovery.requests[0][1]["host"] == f"feed.test:{discovery.port}"
    else:
        assert report.error is not None and outcome in report.error and discovery.requests == []
