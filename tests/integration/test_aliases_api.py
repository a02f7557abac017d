"""Vendor aliases through the API on SQLite and PostgreSQL: managed by operators, audited, applied live.

A hospital registers a pump under its brand; the advisory names only the brand's new owner. Nothing alerts
until an operator adds the alias; then the running correlator (no restart) raises the alert for the advisory
already stored; removing the alias resolves it. Provider keys read aliases but cannot write them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.pipeline import Harness, Tenant, harness

from ewarn import names
from ewarn.store.tables import VendorAliasChangeRow, VendorAliasRow

URL = "/api/v1/vendor-aliases"

ADVISORY = {
    "dataType": "CVE_RECORD",
    "dataVersion": "5.1",
    "cveMetadata": {"cveId": "CVE-2099-0001", "state": "PUBLISHED", "datePublished": "2026-11-30T10:00:00Z"},
    "containers": {
        "cna": {
            "providerMetadata": {"orgId": "00000000-0000-4000-8000-000000000000"},
            "title": "FlowMax pumps accept unauthenticated commands",
            "descriptions": [
                {"lang": "en", "value": "FlowMax infusion pumps accept unauthenticated commands."}
            ],
            "affected": [
                {
                    "vendor": "Zentrix Medical Holdings",
                    "product": "FlowMax 3000",
                    "defaultStatus": "unaffected",
                    "versions": [
                        {"version": "0", "lessThan": "2.0", "status": "affected", "versionType": "custom"}
                    ],
                }
            ],
            "metrics": [
                {
                    "cvssV3_1": {
                        "baseScore": 8.8,
                        "baseSeverity": "HIGH",
                        "vectorString": "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                        "version": "3.1",
                    }
                }
            ],
        }
    },
}


@pytest.fixture
async def pipe(database_url: str) -> AsyncIterator[Harness]:
    try:
        async with harness(database_url) as h:
            await h.add_csirt("csirt-health")
            yield h
    finally:
        names.set_operator_aliases(())  # the alias table is process-wide: leave the default for other tests


async def _pump_tenant(h: Harness) -> Tenant:
    tenant = await h.add_tenant("hosp-pumps", csirt_id="csirt-health")
    await h.add_assets(
        tenant,
        [
            {
                "kind": "medical_device",
                "name": "Pump ICU-3",
                "vendor": "Flowtek",
                "product": "FlowMax 3000",
                "version": "1.4",
            }
        ],
    )
    return tenant


async def _open_alerts(h: Harness, tenant: Tenant) -> list[dict[str, Any]]:
    return [a for a in await h.alerts(tenant.auth) if a["status"] != "resolved"]


async def test_an_operator_alias_applies_to_the_running_correlator_and_is_audited(pipe: Harness) -> None:
    tenant = await _pump_tenant(pipe)
    await pipe.ingest(json.dumps(ADVISORY).encode(), kind="cve5", feed_id="cve")
    await pipe.drained()
    assert await _open_alerts(pipe, tenant) == [], "the brand alone does not meet its owner's advisory"

    alias = {
        "alias": "Flowtek",
        "brand": "Flowtek",
        "group": "Zentrix Medical Holdings",
        "note": "acquired 2025",
    }
    written = await pipe.call("POST", URL, auth=pipe.op, json=alias)
    assert written["action"] == "add" and written["alias"]["alias_key"] == "flowtek"
    assert (await pipe.call("POST", URL, auth=pipe.op, json=alias))["action"] == "unchanged"
    await pipe.drained()
    [alert] = await _open_alerts(pipe, tenant)
    assert alert["asset_id"] and "FlowMax 3000" in alert["reason"]

    resolved = await pipe.call("GET", f"{URL}/resolve", auth=tenant.auth, params={"name": "Flowtek Inc."})
    assert (resolved["brand"], resolved["group"], resolved["known"]) == (
        "flowtek",
        "zentrix medical holdings",
        True,
    )

    resp = await pipe.api.delete(URL, headers=pipe.op, params={"alias": "FLOWTEK"})
    assert resp.status_code == 204, resp.text
    await pipe.drained()
    assert await _open_alerts(pipe, tenant) == []
    assert (await pipe.api.delete(URL, headers=pipe.op, params={"alias": "Flowtek"})).status_code == 404

    changes = await pipe.call("GET", f"{URL}/changes", auth=pipe.op)
    assert [c["action"] for c in changes] == ["remove", "add"]
    assert changes[1]["after"] == alias and changes[0]["before"] == alias
    assert all("test operator" in c["actor"] for c in changes)


async def test_provider_and_csirt_keys_read_but_never_write(pipe: Harness) -> None:
    tenant = await _pump_tenant(pipe)
    csirt = await pipe.csirt_key("csirt-health")
    alias = {"alias": "Flowtek", "brand": "Flowtek", "group": "Baxter"}
    for auth in (tenant.auth, csirt):
        assert (await pipe.api.get(URL, headers=auth)).status_code == 200
        assert (await pipe.api.post(URL, headers=auth, json=alias)).status_code == 403
        assert (await pipe.api.post(f"{URL}/import", headers=auth, json=[alias])).status_code == 403
        assert (await pipe.api.delete(URL, headers=auth, params={"alias": "Flowtek"})).status_code == 403
        assert (await pipe.api.get(f"{URL}/changes", headers=auth)).status_code == 403
    assert (await pipe.api.get(URL)).status_code == 401
    async with pipe.runtime.sessions() as session:
        assert (await session.scalars(select(VendorAliasRow))).all() == []
        assert (await session.scalars(select(VendorAliasChangeRow))).all() == []


@pytest.mark.parametrize(
    ("fmt", "body", "content_type", "expected"),
    [
        pytest.param(
            "json",
            json.dumps({"aliases": [{"alias": "Flowtek", "brand": "Flowtek", "group": "Welch Allyn"}]}),
            "application/json",
            {"flowtek": "baxter"},
            id="json-export-format",
        ),
        pytest.param(
            "csv",
            "alias,brand,group,note\nFlowtek GmbH,Flowtek,ICU Medical,\nPumpCo,PumpCo,Smiths Medical,bought 2020\n",
            "text/csv",
            {"flowtek": "icu medical", "pumpco": "icu medical"},
            id="csv",
        ),
    ],
)
async def test_import_files(
    pipe: Harness, fmt: str, body: str, content_type: str, expected: dict[str, str]
) -> None:
    resp = await pipe.api.post(
        f"{URL}/import?format={fmt}", headers={**pipe.op, "Content-Type": content_type}, content=body.encode()
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"added": len(expected), "updated": 0, "unchanged": 0}
    table = await pipe.call("GET", URL, auth=pipe.op)
    assert {a["alias_key"] for a in table["operator"]} == set(expected)
    assert len(table["default"]) > 400
    assert {k: names.canonical_vendor(k).group for k in expected} == expected


@pytest.mark.parametrize(
    ("fmt", "body", "reason"),
    [
        pytest.param("json", "{not json", "not JSON", id="not-json"),
        pytest.param(
            "json", json.dumps([{"alias": "Acme", "brand": "Acme"}]), "alias 1: group", id="missing-group"
        ),
        pytest.param(
            "json",
            json.dumps([{"alias": "Inc.", "brand": "X", "group": "Y"}]),
            "alias 1: alias",
            id="only-suffix",
        ),
        pytest.param("csv", "name,owner\nAcme,Baxter\n", "CSV header lacks", id="csv-header"),
        pytest.param(
            "json",
            json.dumps(
                [
                    {"alias": "Good", "brand": "Good", "group": "Baxter"},
                    {"alias": "Bad\u0000", "brand": "B", "group": "C"},
                ]
            ),
            "alias 2",
            id="bad-second-row-refuses-all",
        ),
    ],
)
async def test_bad_import_files_are_refused_whole(pipe: Harness, fmt: str, body: str, reason: str) -> None:
    resp = await pipe.api.post(f"{URL}/import?format={fmt}", headers=pipe.op, content=body.encode())
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert reason in resp.text
    table = await pipe.call("GET", URL, auth=pipe.op)
    assert table["operator"] == []
