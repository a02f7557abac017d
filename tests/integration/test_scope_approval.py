"""Asset scope through the API, imports and the running pipeline, on SQLite and PostgreSQL.

A provider cannot register the whole address space, a network wider than the rules allow or a public suffix
(422 naming the rule; an import reports the row); an operator's approval of one exact value, recorded with who,
when and why, lets that provider's write succeed. And the intelligence leak of the report: a provider whose
wide assets were refused — or stored before the rules, straight into the database — receives no TLP:AMBER alert
that matched only another hospital's network or domain.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.receivers import WebhookReceiver

from ewarn.ids import asset_id
from ewarn.models.asset import Asset, AssetKind
from ewarn.store.tables import AssetRow, QuarantineRow, ScopeApprovalRow

AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"  # TLP:AMBER (STIX 2.1 TLP 1.0)


@pytest.fixture
async def pipe(database_url: str) -> AsyncIterator[Harness]:
    async with harness(database_url) as h:
        await h.add_csirt("csirt-health")
        yield h


def _assets_url(tenant: Tenant) -> str:
    return f"/api/v1/providers/{tenant.provider_id}/assets"


@pytest.mark.parametrize(
    ("asset", "reason"),
    [
        pytest.param({"kind": "network", "value": "0.0.0.0/0"}, "covers every IPv4 address", id="v4-all"),
        pytest.param({"kind": "network", "value": "::/0"}, "covers every IPv6 address", id="v6-all"),
        pytest.param({"kind": "network", "value": "10.0.0.0/8"}, "wider than /16", id="v4-slash-8"),
        pytest.param({"kind": "network", "value": "2001:db8::/20"}, "wider than /32", id="v6-slash-20"),
        pytest.param({"kind": "domain", "value": "co.uk"}, "public suffix", id="public-suffix"),
        pytest.param({"kind": "email_domain", "value": "nhs.uk"}, "public suffix", id="email-suffix"),
    ],
)
async def test_wide_scopes_are_refused_with_the_rule(
    pipe: Harness, asset: dict[str, Any], reason: str
) -> None:
    tenant = await pipe.add_tenant("hosp-x", csirt_id="csirt-health")
    batch = [{"kind": "network", "name": "Ward", "value": "192.0.2.0/24"}, {"name": "Too wide", **asset}]
    resp = await pipe.api.post(_assets_url(tenant), headers=tenant.auth, json=batch)
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert [e["field"] for e in problem["errors"]] == ["[1].value"]
    assert reason in problem["errors"][0]["message"]
    listed = await pipe.call("GET", _assets_url(tenant), auth=tenant.auth)
    assert listed["items"] == [], "all or nothing: the valid asset of the batch is not stored either"


async def test_csv_import_reports_the_out_of_scope_rows_and_applies_the_rest(pipe: Harness) -> None:
    tenant = await pipe.add_tenant("hosp-x", csirt_id="csirt-health")
    csv = "kind,name,value\nnetwork,Ward,192.0.2.0/24\nnetwork,Everything,0.0.0.0/0\ndomain,UK,co.uk\n"
    resp = await pipe.api.post(
        f"{_assets_url(tenant)}/import?format=csv",
        headers={**tenant.auth, "Content-Type": "text/csv"},
        content=csv.encode(),
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["imported"] == 1
    reasons = {str(e["row"]): e["reason"] for e in report["errors"]}
    assert len(reasons) == 2
    assert any("covers every IPv4 address" in r for r in reasons.values())
    assert any("public suffix" in r for r in reasons.values())


async def test_operator_approval_lets_exactly_that_scope_through_and_is_recorded(pipe: Harness) -> None:
    tenant = await pipe.add_tenant("hosp-x", csirt_id="csirt-health")
    wide = {"kind": "network", "name": "Regional health network", "value": "10.0.0.0/8"}
    approvals = f"/api/v1/providers/{tenant.provider_id}/scope-approvals"
    body = {"kind": "network", "value": "10.1.2.3/8", "reason": "regional network operator, contract 2026-17"}

    assert (await pipe.api.post(_assets_url(tenant), headers=tenant.auth, json=wide)).status_code == 422
    refused = await pipe.api.post(approvals, headers=tenant.auth, json=body)
    assert refused.status_code == 403, "a provider cannot approve its own scope"
    csirt = await pipe.csirt_key("csirt-health")
    assert (await pipe.api.post(approvals, headers=csirt, json=body)).status_code == 403
    never = await pipe.api.post(approvals, headers=pipe.op, json={**body, "value": "0.0.0.0/0"})
    assert never.status_code == 422 and "every IPv4 address" in never.text
    needless = await pipe.api.post(approvals, headers=pipe.op, json={**body, "value": "192.0.2.0/24"})
    assert needless.status_code == 422 and "needs no approval" in needless.text
    unknown = await pipe.api.post(
        "/api/v1/providers/no-such-hospital/scope-approvals", headers=pipe.op, json=body
    )
    assert unknown.status_code == 404

    before = datetime.now(UTC)
    approved = await pipe.api.post(approvals, headers=pipe.op, json=body)
    assert approved.status_code == 201, approved.text
    record = approved.json()
    assert (record["kind"], record["value"], record["reason"]) == ("network", "10.0.0.0/8", body["reason"])
    assert record["approved_by"].endswith("(test operator)"), "who: the operator key's id and name"
    assert datetime.fromisoformat(record["approved_at"]) >= before.replace(microsecond=0)

    created = await pipe.api.post(_assets_url(tenant), headers=tenant.auth, json=wide)
    assert created.status_code in (200, 201), created.text
    wider = {**wide, "value": "10.0.0.0/7"}
    assert (await pipe.api.post(_assets_url(tenant), headers=tenant.auth, json=wider)).status_code == 422

    # the audit trail: readable by the provider, its CSIRT and operators; not by another tenant
    for auth in (tenant.auth, csirt, pipe.op):
        listed = await pipe.call("GET", approvals, auth=auth)
        assert [(a["value"], a["approved_by"]) for a in listed] == [("10.0.0.0/8", record["approved_by"])]
    other = await pipe.add_tenant("hosp-y", csirt_id="csirt-health")
    assert (await pipe.api.get(approvals, headers=other.auth)).status_code == 404
    async with pipe.runtime.sessions() as session:
        rows = (await session.scalars(select(ScopeApprovalRow))).all()
    assert [(r.provider_id, r.kind, r.value, r.reason) for r in rows] == [
        ("hosp-x", "network", "10.0.0.0/8", body["reason"])
    ]


def _amber_bundle(*patterns: str) -> bytes:
    objects: list[dict[str, Any]] = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
            "created": "2026-12-01T00:00:00.000Z",
            "modified": "2026-12-01T00:00:00.000Z",
            "name": f"threat {i}",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2026-12-01T00:00:00Z",
            "labels": ["malicious-activity"],
            "object_marking_refs": [AMBER],
        }
        for i, pattern in enumerate(patterns, start=1)
    ]
    return json.dumps({"type": "bundle", "id": "bundle--scope-leak", "objects": objects}).encode()


async def _store_directly(pipe: Harness, provider_id: str, kind: AssetKind, value: str) -> str:
    """An asset as it could have been stored before the scope rules (the API refuses it now)."""
    asset = Asset(
        id=asset_id(provider_id=provider_id, kind=kind.value, natural_key=value),
        provider_id=provider_id,
        kind=kind,
        name=f"legacy {value}",
        value=value,
    )
    now = datetime.now(UTC)
    async with pipe.runtime.sessions() as session, session.begin():
        session.add(
            AssetRow(
                id=asset.id,
                provider_id=provider_id,
                kind=kind.value,
                value=value,
                data=asset.model_dump(mode="json"),
                deleted=False,
                created_at=now,
                updated_at=now,
            )
        )
    return asset.id


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[WebhookReceiver, WebhookReceiver]]:
    a, x = WebhookReceiver(), WebhookReceiver()
    await a.start()
    await x.start()
    yield a, x
    await a.down()
    await x.down()


async def test_refused_wide_scopes_receive_no_amber_alert_of_another_hospital(
    pipe: Harness, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    a_rec, x_rec = receivers
    hosp_a = await pipe.add_tenant("hosp-a", csirt_id="csirt-health")
    hosp_x = await pipe.add_tenant("hosp-x", csirt_id="csirt-health")
    for tenant, rec in ((hosp_a, a_rec), (hosp_x, x_rec)):
        sub = await pipe.subscribe_webhook(tenant, rec.url())
        rec.secrets = [sub["secret"]]
    await pipe.add_assets(
        hosp_a,
        [
            {"kind": "network", "name": "Clinical LAN", "value": "198.51.100.0/24"},
            {"kind": "domain", "name": "Portal", "value": "hospital-a.co.uk"},
        ],
    )
    for wide in ({"kind": "network", "value": "0.0.0.0/0"}, {"kind": "domain", "value": "co.uk"}):
        resp = await pipe.api.post(_assets_url(hosp_x), headers=hosp_x.auth, json=wide)
        assert resp.status_code == 422, resp.text
    # what the rules came too late for: stored straight into the database
    legacy = [
        await _store_directly(pipe, "hosp-x", AssetKind.NETWORK, "0.0.0.0/0"),
        await _store_directly(pipe, "hosp-x", AssetKind.DOMAIN, "co.uk"),
        await _store_directly(pipe, "hosp-x", AssetKind.NETWORK, "198.0.0.0/8"),
    ]
    # an approved wide scope still works for its provider; X's own write announces the change (reload)
    approval = {"kind": "network", "value": "10.0.0.0/8", "reason": "regional network operator"}
    await pipe.call("POST", "/api/v1/providers/hosp-x/scope-approvals", auth=pipe.op, json=approval)
    await pipe.add_assets(hosp_x, [{"kind": "network", "name": "Region", "value": "10.0.0.0/8"}])
    await pipe.drained()

    report = await pipe.ingest(
        _amber_bundle(
            "[ipv4-addr:value = '198.51.100.7']",
            "[domain-name:value = 'mail.hospital-a.co.uk']",
            "[ipv4-addr:value = '10.9.9.9']",
        ),
        feed_id="amber-feed",
    )
    assert report.rejected == 0
    await pipe.drained()

    a_alerts = await pipe.alerts(hosp_a.auth)
    assert sorted(a["match"]["indicator_value"] for a in a_alerts) == [
        "198.51.100.7",
        "mail.hospital-a.co.uk",
    ]
    assert {a["tlp"] for a in a_alerts} == {"amber"}
    x_alerts = await pipe.alerts(hosp_x.auth)
    assert [a["match"]["indicator_value"] for a in x_alerts] == ["10.9.9.9"], (
        "only what its approved scope matched"
    )
    assert sorted(r.json()["data"]["match"]["indicator_value"] for r in x_rec.accepted) == ["10.9.9.9"]
    assert len(a_rec.accepted) == 2

    async with pipe.runtime.sessions() as session:
        held = {
            r.key: r.reason
            for r in (await session.scalars(select(QuarantineRow).where(QuarantineRow.kind == "asset"))).all()
        }
    assert set(legacy) <= set(held), "each legacy wide asset is set aside, visibly"
    assert all("out of scope" in held[key] for key in legacy)
