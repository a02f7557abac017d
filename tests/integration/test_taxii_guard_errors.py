"""The API guard's refusals on ``/taxii2/`` are TAXII error messages (same status, same headers).

401 (no key, a wrong key), 429 (the key's request rate, failed authentications), 503 (the database gate) and
a parameter's 422 are driven in process with small limits; TAXII clients get
``application/taxii+json;version=2.1`` with ``title`` and ``http_status``, while the same refusal on ``/api/``
stays problem+json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ewarn.api.app import create_app
from ewarn.api.limits import ApiGuard
from ewarn.api.taxii.collections import COLLECTIONS, TAXII_MEDIA
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.provider import Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import ApiLimits, ApiSettings, Settings
from ewarn.store.db import create_engine, create_schema, session_factory
from ewarn.store.repositories.principals import create_api_key, upsert_provider

OBJECTS = f"/taxii2/ewarn/collections/{COLLECTIONS[0].id}/objects/"
WHOAMI = "/api/v1/whoami"


class Api:
    def __init__(self, runtime: Runtime, key: str) -> None:
        self.app = create_app(runtime)
        self.key = key
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("192.0.2.7", 40000)),
            base_url="http://ewarn.test",
            timeout=30,
        )

    @property
    def guard(self) -> ApiGuard:
        guard: ApiGuard = self.app.state.guard
        return guard

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
async def make_api(tmp_path: Path) -> AsyncIterator[Any]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    await create_schema(engine)
    sessions = session_factory(engine)
    async with sessions() as session:
        await upsert_provider(session=session, provider=Provider(id="hosp-a", name="hosp-a", country="DE"))
        _, key = await create_api_key(session=session, role=Role.PROVIDER, provider_id="hosp-a")
        await session.commit()
    built: list[Api] = []

    def make(**limits: Any) -> Api:
        runtime = Runtime(
            settings=Settings(api=ApiSettings(limits=ApiLimits(**limits))),
            engine=engine,
            sessions=sessions,
            bus=MemoryBus(),
            topics=Topics(prefix="t"),
        )
        built.append(Api(runtime, key))
        return built[-1]

    yield make
    for api in built:
        await api.client.aclose()
    await engine.dispose()


def _taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII_MEDIA
    assert int(response.headers["content-length"]) == len(response.content)
    body: dict[str, Any] = response.json()
    assert body["http_status"] == str(status) and body["title"]
    assert "status" not in body and "type" not in body, "no problem+json fields left"
    return body


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        pytest.param({}, "missing API key", id="no-key"),
        pytest.param({"X-API-Key": "wrong"}, "invalid API key", id="wrong-key"),
        pytest.param({"Authorization": "Basic eDp5"}, "invalid API key", id="basic-wrong-password"),
    ],
)
async def test_unauthenticated_is_a_taxii_401(
    make_api: Any, headers: dict[str, str], description: str
) -> None:
    api = make_api()
    response = await api.client.get("/taxii2/", headers=headers)
    body = _taxii_error(response, 401)
    assert body["description"] == description
    assert response.headers["www-authenticate"] == "Bearer"
    plain = await api.client.get(WHOAMI, headers=headers)
    assert plain.status_code == 401 and plain.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("limits", "wrong_first"),
    [
        pytest.param({"rate_per_principal": "2/minute"}, False, id="key-rate"),
        pytest.param({"auth_failures_per_address": "2/minute"}, True, id="failed-authentications"),
    ],
)
async def test_throttled_is_a_taxii_429_with_retry_after(
    make_api: Any, limits: dict[str, str], wrong_first: bool
) -> None:
    api = make_api(**limits)
    headers = {"X-API-Key": "ewk_0000000000000000_wrong"} if wrong_first else api.auth()
    codes = [(await api.client.get("/taxii2/ewarn/", headers=headers)).status_code for _ in range(2)]
    assert codes == ([401, 401] if wrong_first else [200, 200])
    refused = await api.client.get("/taxii2/ewarn/", headers=headers)
    _taxii_error(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    plain = await api.client.get(WHOAMI, headers=headers)
    assert plain.status_code == 429 and plain.headers["content-type"].startswith("application/problem+json")


async def test_a_busy_database_is_a_taxii_503_with_retry_after(make_api: Any) -> None:
    api = make_api(db_concurrency=1, db_wait_seconds=0.1, retry_after_seconds=3)
    async with api.guard.db.slot():
        busy = await api.client.get(OBJECTS, headers=api.auth())
    _taxii_error(busy, 503)
    assert busy.headers["retry-after"] == "3"
    assert (await api.client.get(OBJECTS, headers=api.auth())).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("limit=0", id="limit-zero"),
        pytest.param("next=not-a-cursor", id="next-pattern"),
        pytest.param(f"match[type]={'x' * 5000}", id="match-too-long"),
    ],
)
async def test_an_invalid_parameter_is_a_taxii_422_with_details(make_api: Any, query: str) -> None:
    api = make_api()
    body = _taxii_error(await api.client.get(f"{OBJECTS}?{query}", headers=api.auth()), 422)
    assert body["description"] == "request validation failed"
    assert body["details"]["errors"], "which parameter, and why"


async def test_an_unknown_taxii_path_is_a_taxii_404(make_api: Any) -> None:
    api = make_api()
    _taxii_error(await api.client.get("/taxii2/ewarn/nothing-here/", headers=api.auth()), 404)
