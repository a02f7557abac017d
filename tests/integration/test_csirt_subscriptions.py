"""A CSIRT's webhook subscription receives its constituency's alerts only, within the TLP a CSIRT may read,
through the real dispatch worker and a signature-verifying loopback receiver; created through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.support.receivers import (
    WebhookReceiver,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_until,
)

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.alert import Alert
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.tables import AlertEventRow

TOPICS = Topics(prefix="t-csirt-subs")


@dataclass
class World:
    runtime: Runtime
    bus: MemoryBus
    api: httpx.AsyncClient
    keys: dict[str, dict[str, str]]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = dispatch_settings().model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'csirt.db'}"}
    )
    bus = MemoryBus()
    runtime = Runtime.build(settings, bus=bus)
    await upgrade_to_head(runtime.engine)
    keys: dict[str, dict[str, str]] = {}
    async with runtime.sessions() as session:
        for csirt in ("cert-de", "cert-at"):
            await upsert_csirt(session=session, csirt=Csirt(id=csirt, name=csirt, country="DE"))
        for pid, csirt in (("hosp-1", "cert-de"), ("hosp-2", "cert-de"), ("hosp-9", "cert-at")):
            await upsert_provider(
                session=session, provider=Provider(id=pid, name=pid, country="DE", csirt_id=csirt)
            )
        for who, role, kw in (
            ("cert-de", Role.CSIRT, {"csirt_id": "cert-de"}),
            ("cert-at", Role.CSIRT, {"csirt_id": "cert-at"}),
            ("hosp-1", Role.PROVIDER, {"provider_id": "hosp-1"}),
            ("operator", Role.OPERATOR, {}),
        ):
            _, key = await create_api_key(session=session, role=role, **kw)  # type: ignore[arg-type]
            keys[who] = {"Authorization": f"Bearer {key}"}
        await session.commit()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as api:
        yield World(runtime, bus, api, keys)
    await runtime.close()


def _alert(provider: str, tlp: str, asset: str, **kw: object) -> Alert:
    return sample_alert(provider_id=provider, tlp=tlp, asset_id=asset, **kw)


ALERTS = {
    "hosp1-amber": _alert("hosp-1", "amber", "a1"),
    "hosp2-green-kev": _alert("hosp-2", "green", "a2", known_exploited=True, severity="critical"),
    "hosp1-red": _alert("hosp-1", "red", "a3"),
    "hosp1-amber-strict": _alert("hosp-1", "amber+strict", "a4"),
    "hosp9-amber": _alert("hosp-9", "amber", "a5"),
    "hosp1-low": _alert("hosp-1", "clear", "a6", severity="low"),
}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({"tlp_ceiling": "red"}, ["hosp1-amber", "hosp2-green-kev", "hosp1-low"], id="constituency-within-tlp"),
        pytest.param({"tlp_ceiling": "red", "min_severity": "medium"}, ["hosp1-amber", "hosp2-green-kev"], id="severity"),
        pytest.param({"known_exploited_only": True}, ["hosp2-green-kev"], id="kev-only"),
        pytest.param({"provider_ids": ["hosp-1"]}, ["hosp1-amber", "hosp1-low"], id="one-provider"),
        pytest.param({"asset_kinds": ["medical_device"]}, [], id="device-class"),
    ],
)  # fmt: skip
async def test_csirt_webhook_receives_only_its_constituency_within_tlp(
    world: World, filters: dict[str, object], expected: list[str]
) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        created = await world.api.post(
            "/api/v1/csirts/cert-de/subscriptions",
            headers=world.keys["cert-de"],
            json={"channel": "webhook", "target": receiver.url(), "filters": filters},
        )
        assert created.status_code == 201, created.text
        receiver.secrets = [created.json()["secret"]]
        async with running_dispatch(
            sessions=world.runtime.sessions, bus=world.bus, topics=TOPICS, settings=world.runtime.settings
        ):
            await publish(world.bus, TOPICS, *ALERTS.values())
            if expected:
                await receiver.wait_accepted(len(expected))

            async def settled() -> bool:
                async with world.runtime.sessions() as session:
                    count = await session.scalar(select(func.count()).select_from(AlertEventRow))
                    return count == len(ALERTS)

            await wait_until(settled)
        got = sorted(r.json()["data"]["id"] for r in receiver.accepted)
        assert got == sorted(ALERTS[name].id for name in expected)
        assert all(r.json()["data"]["provider_id"] in ("hosp-1", "hosp-2") for r in receiver.accepted)
    finally:
        await receiver.down()


async def test_csirt_subscriptions_belong_to_their_csirt(world: World) -> None:
    body = {"channel": "email", "target": "oncall@cert-de.example"}
    path = "/api/v1/csirts/cert-de/subscriptions"
    for who in ("cert-at", "hosp-1"):
        assert (await world.api.post(path, headers=world.keys[who], json=body)).status_code == 404
        assert (await world.api.get(path, headers=world.keys[who])).status_code == 404
    made = await world.api.post(path, headers=world.keys["cert-de"], json=body)
    assert made.status_code == 201 and made.json()["secret"] is None
    sub_id = made.json()["id"]
    listed = (await world.api.get(path, headers=world.keys["operator"])).json()["items"]
    assert [s["id"] for s in listed] == [sub_id]
    providers_own = (await world.api.get("/api/v1/subscriptions", headers=world.keys["operator"])).json()
    assert (providers_own["items"] if isinstance(providers_own, dict) else providers_own) == []
    refused = await world.api.post(path, headers=world.keys["cert-de"], json={**body, "channel": "syslog"})
    assert refused.status_code == 422
    other = f"/api/v1/csirts/cert-at/subscriptions/{sub_id}"
    assert (await world.api.delete(other, headers=world.keys["cert-at"])).status_code == 404
    assert (await world.api.delete(f"{path}/{sub_id}", headers=world.keys["cert-de"])).status_code == 204
    assert (await world.api.get(path, headers=world.keys["cert-de"])).json()["items"] == []
