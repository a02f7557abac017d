"""Subscriptions and deliveries through the real API: tenancy (404 for other tenants), secrets shown once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.receivers import (
    WebhookReceiver,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_settled,
)

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.correlate.repository import write_revisions
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.store.db import create_schema
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.repositories.secrets import box_of
from ewarn.store.tables import SubscriptionRow


@dataclass
class Api:
    runtime: Runtime
    client: httpx.AsyncClient
    keys: dict[str, dict[str, str]]  # who → auth header

    async def call(self, who: str, method: str, path: str, **kw: object) -> httpx.Response:
        return await self.client.request(method, path, headers=self.keys[who], **kw)  # type: ignore[arg-type]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = dispatch_settings().model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"}
    )
    runtime = Runtime.build(settings, bus=MemoryBus())
    await create_schema(runtime.engine)
    keys: dict[str, dict[str, str]] = {}
    async with runtime.sessions() as session:
        await upsert_csirt(session=session, csirt=Csirt(id="cert-de", name="Health CERT", country="DE"))
        for pid, csirt in (("st-elsewhere", "cert-de"), ("county-general", None)):
            await upsert_provider(
                session=session, provider=Provider(id=pid, name=pid, country="DE", csirt_id=csirt)
            )
        for who, role, kw in (
            ("operator", Role.OPERATOR, {}),
            ("a", Role.PROVIDER, {"provider_id": "st-elsewhere"}),
            ("b", Role.PROVIDER, {"provider_id": "county-general"}),
            ("csirt", Role.CSIRT, {"csirt_id": "cert-de"}),
        ):
            _, key = await create_api_key(session=session, role=role, **kw)  # type: ignore[arg-type]
            keys[who] = {"Authorization": f"Bearer {key}"}
        await session.commit()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as client:
        yield Api(runtime, client, keys)
    await runtime.close()


HOOK = {"channel": "webhook", "target": "https://soc.st-elsewhere.example/ewarn"}


async def test_secret_is_shown_once_and_never_again(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    created = await api.call("a", "POST", "/api/v1/providers/st-elsewhere/subscriptions", json=HOOK)
    assert created.status_code == 201, created.text
    body = created.json()
    secret, sub_id = body["secret"], body["id"]
    assert secret.startswith("whsec_") and body["provider_id"] == "st-elsewhere"
    responses = [
        await api.call("a", "GET", f"/api/v1/subscriptions/{sub_id}"),
        await api.call("a", "GET", "/api/v1/providers/st-elsewhere/subscriptions"),
        await api.call("operator", "GET", "/api/v1/subscriptions"),
        await api.call(
            "a", "PATCH", f"/api/v1/subscriptions/{sub_id}", json={"filters": {"min_severity": "high"}}
        ),
        await api.call("a", "POST", f"/api/v1/subscriptions/{sub_id}/enable"),
    ]
    for resp in responses:
        assert resp.status_code == 200, resp.text
        assert secret not in resp.text and "secret" not in resp.json().__repr__().replace("rotation", "")
    assert responses[3].json()["filters"]["min_severity"] == "high"
    rotated = await api.call(
        "a", "POST", f"/api/v1/subscriptions/{sub_id}/rotate-secret", json={"overlap_hours": 2}
    )
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != secret
    after = (await api.call("a", "GET", f"/api/v1/subscriptions/{sub_id}")).json()
    assert after["rotation_ends_at"] is not None and new not in str(after) and secret not in str(after)
    async with api.runtime.sessions() as session:
        row = await session.get(SubscriptionRow, sub_id)
        assert row is not None and row.secret and row.previous_secret
        box = box_of(session)  # stored sealed (secrets at rest); they open to the secrets the API showed
        stored = (box.open(row.secret, row="s"), box.open(row.previous_secret, row="p"))
        assert stored == (new, secret) and new not in row.secret and secret not in row.previous_secret
    out, err = capsys.readouterr()
    assert secret not in out + err and new not in out + err, "secrets are never logged"


async def test_other_tenants_get_404_and_csirts_read_only(api: Api) -> None:
    sub_id = (await api.call("a", "POST", "/api/v1/providers/st-elsewhere/subscriptions", json=HOOK)).json()[
        "id"
    ]
    for method, path in [
        ("GET", f"/api/v1/subscriptions/{sub_id}"),
        ("PATCH", f"/api/v1/subscriptions/{sub_id}"),
        ("DELETE", f"/api/v1/subscriptions/{sub_id}"),
        ("POST", f"/api/v1/subscriptions/{sub_id}/rotate-secret"),
        ("POST", f"/api/v1/subscriptions/{sub_id}/enable"),
        ("GET", f"/api/v1/subscriptions/{sub_id}/deliveries"),
        ("GET", "/api/v1/providers/st-elsewhere/subscriptions"),
        ("POST", "/api/v1/providers/st-elsewhere/subscriptions"),
    ]:
        kw = {"json": HOOK if path.endswith("subscriptions") else {}} if method in ("POST", "PATCH") else {}
        resp = await api.call("b", method, path, **kw)
        assert resp.status_code == 404, (method, path, resp.status_code)
    assert (await api.call("b", "GET", "/api/v1/subscriptions")).json() == []
    assert (await api.call("csirt", "GET", f"/api/v1/subscriptions/{sub_id}")).status_code == 200
    assert (
        await api.call("csirt", "POST", f"/api/v1/subscriptions/{sub_id}/rotate-secret")
    ).status_code == 403
    denied = await api.call("csirt", "POST", "/api/v1/providers/st-elsewhere/subscriptions", json=HOOK)
    assert denied.status_code == 403
    assert (
        await api.call("csirt", "GET", "/api/v1/providers/county-general/subscriptions")
    ).status_code == 404
    by_operator = await api.call(
        "operator", "POST", "/api/v1/providers/county-general/subscriptions", json=HOOK
    )
    assert by_operator.status_code == 201 and by_operator.json()["provider_id"] == "county-general"
    assert (await api.call("a", "GET", "/api/v1/subscriptions/sub_nonexistent")).status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"channel": "webhook", "target": "http://10.0.0.8/hook"}, 422, id="private-literal"),
        pytest.param({"channel": "webhook", "target": "http://169.254.169.254/"}, 422, id="metadata"),
        pytest.param({"channel": "webhook", "target": "ftp://soc.example/x"}, 422, id="scheme"),
        pytest.param(
            {"channel": "webhook", "target": "http://127.0.0.1:9/h"}, 201, id="allow-listed-loopback"
        ),
        pytest.param({"channel": "email", "target": "not-an-address"}, 422, id="bad-email"),
        pytest.param({"channel": "email", "target": "soc@st-elsewhere.example"}, 201, id="email"),
        pytest.param(
            {"channel": "webhook", "target": "https://x.example/", "payload_format": "xml"}, 422, id="format"
        ),
    ],
)
async def test_targets_are_checked_at_creation(api: Api, body: dict[str, str], code: int) -> None:
    resp = await api.call("a", "POST", "/api/v1/providers/st-elsewhere/subscriptions", json=body)
    assert resp.status_code == code, resp.text
    if code == 201 and body["channel"] == "email":
        assert resp.json()["secret"] is None


async def test_delete_and_disable(api: Api) -> None:
    sub_id = (await api.call("a", "POST", "/api/v1/providers/st-elsewhere/subscriptions", json=HOOK)).json()[
        "id"
    ]
    off = await api.call(
        "a", "POST", f"/api/v1/subscriptions/{sub_id}/disable", json={"reason": "maintenance"}
    )
    assert off.json()["enabled"] is False and off.json()["disabled_reason"] == "maintenance"
    on = await api.call("a", "POST", f"/api/v1/subscriptions/{sub_id}/enable")
    assert on.json()["enabled"] is True and on.json()["disabled_reason"] is None
    assert (await api.call("a", "DELETE", f"/api/v1/subscriptions/{sub_id}")).status_code == 204
    assert (await api.call("a", "GET", f"/api/v1/subscriptions/{sub_id}")).status_code == 404
    assert (await api.call("a", "GET", f"/api/v1/subscriptions/{sub_id}/deliveries")).json() == []
    async with api.runtime.sessions() as session:
        row = await session.get(SubscriptionRow, sub_id)
        assert row is not None and row.secret is None and row.deleted_at is not None


async def test_delivery_log_dead_letters_and_replay_through_the_api(api: Api) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    created = await api.call(
        "a",
        "POST",
        "/api/v1/providers/st-elsewhere/subscriptions",
        json={"channel": "webhook", "target": receiver.url()},
    )
    sub_id, receiver.secrets = created.json()["id"], [created.json()["secret"]]
    receiver.fail(2, status=503)
    rt = api.runtime
    settings = rt.settings.model_copy(
        update={"dispatch": rt.settings.dispatch.model_copy(update={"max_attempts": 2})}
    )
    try:
        async with running_dispatch(sessions=rt.sessions, bus=rt.bus, topics=rt.topics, settings=settings):
            alert = sample_alert()
            async with rt.sessions() as session, session.begin():  # stored, as the correlator does first
                await write_revisions(session=session, revisions=[(None, alert)])
            await publish(rt.bus, rt.topics, alert)
            [row] = await wait_settled(rt.sessions, 1)
            assert row.status == "dead"
            log = (await api.call("a", "GET", f"/api/v1/subscriptions/{sub_id}/deliveries")).json()
            [entry] = log
            assert entry["status"] == "dead" and entry["attempts"] == 2 and entry["last_status_code"] == 503
            assert [(a["attempt"], a["status_code"], a["ok"]) for a in entry["attempt_log"]] == [
                (1, 503, False),
                (2, 503, False),
            ]
            assert all(
                a["latency_ms"] is not None and a["error"].startswith("HTTP 503")
                for a in entry["attempt_log"]
            )
            dead_a = (await api.call("a", "GET", "/api/v1/deliveries/dead")).json()
            assert [d["id"] for d in dead_a] == [row.id]
            assert (await api.call("b", "GET", "/api/v1/deliveries/dead")).json() == []
            assert (await api.call("operator", "GET", "/api/v1/deliveries/dead")).json()[0]["id"] == row.id
            assert (await api.call("b", "GET", f"/api/v1/deliveries/{row.id}")).status_code == 404
            assert (await api.call("b", "POST", f"/api/v1/deliveries/{row.id}/replay")).status_code == 404
            assert (await api.call("csirt", "POST", f"/api/v1/deliveries/{row.id}/replay")).status_code == 403
            replayed = await api.call("a", "POST", f"/api/v1/deliveries/{row.id}/replay")
            assert replayed.status_code == 202 and replayed.json()["delivery"]["status"] == "pending"
            again = await api.call("operator", "POST", f"/api/v1/deliveries/{row.id}/replay")
            assert again.status_code == 409, "a queued replay is not queued twice"
            [got] = await receiver.wait_accepted(1)
            [row] = await wait_settled(rt.sessions, 1)
        assert got.webhook_id == row.id and row.status == "delivered" and len(receiver.accepted) == 1
        detail = (await api.call("csirt", "GET", f"/api/v1/deliveries/{row.id}")).json()
        assert [a["ok"] for a in detail["attempt_log"]] == [False, False, True]
        assert detail["dispatched_at"] is not None and detail["delivered_at"] is not None
        assert (await api.call("operator", "POST", f"/api/v1/deliveries/{row.id}/replay")).status_code == 409
    finally:
        await receiver.down()
