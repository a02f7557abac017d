"""The API's bounded resources, in process, on SQLite and PostgreSQL.

Bodies are counted as the server pulls them (the test's body source counts what was read), so "never read"
and "read no further than the cap" are measured, not inferred. Throttling, the database gate and the
per-key stream cap are driven to their limits with small settings and checked from outside (status,
Retry-After, what was stored) and through the guard's own counters, which the status report shows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ewarn.api.app import create_app
from ewarn.api.limits import ApiGuard
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.provider import Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import ApiLimits, ApiSettings, Settings
from ewarn.store.db import SessionFactory
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
    """Parsing and validation run in a worker thread: other calls are answered while 20,000 rows import."""
    api = await make_api()
    client = api.client()
    gaps: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            gaps.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)

    prober = asyncio.create_task(probe())
    response = await client.post(IMPORT, content=_csv(20_000), headers=api.auth("a"), timeout=300)
    done.set()
    await prober
    assert response.status_code == 200 and response.json()["imported"] == 20_000, response.text
    gaps.sort()
    assert len(gaps) >= 20, f"only {len(gaps)} probes were answered during the import"
    assert gaps[len(gaps) // 2] < 0.2, f"median probe {gaps[len(gaps) // 2]:.3f}s"
