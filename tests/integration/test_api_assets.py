"""The assets API on SQLite and PostgreSQL: every endpoint, problem+json errors, and tenancy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ewarn.api import app as api_app
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.asset import AssetChange
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider

A, B, C = "hosp-a", "hosp-b", "hosp-c"  # A and B are in CERT-DE's constituency, C is not
BASE = "/api/v1/providers/{}/assets"


@dataclass
class Api:
    client: httpx.AsyncClient
    bus: MemoryBus
    topics: Topics
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def post(self, who: str, provider: str, body: Any) -> httpx.Response:
        return await self.client.post(BASE.format(provider), json=body, headers=self.auth(who))

    async def list(self, who: str, provider: str, **params: Any) -> httpx.Response:
        return await self.client.get(BASE.format(provider), params=params, headers=self.auth(who))

    async def get(self, who: str, provider: str, asset_id: str) -> httpx.Response:
        return await self.client.get(f"{BASE.format(provider)}/{asset_id}", headers=self.auth(who))

    async def delete(self, who: str, provider: str, asset_id: str) -> httpx.Response:
        return await self.client.delete(f"{BASE.format(provider)}/{asset_id}", headers=self.auth(who))

    async def import_(self, who: str, provider: str, data: bytes, fmt: str, **params: str) -> httpx.Response:
        return await self.client.post(
            f"{BASE.format(provider)}/import",
            params={"format": fmt, **params},
            content=data,
            headers=self.auth(who),
        )

    def changes(self) -> list[AssetChange]:
        return [AssetChange.model_validate_json(r.value) for r in self.bus.records(self.topics.assets)]


@pytest.fixture
async def api(sessions: SessionFactory) -> AsyncIterator[Api]:
    keys: dict[str, str] = {}
    async with sessions() as session:
        await upsert_csirt(session=session, csirt=Csirt(id="cert-de", name="CERT-DE", country="DE"))
        await upsert_csirt(session=session, csirt=Csirt(id="cert-fr", name="CERT-FR", country="FR"))
        for pid, csirt in ((A, "cert-de"), (B, "cert-de"), (C, "cert-fr")):
            await upsert_provider(
                session=session, provider=Provider(id=pid, name=pid, country="DE", csirt_id=csirt)
            )
        for who, role, extra in (
            ("a", Role.PROVIDER, {"provider_id": A}),
            ("b", Role.PROVIDER, {"provider_id": B}),
            ("csirt", Role.CSIRT, {"csirt_id": "cert-de"}),
            ("op", Role.OPERATOR, {}),
        ):
            _, keys[who] = await create_api_key(session=session, role=role, **extra)
        await session.commit()
    bus, topics = MemoryBus(), Topics(prefix="t")
    engine = sessions.kw["bind"]
    runtime = Runtime(settings=Settings(), engine=engine, sessions=sessions, bus=bus, topics=topics)
    app = api_app.create_app(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Api(client=client, bus=bus, topics=topics, keys=keys)


NETWORK = {"kind": "network", "name": "PACS DMZ", "value": "203.0.113.7/24", "criticality": "high"}


async def test_register_one_then_again_then_a_list(api: Api) -> None:
    created = await api.post("a", A, NETWORK)
    assert created.status_code == 201
    body = created.json()
    assert (body["provider_id"], body["value"], body["name"]) == (A, "203.0.113.0/24", "PACS DMZ")

    again = await api.post("a", A, NETWORK)
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]

    many = await api.post("a", A, [NETWORK, {"kind": "domain", "value": "Klinikum.Example"}])
    assert many.status_code == 201
    assert [a["value"] for a in many.json()] == ["203.0.113.0/24", "klinikum.example"]
    assert [c.changed_asset_ids for c in api.changes()] == [[body["id"]], [many.json()[1]["id"]]]


async def test_invalid_assets_are_problems_naming_each_field(api: Api) -> None:
    response = await api.post(
        "a", A, [NETWORK, {"kind": "software", "cpe": "cpe:/a:x:y"}, {"kind": "asn", "value": "x"}]
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["[1].cpe", "[2].value"]
    assert (await api.list("a", A)).json()["items"] == []  # all or nothing

    unknown_kind = await api.post("a", A, {"kind": "router", "value": "x"})
    assert unknown_kind.status_code == 422


async def test_list_filters_kind_and_pages_with_the_cursor(api: Api) -> None:
    nets = [{"kind": "network", "value": f"10.{i}.0.0/16"} for i in range(5)]
    await api.post("a", A, [*nets, {"kind": "asn", "value": "AS64500"}])
    seen: list[str] = []
    params: dict[str, Any] = {"kind": "network", "limit": 2}
    while True:
        page = (await api.list("a", A, **params)).json()
        seen += [a["value"] for a in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(f"10.{i}.0.0/16" for i in range(5))
    assert (await api.list("a", A, cursor="!!")).status_code == 422
    assert (await api.list("a", A, limit=0)).status_code == 422
    assert (await api.list("a", A, kind="router")).status_code == 422


async def test_get_and_delete(api: Api) -> None:
    device = (
        await api.post(
            "a", A, {"kind": "medical_device", "vendor": "BD", "product": "Alaris", "name": "pump 1"}
        )
    ).json()
    fetched = await api.get("a", A, device["id"])
    assert fetched.status_code == 200
    assert fetched.json()["product"] == "Alaris"

    deleted = await api.delete("a", A, device["id"])
    assert deleted.status_code == 204
    assert api.changes()[-1].removed_asset_ids == [device["id"]]
    assert (await api.get("a", A, device["id"])).status_code == 404
    assert (await api.delete("a", A, device["id"])).status_code == 404
    assert (await api.get("a", A, "ast_unknown")).status_code == 404


async def test_import_csv_and_sbom_for_a_device(api: Api, shared_data: Path) -> None:
    csv = b"kind,value\nnetwork,10.0.0.0/16\nnetwork,10.0.0.300\n"
    report = await api.import_("a", A, csv, "csv")
    assert report.status_code == 200
    assert report.json() == {
        "imported": 1,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "errors": [{"row": 3, "reason": "value: not an IPv4/IPv6 address or network: '10.0.0.300'"}],
    }

    path = shared_data / "cyclonedx" / "SBOM__laravel-7.12.0__bom.1.4.json"
    components = json.loads(path.read_text())["components"]
    device = (
        await api.post("a", A, {"kind": "medical_device", "vendor": "V", "product": "P", "name": "n"})
    ).json()
    sbom = await api.import_("a", A, path.read_bytes(), "cyclonedx", device=device["id"])
    assert sbom.json()["imported"] == len(components)
    page = (await api.list("a", A, kind="software", limit=1000)).json()
    assert {a["parent_id"] for a in page["items"]} == {device["id"]}
    assert len(page["items"]) == len(components)


@pytest.mark.parametrize(
    ("data", "params", "status"),
    [
        pytest.param(b"{}", {"format": "spdx"}, 422, id="unknown-format"),
        pytest.param(b"{}", {}, 422, id="no-format"),
        pytest.param(b"not json", {"format": "cyclonedx"}, 422, id="unreadable"),
        pytest.param(b"kind,colour\n", {"format": "csv"}, 422, id="unknown-column"),
        pytest.param(b"{}", {"format": "cyclonedx", "device": "ast_nothing"}, 422, id="unknown-device"),
    ],
)
async def test_import_refused(api: Api, data: bytes, params: dict[str, str], status: int) -> None:
    response = await api.client.post(
        f"{BASE.format(A)}/import", params=params, content=data, headers=api.auth("a")
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await api.list("a", A)).json()["items"] == []


async def test_import_too_large(api: Api) -> None:
    cap = Settings().api.limits.max_import_bytes
    line = b"network,10.0.0.0/16\n"
    data = b"kind,value\n" + line * (cap // len(line) + 1)
    response = await api.import_("a", A, data, "csv")
    assert response.status_code == 413
    assert (await api.list("a", A)).json()["items"] == []


# --- tenancy -------------------------------------------------------------------------------------------


@pytest.fixture
async def b_asset(api: Api) -> dict[str, Any]:
    created = await api.post(
        "b", B, {"kind": "network", "name": "B secret range", "value": "198.51.100.0/24"}
    )
    assert created.status_code == 201
    return dict(created.json())


async def test_provider_key_cannot_touch_another_tenant(api: Api, b_asset: dict[str, Any]) -> None:
    responses = [
        await api.list("a", B),
        await api.get("a", B, b_asset["id"]),
        await api.get("a", A, b_asset["id"]),  # B's asset through A's own path
        await api.post("a", B, NETWORK),
        await api.delete("a", B, b_asset["id"]),
        await api.delete("a", A, b_asset["id"]),
        await api.import_("a", B, b"kind,value\nnetwork,10.0.0.0/16\n", "csv"),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    for response in responses:
        assert "198.51.100" not in response.text and "B secret" not in response.text
    still = (await api.list("b", B)).json()["items"]
    assert [a["id"] for a in still] == [b_asset["id"]]


async def test_csirt_reads_its_constituency_and_writes_nothing(api: Api, b_asset: dict[str, Any]) -> None:
    await api.post("op", C, {"kind": "network", "value": "192.0.2.0/24"})
    assert (await api.list("csirt", B)).json()["items"][0]["id"] == b_asset["id"]
    assert (await api.get("csirt", B, b_asset["id"])).status_code == 200
    assert (await api.list("csirt", C)).status_code == 404
    writes = [
        await api.post("csirt", B, NETWORK),
        await api.delete("csirt", B, b_asset["id"]),
        await api.import_("csirt", B, b"kind,value\nnetwork,10.0.0.0/16\n", "csv"),
    ]
    assert [r.status_code for r in writes] == [403, 403, 403]
    assert (await api.post("csirt", C, NETWORK)).status_code == 404
    assert (await api.get("csirt", B, b_asset["id"])).status_code == 200


async def test_operator_reads_and_writes_every_tenant(api: Api, b_asset: dict[str, Any]) -> None:
    assert (await api.get("op", B, b_asset["id"])).status_code == 200
    assert (await api.post("op", C, NETWORK)).status_code == 201
    assert (await api.post("op", "no-such-hospital", NETWORK)).status_code == 404
    assert (await api.delete("op", B, b_asset["id"])).status_code == 204


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", BASE.format(A), id="list"),
        pytest.param("POST", BASE.format(A), id="register"),
        pytest.param("GET", BASE.format(A) + "/ast_x", id="get"),
        pytest.param("DELETE", BASE.format(A) + "/ast_x", id="delete"),
        pytest.param("POST", BASE.format(A) + "/import?format=csv", id="import"),
    ],
)
@pytest.mark.parametrize("key", [None, "ewk_wrong"], ids=["no-key", "wrong-key"])
async def test_unauthenticated_is_401(api: Api, method: str, path: str, key: str | None) -> None:
    headers = {"X-API-Key": key} if key else {}
    response = await api.client.request(method, path, headers=headers, json=NETWORK)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
