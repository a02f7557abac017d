"""The feeds and push API over the real app, database and in-process bus."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.data import demo_bundle_bytes
from ewarn.models.provider import Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import IngestSettings, Settings
from ewarn.store.db import create_schema
from ewarn.store.repositories.principals import create_api_key, upsert_provider

OPERATOR_KEY = "ewk_operator_test_key"
PROVIDER_KEY = "ewk_provider_test_key"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, MemoryBus]]:
    bus = MemoryBus()
    runtime = Runtime.build(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
            ingest=IngestSettings(file_root=str(tmp_path)),  # feeds read local files only under the root
        ),
        bus=bus,
    )
    await create_schema(runtime.engine)
    async with runtime.sessions() as session, session.begin():
        await upsert_provider(
            session=session, provider=Provider(id="st-elsewhere", name="St Elsewhere", country="DE")
        )
        await create_api_key(session=session, role=Role.OPERATOR, key=OPERATOR_KEY)
        await create_api_key(
            session=session, role=Role.PROVIDER, provider_id="st-elsewhere", key=PROVIDER_KEY
        )
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as client:
        yield client, runtime, bus
    http = runtime.services.get("ingest_http")
    if http is not None:
        await http.aclose()
    await runtime.close()


def auth(key: str = OPERATOR_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_feed_crud_never_returns_credentials(api: tuple[httpx.AsyncClient, Runtime, MemoryBus]) -> None:
    client, _, _ = api
    body: dict[str, Any] = {
        "id": "cisa-kev",
        "kind": "kev",
        "location": "/nonexistent/kev.json",
        "credentials": {"token": "very-secret-token"},
        "interval_seconds": 600,
        "default_tlp": "green",
    }
    created = await client.post("/api/v1/feeds", json=body, headers=auth())
    assert created.status_code == 201
    assert created.json()["has_credentials"] is True
    for response in (
        created,
        await client.get("/api/v1/feeds", headers=auth()),
        await client.get("/api/v1/feeds/cisa-kev", headers=auth()),
    ):
        assert "very-secret-token" not in response.text and "credentials" not in response.json()
    assert (await client.post("/api/v1/feeds", json=body, headers=auth())).status_code == 409
    patched = await client.patch("/api/v1/feeds/cisa-kev", json={"enabled": False}, headers=auth())
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert (await client.delete("/api/v1/feeds/cisa-kev", headers=auth())).status_code == 204
    assert (await client.get("/api/v1/feeds/cisa-kev", headers=auth())).status_code == 404


async def test_unknown_kind_is_a_validation_problem(
    api: tuple[httpx.AsyncClient, Runtime, MemoryBus],
) -> None:
    client, _, _ = api
    response = await client.post(
        "/api/v1/feeds", json={"id": "x", "kind": "rss", "location": "http://x.example"}, headers=auth()
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/feeds"),
        ("POST", "/api/v1/feeds/x/poll"),
        ("GET", "/api/v1/feeds/x/health"),
        ("POST", "/api/v1/ingest/stix"),
    ],
)
async def test_operator_only(
    api: tuple[httpx.AsyncClient, Runtime, MemoryBus], method: str, path: str
) -> None:
    client, _, _ = api
    assert (await client.request(method, path)).status_code == 401
    assert (await client.request(method, path, headers=auth(PROVIDER_KEY))).status_code == 403


async def test_poll_health_and_rejections(
    api: tuple[httpx.AsyncClient, Runtime, MemoryBus], tmp_path: Path
) -> None:
    client, runtime, bus = api
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(demo_bundle_bytes())
    body = {"id": "demo", "kind": "stix_bundle", "location": str(bundle)}
    assert (await client.post("/api/v1/feeds", json=body, headers=auth())).status_code == 201
    report = (await client.post("/api/v1/feeds/demo/poll", headers=auth())).json()
    objects = json.loads(demo_bundle_bytes())["objects"]
    indicators = [o for o in objects if o["type"] in ("indicator", "vulnerability")]
    assert report["read"] == len(indicators) and report["rejected"] == 1
    health = (await client.get("/api/v1/feeds/demo/health", headers=auth())).json()
    assert health["accepted_total"] == report["accepted"] and health["last_error"] is None
    assert health["lag_seconds"] is not None and health["overdue"] is False
    rejections = (await client.get("/api/v1/feeds/demo/rejections", headers=auth())).json()
    broken = next(o for o in objects if o.get("name", "").startswith("Broken"))
    assert [r["record"] for r in rejections] == [broken["id"]]
    assert bus.size(runtime.topics.indicators) == report["published"] > 0


async def test_push_stix_and_csaf(
    api: tuple[httpx.AsyncClient, Runtime, MemoryBus], shared_data: Path
) -> None:
    client, runtime, bus = api
    stix = await client.post("/api/v1/ingest/stix", content=demo_bundle_bytes(), headers=auth())
    assert stix.status_code == 200
    assert stix.json()["feed_id"] == "push-stix" and stix.json()["accepted"] > 0
    advisory = (shared_data / "csaf/cisa-icsma/icsma-22-174-01.json").read_bytes()
    csaf = await client.post("/api/v1/ingest/csaf?feed_id=cisa-push", content=advisory, headers=auth())
    assert csaf.status_code == 200 and csaf.json()["accepted"] == 1  # one indicator per advisory
    keys = {r.key for r in bus.records(runtime.topics.indicators)}
    assert {"vulnerability:ICSMA-22-174-01", "ipv4:203.0.113.7"} <= keys
    truncated = await client.post("/api/v1/ingest/stix", content=demo_bundle_bytes()[:500], headers=auth())
    assert truncated.status_code == 200 and truncated.json()["rejected"] == 1
    assert truncated.json()["rejections"][0]["record"] == "payload"
