"""A whole ewarn pipeline in the test process, driven through the real API (ASGI) like a SOC would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx

from ewarn.api.app import create_app
from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.models.provider import Role
from ewarn.pipeline import running_stages, wait_until_drained
from ewarn.roles import ingest_service, prepare
from ewarn.runtime import Runtime
from ewarn.settings import ApiLimits, ApiSettings, DispatchSettings, Settings
from ewarn.store.db import create_engine, session_factory
from ewarn.store.repositories.principals import create_api_key


@dataclass
class Tenant:
    provider_id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Harness:
    runtime: Runtime
    api: httpx.AsyncClient
    http: httpx.AsyncClient
    operator_key: str
    tenants: dict[str, Tenant] = field(default_factory=dict)

    @property
    def op(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_key}"}

    async def call(self, method: str, url: str, *, auth: dict[str, str], **kw: Any) -> Any:
        resp = await self.api.request(method, url, headers=auth, **kw)
        assert resp.status_code < 300, f"{method} {url} -> {resp.status_code}: {resp.text}"
        return resp.json() if resp.content else None

    async def add_csirt(self, csirt_id: str, country: str = "EU") -> None:
        await self.call(
            "POST",
            "/api/v1/csirts",
            auth=self.op,
            json={"id": csirt_id, "name": csirt_id, "country": country},
        )

    async def add_tenant(
        self, provider_id: str, *, csirt_id: str | None = None, country: str = "EU"
    ) -> Tenant:
        await self.call(
            "POST",
            "/api/v1/providers",
            auth=self.op,
            json={
                "id": provider_id,
                "name": f"{provider_id} hospital",
                "country": country,
                "csirt_id": csirt_id,
            },
        )
        out = await self.call(
            "POST", "/api/v1/keys", auth=self.op, json={"role": "provider", "provider_id": provider_id}
        )
        tenant = Tenant(provider_id, out["key"])
        self.tenants[provider_id] = tenant
        return tenant

    async def csirt_key(self, csirt_id: str) -> dict[str, str]:
        out = await self.call(
            "POST", "/api/v1/keys", auth=self.op, json={"role": "csirt", "csirt_id": csirt_id}
        )
        return {"Authorization": f"Bearer {out['key']}"}

    async def add_assets(self, tenant: Tenant, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = await self.call(
            "POST", f"/api/v1/providers/{tenant.provider_id}/assets", auth=tenant.auth, json=assets
        )
        return out

    async def subscribe_webhook(self, tenant: Tenant, url: str, **filters: Any) -> dict[str, Any]:
        body = {
            "channel": "webhook",
            "target": url,
            "filters": {"min_severity": "info", "tlp_ceiling": "red", **filters},
        }
        out: dict[str, Any] = await self.call(
            "POST", f"/api/v1/providers/{tenant.provider_id}/subscriptions", auth=tenant.auth, json=body
        )
        return out

    async def ingest(self, payload: bytes, *, kind: str = "stix_bundle", feed_id: str = "test-feed") -> Any:
        service: Any = ingest_service(self.runtime, self.http)
        return await service.ingest_bytes(payload=payload, kind=kind, feed_id=feed_id)

    async def alerts(self, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 500, **params, **({"cursor": cursor} if cursor else {})}
            page = await self.call("GET", "/api/v1/alerts", auth=auth, params=query)
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    async def drained(self, timeout: float = 30) -> None:
        assert await wait_until_drained(self.runtime, timeout=timeout), "pipeline did not drain in time"


@asynccontextmanager
async def harness(
    db_url: str,
    *,
    bus: Bus | None = None,
    topics: Topics | None = None,
    api_limits: dict[str, Any] | None = None,
    **dispatch: Any,
) -> AsyncIterator[Harness]:
    """Runtime on ``db_url`` (migrated), the API over ASGI, and correlate + dispatch running.

    ``api_limits`` overrides ``ApiLimits`` fields (a test calling every route with wrong keys needs room)."""
    dispatch_settings: dict[str, Any] = {
        "allowed_networks": ["127.0.0.0/8"],
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.5,
        **dispatch,
    }
    settings = Settings(
        database_url=db_url,
        dispatch=DispatchSettings(**dispatch_settings),
        api=ApiSettings(limits=ApiLimits(**(api_limits or {}))),
    )
    engine = create_engine(db_url)
    from ewarn.bus.memory import MemoryBus

    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        bus=bus or MemoryBus(),
        topics=topics or Topics(prefix="ewarn"),
    )
    await prepare(runtime)
    async with runtime.sessions() as session:
        _, operator_key = await create_api_key(session=session, role=Role.OPERATOR, name="test operator")
        await session.commit()
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as api,
            httpx.AsyncClient(follow_redirects=False) as http,
        ):
            h = Harness(runtime=runtime, api=api, http=http, operator_key=operator_key)
            async with running_stages(runtime, http):
                yield h
    finally:
        await runtime.close()


class TwoTenants(NamedTuple):
    """What ``seed_two_tenants`` made."""

    a: Tenant
    b: Tenant
    a_asset: dict[str, Any]
    b_asset: dict[str, Any]


async def seed_two_tenants(h: Harness) -> TwoTenants:
    """Two hospitals under two CSIRTs (hosp-a/csirt-1, hosp-b/csirt-2), each with a DMZ network, and the
    networks overlap (203.0.113.0/24 and /25): one indicator in the /25 raises an alert for each of them."""
    await h.add_csirt("csirt-1")
    await h.add_csirt("csirt-2")
    a = await h.add_tenant("hosp-a", csirt_id="csirt-1")
    b = await h.add_tenant("hosp-b", csirt_id="csirt-2")
    (a_asset,) = await h.add_assets(a, [{"kind": "network", "name": "A DMZ", "value": "203.0.113.0/24"}])
    (b_asset,) = await h.add_assets(b, [{"kind": "network", "name": "B DMZ", "value": "203.0.113.0/25"}])
    return TwoTenants(a, b, a_asset, b_asset)


@dataclass
class TwoTenantWorld:
    """A seeded two-tenant world shared by a test module: the harness, the tenants, the CSIRT key, ids."""

    h: Harness
    a: Tenant
    b: Tenant
    csirt1: dict[str, str]
    ids: dict[str, str]
    secrets: list[str] = field(default_factory=list)  # subscription secrets that must never be shown
