"""The alert workflow through the real API on SQLite and PostgreSQL: transitions, 409s, history, audit,
a false-positive verdict that becomes a suppression rule, overdue alerts and the response-time report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from tests.support.receivers import sample_alert

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.models.alert import Alert
from ewarn.models.common import utcnow
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.tables import AlertRow, AuditLogRow
from ewarn.workflow.scheduler import WorkflowScheduler


@dataclass
class Api:
    runtime: Runtime
    client: httpx.AsyncClient
    keys: dict[str, dict[str, str]]
    key_ids: dict[str, str]

    async def call(self, who: str, method: str, path: str, **kw: object) -> httpx.Response:
        return await self.client.request(method, path, headers=self.keys[who], **kw)  # type: ignore[arg-type]


async def _store(api: Api, alert: Alert) -> None:
    async with api.runtime.sessions() as session, session.begin():
        session.add(
            AlertRow(
                id=alert.id,
                provider_id=alert.provider_id,
                indicator_key=alert.indicator_key,
                asset_id=alert.asset_id,
                revision=1,
                severity=alert.severity.value,
                score=alert.score,
                status="new",
                data=alert.model_dump(mode="json"),
                matched_at=alert.matched_at,
                created_at=alert.matched_at,
                updated_at=alert.matched_at,
            )
        )


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    runtime = Runtime.build(Settings(database_url=database_url), bus=MemoryBus())
    await upgrade_to_head(runtime.engine)  # the migrations, 0011 included, are the schema
    keys: dict[str, dict[str, str]] = {}
    key_ids: dict[str, str] = {}
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
            principal, key = await create_api_key(session=session, role=role, name=f"{who} key", **kw)  # type: ignore[arg-type]
            keys[who] = {"Authorization": f"Bearer {key}"}
            key_ids[who] = principal.key_id
        await session.commit()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as client:
        yield Api(runtime, client, keys, key_ids)
    await runtime.close()


# (who, target status, comment, expected HTTP status, words the 409 reason must hold)
STEPS = [
    ("a", "acknowledged", "seen by the night shift", 200, None),
    ("a", "acknowledged", None, 409, "already acknowledged"),
    ("a", "new", None, 409, "cannot become new"),
    ("csirt", "in_progress", None, 403, None),
    ("operator", "in_progress", "patch scheduled for 02:00", 200, None),
    ("a", "acknowledged", None, 409, "in_progress cannot become acknowledged"),
    ("a", "resolved", "firmware 12.1.2 installed", 200, None),
    ("a", "in_progress", None, 409, "allowed: acknowledged"),
    ("a", "acknowledged", "reopened: second pump found", 200, None),
]


async def test_transitions_are_enforced_and_every_one_is_in_the_history(api: Api) -> None:
    alert = sample_alert(severity="critical", matched_at=utcnow() - timedelta(hours=3))
    await _store(api, alert)
    url = f"/api/v1/alerts/{alert.id}"
    updated = [(await api.call("a", "GET", url)).json()["updated_at"]]
    for who, target, comment, code, reason in STEPS:
        body = {"status": target} | ({"comment": comment} if comment else {})
        resp = await api.call(who, "POST", f"{url}/status", json=body)
        assert resp.status_code == code, (who, target, resp.text)
        if code == 409:
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert reason is not None and reason in resp.json()["detail"]
        if code == 200:
            assert resp.json()["status"] == target
            updated.append(resp.json()["updated_at"])
    assert updated == sorted(updated) and len(set(updated)) == len(updated), (
        "updated_at moves on every change"
    )
    history = (await api.call("csirt", "GET", f"{url}/history")).json()
    done = [s for s in STEPS if s[3] == 200]
    assert history["status"] == "acknowledged"
    assert [(t["from_status"], t["to_status"]) for t in history["transitions"]] == [
        ("new", "acknowledged"),
        ("acknowledged", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "acknowledged"),
    ]
    assert [t["comment"] for t in history["transitions"]] == [s[2] for s in done]
    assert [t["actor"] for t in history["transitions"]] == [api.key_ids[s[0]] for s in done]
    assert [t["actor_name"] for t in history["transitions"]] == [f"{s[0]} key" for s in done]
    stamps = [t["at"] for t in history["transitions"]]
    assert stamps == sorted(stamps)
    assert (await api.call("b", "GET", f"{url}/history")).status_code == 404
    async with api.runtime.sessions() as session:
        audited = (
            await session.scalars(
                select(AuditLogRow).where(AuditLogRow.action == "set_status").order_by(AuditLogRow.id)
            )
        ).all()
    assert [(r.actor, r.summary.get("status"), r.provider_id) for r in audited] == [
        (api.key_ids[s[0]], s[1], "st-elsewhere") for s in done
    ]


async def test_false_positive_proposes_a_rule_that_is_listed_and_audited(api: Api) -> None:
    alert = sample_alert()
    await _store(api, alert)
    resp = await api.call(
        "a",
        "POST",
        f"/api/v1/alerts/{alert.id}/status",
        json={
            "status": "false_positive",
            "comment": "our own scanner",
            "suppress": {"scope": "asset_indicator"},
        },
    )
    assert resp.status_code == 200, resp.text
    rules = (await api.call("a", "GET", "/api/v1/suppressions")).json()["items"]
    assert [(r["asset_id"], r["indicator_key"], r["source_alert_id"], r["reason"]) for r in rules] == [
        (alert.asset_id, alert.indicator_key, alert.id, "our own scanner")
    ]
    rule_id = rules[0]["id"]
    assert (await api.call("csirt", "GET", f"/api/v1/suppressions/{rule_id}")).status_code == 200
    assert (await api.call("b", "GET", f"/api/v1/suppressions/{rule_id}")).status_code == 404
    assert (await api.call("b", "GET", "/api/v1/suppressions")).json()["items"] == []
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    expired = await api.call("a", "PATCH", f"/api/v1/suppressions/{rule_id}", json={"expires_at": past})
    assert expired.status_code == 200 and expired.json()["active"] is False
    assert (await api.call("a", "GET", "/api/v1/suppressions")).json()["items"] == []
    listed = (await api.call("a", "GET", "/api/v1/suppressions?include_expired=true")).json()["items"]
    assert [r["id"] for r in listed] == [rule_id]
    assert (await api.call("a", "DELETE", f"/api/v1/suppressions/{rule_id}")).status_code == 204
    assert (await api.call("a", "GET", f"/api/v1/suppressions/{rule_id}")).status_code == 404
    async with api.runtime.sessions() as session:
        actions = [
            (r.action, r.resource)
            for r in await session.scalars(select(AuditLogRow).order_by(AuditLogRow.id))
            if r.resource in ("suppression", "alert")
        ]
    assert actions == [
        ("set_status", "alert"),
        ("create", "suppression"),
        ("update", "suppression"),
        ("delete", "suppression"),
    ]
    bad = await api.call(
        "a", "POST", f"/api/v1/alerts/{alert.id}/status", json={"status": "acknowledged", "suppress": {}}
    )
    assert bad.status_code == 422, "a rule is proposed only with a false-positive verdict"


async def test_overdue_alerts_and_response_times_per_provider(api: Api) -> None:
    now = utcnow()
    late = sample_alert(severity="critical", matched_at=now - timedelta(days=5), asset_id="ast_late")
    quick = sample_alert(severity="critical", matched_at=now - timedelta(hours=2), asset_id="ast_quick")
    other = sample_alert(
        provider_id="county-general", severity="critical", matched_at=now - timedelta(days=5)
    )
    for alert in (late, quick, other):
        await _store(api, alert)
    await WorkflowScheduler(sessions=api.runtime.sessions, settings=api.runtime.settings.workflow).tick()
    assert (
        await api.call("a", "POST", f"/api/v1/alerts/{quick.id}/status", json={"status": "acknowledged"})
    ).status_code == 200
    overdue = (await api.call("csirt", "GET", "/api/v1/workflow/overdue")).json()["items"]
    assert [(o["alert_id"], o["due"]) for o in overdue] == [(late.id, "acknowledge")]
    assert overdue[0]["overdue_seconds"] > 2 * 86400
    everything = (await api.call("operator", "GET", "/api/v1/workflow/overdue")).json()["items"]
    assert {o["alert_id"] for o in everything} == {late.id, other.id}
    status = (await api.call("operator", "GET", "/api/v1/status")).json()["overdue"]
    assert (status["total"], status["acknowledge"], status["resolve"]) == (2, 2, 0)
    assert {o["alert_id"] for o in status["latest"]} == {late.id, other.id}
    report = await api.call("csirt", "GET", "/api/v1/reports/response-times")
    assert report.status_code == 200
    [row] = report.json()["providers"]
    assert (row["provider_id"], row["alerts"], row["acknowledged"], row["open_overdue"]) == (
        "st-elsewhere",
        2,
        1,
        1,
    )
    assert 2 * 3600 - 60 < row["acknowledge_p50_seconds"] < 2 * 3600 + 60
    assert (
        row["acknowledge_p90_seconds"] == row["acknowledge_p50_seconds"]
        and row["resolve_p50_seconds"] is None
    )
    assert (await api.call("a", "GET", "/api/v1/reports/response-times")).status_code == 403
    by_op = (await api.call("operator", "GET", "/api/v1/reports/response-times")).json()["providers"]
    assert [p["provider_id"] for p in by_op] == ["county-general", "st-elsewhere"]


@pytest.mark.parametrize(
    ("proposal", "code", "rule"),
    [
        pytest.param({"scope": "product_cve"}, 200, ("BD", "Alaris", None, "CVE-2020-25158"), id="alert-cve"),
        pytest.param(
            {"scope": "product_cve", "version": "12.1.0", "cve": "cve-2020-25159"},
            200,
            ("BD", "Alaris", "12.1.0", "CVE-2020-25159"),
            id="named-cve-and-version",
        ),
        pytest.param({"scope": "product_cve", "cve": "CVE-2099-0001"}, 422, None, id="cve-not-of-the-alert"),
    ],
)
async def test_false_positive_proposes_a_product_rule(
    api: Api, proposal: dict[str, str], code: int, rule: tuple[str, ...] | None
) -> None:
    from ewarn.store.tables import AssetRow

    alert = sample_alert(asset_id="ast_pump", cves=["CVE-2020-25158", "CVE-2020-25159"])
    await _store(api, alert)
    async with api.runtime.sessions() as session, session.begin():
        data = {"id": "ast_pump", "provider_id": "st-elsewhere", "kind": "medical_device", "name": "Pumps"}
        session.add(
            AssetRow(
                id="ast_pump",
                provider_id="st-elsewhere",
                kind="medical_device",
                value=None,
                data={**data, "vendor": "BD", "product": "Alaris", "version": "12.1.0"},
                deleted=False,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    body = {"status": "false_positive", "suppress": proposal}
    resp = await api.call("a", "POST", f"/api/v1/alerts/{alert.id}/status", json=body)
    assert resp.status_code == code, resp.text
    rules = (await api.call("a", "GET", "/api/v1/suppressions")).json()["items"]
    made = [(r["vendor"], r["product"], r["version"], r["cve"]) for r in rules]
    assert made == ([rule] if rule else [])
    status = (await api.call("a", "GET", f"/api/v1/alerts/{alert.id}")).json()["status"]
    assert status == ("false_positive" if code == 200 else "new"), "a refused proposal changes nothing"
