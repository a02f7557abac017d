"""The API's bounded resources, in process, on SQLite and PostgreSQL.

Bodies are counted as the server pulls them (the test's body source counts what was read), so "never read"
and "read no further than the cap" are measured, not inferred. Throttling, the database gate and the
per-key stream cap are driven to their limits with small settings and checked from outside (status,
Retry-After, what was stored) and through the guard's own counters, which the status report shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import structlog.testing
import uvicorn

from ewarn.api.app import create_app
from ewarn.api.limits import ApiGuard
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.provider import Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import ApiLimits, ApiSettings, Settings
from ewarn.store.db import SessionFactory, create_engine, session_factory
from ewarn.store.repositories.principals import create_api_key, upsert_provider

A, B = "st-elsewhere", "county-general"
MIB = 1024 * 1024
CHUNK = 64 * 1024
HUNDRED_MB = 100 * 1000 * 1000
STREAM = "/api/v1/alert-events/stream"


class CountingBody:
    """An async request body of ``total`` bytes that records how many bytes the server pulled."""

    def __init__(self, total: int, piece: bytes = b"x" * CHUNK) -> None:
        self.total = total
        self.piece = piece
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            part = self.piece[: self.total - self.pulled]
            self.pulled += len(part)
            yield part


@dataclass
class Api:
    app: Any
    runtime: Runtime
    keys: dict[str, str]
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def guard(self) -> ApiGuard:
        guard: ApiGuard = self.app.state.guard
        return guard

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client whose requests come from ``address`` (the ASGI scope's client)."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(address, 40000)),
            base_url="http://ewarn.test",
            timeout=30,
        )
        self.clients.append(client)
        return client


async def _seed(sessions: SessionFactory) -> dict[str, str]:
    keys: dict[str, str] = {}
    async with sessions() as session:
        for pid in (A, B):
            await upsert_provider(session=session, provider=Provider(id=pid, name=pid, country="DE"))
        for who, role, extra in (
            ("a", Role.PROVIDER, {"provider_id": A}),
            ("a2", Role.PROVIDER, {"provider_id": A}),
            ("b", Role.PROVIDER, {"provider_id": B}),
            ("op", Role.OPERATOR, {}),
        ):
            _, keys[who] = await create_api_key(session=session, role=role, **extra)  # type: ignore[arg-type]
        await session.commit()
    return keys


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(sessions: SessionFactory) -> AsyncIterator[MakeApi]:
    """Build the app over the test database with the given ``api.limits`` overrides."""
    built: list[Api] = []
    keys: dict[str, str] = {}

    async def make(**limits: Any) -> Api:
        if not keys:
            keys.update(await _seed(sessions))
        runtime = Runtime(
            settings=Settings(api=ApiSettings(limits=ApiLimits(**limits))),
            engine=sessions.kw["bind"],
            sessions=sessions,
            bus=MemoryBus(),
            topics=Topics(prefix="t"),
        )
        api = Api(app=create_app(runtime), runtime=runtime, keys=keys)
        built.append(api)
        return api

    yield make
    for api in built:
        for client in api.clients:
            await client.aclose()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def _assets(api: Api, who: str = "a", provider: str = A) -> list[dict[str, Any]]:
    response = await api.client().get(f"/api/v1/providers/{provider}/assets", headers=api.auth(who))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- bodies ----------------------------------------------------------------------------------------------

ASSETS = f"/api/v1/providers/{A}/assets"
IMPORT = f"/api/v1/providers/{A}/assets/import?format=csv"


@pytest.mark.parametrize("path", [ASSETS, IMPORT], ids=["json-route", "import-route"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"Authorization": "Bearer ewk_0123456789abcdef_wrong"}, id="wrong-key"),
        pytest.param({"X-API-Key": "wrong"}, id="wrong-x-api-key"),
    ],
)
async def test_an_unauthenticated_body_is_never_read(
    make_api: MakeApi, path: str, headers: dict[str, str]
) -> None:
    api = await make_api()
    body = CountingBody(HUNDRED_MB)
    response = await api.client().post(path, content=body, headers=headers)
    _problem(response, 401)
    assert body.pulled == 0, "the server read the body of an unauthenticated request"
    assert response.headers["connection"] == "close"  # the rest is dropped, not read for the next request


@pytest.mark.parametrize(
    ("path", "limits", "cap"),
    [
        pytest.param(ASSETS, {}, MIB, id="json-route-default-1MiB"),
        pytest.param(IMPORT, {"max_import_bytes": 2 * MIB}, 2 * MIB, id="import-route"),
        pytest.param(ASSETS, {"max_body_bytes": 100_000}, 100_000, id="json-route-configured"),
    ],
)
async def test_a_chunked_body_is_cut_at_the_cap_while_reading(
    make_api: MakeApi, path: str, limits: dict[str, int], cap: int
) -> None:
    api = await make_api(**limits)
    body = CountingBody(HUNDRED_MB)
    response = await api.client().post(path, content=body, headers=api.auth("a"))
    problem = _problem(response, 413)
    assert "Content Too Large" in json.dumps(problem)
    assert cap < body.pulled <= cap + CHUNK, f"read {body.pulled} bytes for a cap of {cap}"
    assert response.headers["connection"] == "close"
    assert await _assets(api) == []


async def test_a_declared_length_over_the_cap_is_refused_unread(make_api: MakeApi) -> None:
    api = await make_api(max_body_bytes=1000)
    response = await api.client().post(
        ASSETS,
        content=b"[" + b" " * 2000 + b"]",
        headers={**api.auth("a"), "Content-Type": "application/json"},
    )
    problem = _problem(response, 413)
    assert "1000 bytes" in problem["detail"]
    assert response.headers["connection"] == "close"


async def test_bodies_under_the_caps_pass(make_api: MakeApi) -> None:
    api = await make_api(max_body_bytes=4000, max_import_bytes=4000)
    client = api.client()
    asset = {"kind": "network", "name": "Ward LAN", "value": "198.51.100.0/24"}
    created = await client.post(ASSETS, json=asset, headers=api.auth("a"))
    assert created.status_code == 201, created.text
    imported = await client.post(
        IMPORT, content=b"kind,value\ndomain,pacs.example.org\n", headers=api.auth("a")
    )
    assert imported.status_code == 200, imported.text
    assert "connection" not in created.headers  # a body read to the end keeps the connection
    assert sorted(a["value"] for a in await _assets(api)) == ["198.51.100.0/24", "pacs.example.org"]


def _csv(rows: int) -> bytes:
    return ("kind,value\n" + "".join(f"network,10.{i // 256}.{i % 256}.0/24\n" for i in range(rows))).encode()


def _sbom(components: int) -> bytes:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {
                "type": "library",
                "name": f"lib{i}",
                "version": "1.0",
                "purl": f"pkg:pypi/lib{i}@1.0",
                "bom-ref": f"c{i}",
            }
            for i in range(components)
        ],
    }
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("fmt", "data", "status"),
    [
        pytest.param("csv", _csv(25), 200, id="csv-at-the-cap"),
        pytest.param("csv", _csv(26), 413, id="csv-over-the-cap"),
        pytest.param("csv", b"kind,value\n" + b"# comment\n" * 40, 413, id="csv-comment-lines-count"),
        pytest.param("cyclonedx", _sbom(25), 200, id="sbom-at-the-cap"),
        pytest.param("cyclonedx", _sbom(26), 413, id="sbom-over-the-cap"),
    ],
)
async def test_import_row_cap(make_api: MakeApi, fmt: str, data: bytes, status: int) -> None:
    api = await make_api(max_import_rows=25)
    response = await api.client().post(
        f"/api/v1/providers/{A}/assets/import", params={"format": fmt}, content=data, headers=api.auth("a")
    )
    if status == 413:
        assert "at most 25" in _problem(response, 413)["detail"]
        assert await _assets(api) == []
    else:
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == 25, response.text


async def test_a_large_import_leaves_the_event_loop_serving(make_api: MakeApi) -> None:
    """Parsing and validation run in a worker thread: /healthz keeps answering while 20,000 rows are read.

    Every row is invalid, so the import is all parsing and validation (about a second of CPU, which held the
    event loop for that long when it ran on it) and nothing is stored.
    """
    api = await make_api()
    client = api.client()
    rows = 20_000
    data = (
        "kind,value\n" + "".join(f"network,10.{i // 256 % 256}.{i % 256}.0/33\n" for i in range(rows))
    ).encode()
    gaps: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            await asyncio.sleep(0.005)
            gaps.append(time.perf_counter() - started)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    response = await client.post(IMPORT, content=data, headers=api.auth("a"), timeout=120)
    took = time.perf_counter() - started
    done.set()
    await prober
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 0 and len(report["errors"]) == rows
    assert len(gaps) >= 10, f"only {len(gaps)} probes answered during a {took:.2f}s import"
    # Relative to the import's own duration, so a loaded machine slows both alike; on the event loop the
    # parsing and validation were one stall of most of the import.
    assert max(gaps) < 0.4 * took, f"the event loop stalled {max(gaps):.3f}s of a {took:.2f}s import"
    assert await _assets(api) == []


# --- throttling ------------------------------------------------------------------------------------------

WHOAMI = "/api/v1/whoami"


def _retry_after(response: httpx.Response) -> int:
    _problem(response, 429)
    value = int(response.headers["retry-after"])
    assert 1 <= value <= 60
    return value


async def test_wrong_keys_from_one_address_are_throttled_and_counted(make_api: MakeApi) -> None:
    api = await make_api(auth_failures_per_address="5/minute")
    attacker, neighbour = api.client("192.0.2.10"), api.client("192.0.2.10")
    assert (await neighbour.get(WHOAMI, headers=api.auth("b"))).status_code == 200  # a key seen to work
    wrong = [f"ewk_{i:016x}_guess" for i in range(8)] + ["not-even-a-key"] * 4
    with structlog.testing.capture_logs() as logs:
        answers = [await attacker.get(WHOAMI, headers={"Authorization": f"Bearer {key}"}) for key in wrong]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 7
    _retry_after(answers[-1])
    # The same address: a key that worked before still works; another address is not affected.
    assert (await neighbour.get(WHOAMI, headers=api.auth("b"))).status_code == 200
    other = await api.client("198.51.100.20").get(WHOAMI, headers={"X-API-Key": "wrong"})
    _problem(other, 401)
    stats = api.guard.stats()
    assert (stats["auth_failures"], stats["auth_throttled"]) == (6, 7)
    failures = [e for e in logs if e["event"] == "auth_failed"]
    assert len(failures) == 5 and {e["address"] for e in failures} == {"192.0.2.10"}
    assert failures[0]["claimed_key_id"] == "0000000000000000"
    assert failures[-1]["budget_spent"] is True
    logged = json.dumps(logs, default=str)
    assert "guess" not in logged and api.keys["b"] not in logged, "a presented key reached the log"


async def test_wrong_secrets_for_one_key_id_are_throttled_from_any_address(make_api: MakeApi) -> None:
    api = await make_api(auth_failures_per_key_id="3/minute")
    real = api.keys["a"]
    key_id = real.split("_")[1]
    codes = [
        (
            await api.client(f"203.0.113.{i}").get(
                WHOAMI, headers={"Authorization": f"Bearer ewk_{key_id}_wrong{i}"}
            )
        ).status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    # Wrong secrets for its id never lock the key's owner out (the key is still looked up).
    assert (await api.client("203.0.113.99").get(WHOAMI, headers=api.auth("a"))).status_code == 200
    assert api.guard.stats()["auth_throttled"] == 2


@pytest.mark.parametrize(
    ("limits", "caller", "other"),
    [
        pytest.param(
            {"rate_per_principal": "3/minute"}, ("a", "192.0.2.1"), ("b", "192.0.2.1"), id="per-key"
        ),
        pytest.param(
            {"rate_per_address": "3/minute"}, ("a", "192.0.2.1"), ("a", "192.0.2.2"), id="per-address"
        ),
    ],
)
async def test_request_rates(
    make_api: MakeApi, limits: dict[str, str], caller: tuple[str, str], other: tuple[str, str]
) -> None:
    api = await make_api(**limits)
    client = api.client(caller[1])
    codes = [(await client.get(WHOAMI, headers=api.auth(caller[0]))).status_code for _ in range(3)]
    refused = await client.get(WHOAMI, headers=api.auth(caller[0]))
    assert codes == [200, 200, 200]
    _retry_after(refused)
    assert (await api.client(other[1]).get(WHOAMI, headers=api.auth(other[0]))).status_code == 200
    assert (await client.get("/healthz")).status_code == 200, "probes are never throttled"
    assert api.guard.stats()["rate_limited"] == 1


async def test_default_limits_let_a_busy_client_and_a_failing_test_suite_through(make_api: MakeApi) -> None:
    api = await make_api()
    client = api.client()
    ok = [(await client.get(WHOAMI, headers=api.auth("a"))).status_code for _ in range(300)]
    wrong = [(await client.get(WHOAMI, headers={"X-API-Key": f"wrong{i}"})).status_code for i in range(100)]
    assert set(ok) == {200} and set(wrong) == {401}


# --- the database gate -----------------------------------------------------------------------------------


async def test_a_busy_database_answers_503_fast_and_healthz_stays_up(make_api: MakeApi) -> None:
    api = await make_api(db_concurrency=2, db_wait_seconds=0.2, retry_after_seconds=3)
    client = api.client()
    assert (await client.get(WHOAMI, headers=api.auth("a"))).status_code == 200
    async with api.guard.db.slot(), api.guard.db.slot():  # every slot taken, as by slow requests
        started = time.perf_counter()
        busy = await client.get(f"/api/v1/providers/{A}/assets", headers=api.auth("a"))
        took = time.perf_counter() - started
        healthz = await client.get("/healthz")
        readyz = await client.get("/readyz")
    assert _problem(busy, 503) and busy.headers["retry-after"] == "3"
    assert took < 1.0, f"503 took {took:.2f}s"
    assert healthz.status_code == 200
    _problem(readyz, 503)
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get(f"/api/v1/providers/{A}/assets", headers=api.auth("a"))).status_code == 200
    assert api.guard.stats()["db_busy"] == 2


async def test_an_exhausted_connection_pool_answers_503(make_api: MakeApi, sessions: SessionFactory) -> None:
    """Even when the pool itself runs dry (a pool shared with other work), the API answers 503, not 500."""
    url = sessions.kw["bind"].url
    engine = create_engine(
        url.render_as_string(hide_password=False), pool_size=1, max_overflow=0, pool_timeout=0.3
    )
    try:
        api = await make_api()
        api.runtime.sessions = session_factory(engine)
        api.guard.sessions = api.runtime.sessions
        client = api.client()
        assert (await client.get(WHOAMI, headers=api.auth("a"))).status_code == 200
        async with engine.connect():  # the only connection, held elsewhere
            keyed = await client.get(WHOAMI, headers=api.auth("a"))
            ready = await client.get("/readyz")
        assert keyed.status_code == 503 and "retry-after" in keyed.headers
        assert ready.status_code == 503 and "retry-after" in ready.headers
        assert (await client.get("/readyz")).status_code == 200
    finally:
        await engine.dispose()


# --- event streams ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _served(api: Api) -> AsyncIterator[str]:
    """The app on a real uvicorn server on loopback (streams need real disconnects); yields its base URL."""
    config = uvicorn.Config(
        api.app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # open streams would hold the shutdown
        await asyncio.wait_for(task, 10)


async def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def test_streams_per_key_are_capped_and_a_disconnect_frees_the_slot(make_api: MakeApi) -> None:
    api = await make_api(max_streams_per_key=2)
    async with _served(api) as url, contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
        first = await stack.enter_async_context(client.stream("GET", STREAM, headers=api.auth("a")))
        second = await stack.enter_async_context(client.stream("GET", STREAM, headers=api.auth("a")))
        assert first.status_code == second.status_code == 200
        third = await client.get(STREAM, headers=api.auth("a"))
        _problem(third, 429)
        assert int(third.headers["retry-after"]) >= 1
        # Another key of the same tenant has its own streams.
        other = await stack.enter_async_context(client.stream("GET", STREAM, headers=api.auth("a2")))
        assert other.status_code == 200
        assert api.guard.streams.open_count() == 3
        await first.aclose()
        await _until(lambda: api.guard.streams.open_count() == 2, "the closed stream ends")
        async with client.stream("GET", STREAM, headers=api.auth("a")) as again:
            assert again.status_code == 200
    await _until(lambda: api.guard.streams.open_count() == 0, "every stream ended")
    assert api.guard.stats()["streams_refused"] == 1


async def test_open_streams_hold_no_database_connection(make_api: MakeApi) -> None:
    """More open streams than the pool has connections, and the rest of the API still answers at once."""
    api = await make_api(max_streams_per_key=10)
    pool = api.runtime.engine.pool
    capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
    streams = capacity + 10
    keys = ["a", "a2", "b"] * (streams // 3 + 1)
    checked_out: list[int] = []
    async with _served(api) as url, contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=streams + 10))
        )
        opened = [
            await stack.enter_async_context(client.stream("GET", STREAM, headers=api.auth(who)))
            for who in keys[:streams]
        ]
        assert {r.status_code for r in opened} == {200}
        polls_before = api.guard.newest_event.polls
        for _ in range(20):  # a second of idle streams
            checked_out.append(pool.checkedout())  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
        idle_polls = api.guard.newest_event.polls - polls_before
        started = time.perf_counter()
        listed = await client.get(f"/api/v1/providers/{B}/assets", headers=api.auth("b"))
        took = time.perf_counter() - started
        assert listed.status_code == 200 and took < 1.0, f"{listed.status_code} after {took:.2f}s"
    assert max(checked_out) <= api.guard.limits.db_concurrency < streams
    assert 1 <= idle_polls <= 6, f"{streams} idle streams made {idle_polls} polls in a second"
    await _until(lambda: api.guard.streams.open_count() == 0, "every stream ended")
    await _until(lambda: pool.checkedout() == 0, "every connection is back")  # type: ignore[attr-defined]
