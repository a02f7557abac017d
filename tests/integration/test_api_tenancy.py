"""Tenancy is security: every API route is classified here, and every cross-tenant call is refused.

Two hospitals under two CSIRTs share one threat (the same indicator hits both), so each has an asset, an alert,
a subscription, a delivery and a dead letter. A new route that is not listed below fails
``test_every_route_is_classified`` until someone decides who may call it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.support.pipeline import TwoTenantWorld as World
from tests.support.pipeline import harness, seed_two_tenants
from tests.support.receivers import Reply, WebhookReceiver

from ewarn.models.common import utcnow

BUNDLE = {
    "type": "bundle",
    "id": "bundle--4d0f3c1e-0000-4000-8000-000000000001",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--4d0f3c1e-0000-4000-8000-000000000002",
            "created": "2026-11-01T00:00:00Z",
            "modified": "2026-11-01T00:00:00Z",
            "name": "LockBit affiliate C2",
            "pattern": "[ipv4-addr:value = '203.0.113.7']",
            "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z",
            "labels": ["ransomware"],
        }
    ],
}


@pytest.fixture(scope="module")
async def world(module_database_url: str) -> AsyncIterator[World]:
    """Shared by the module: every call below is refused, so none of them changes the world."""
    good, dead = WebhookReceiver(), WebhookReceiver(default=Reply(status=500))
    await good.start()
    await dead.start()
    # every route is called with wrong keys below: room for them all in the per-address auth-failure budget
    async with harness(
        module_database_url, max_attempts=2, api_limits={"auth_failures_per_address": "1000/minute"}
    ) as h:
        a, b, a_asset, b_asset = await seed_two_tenants(h)
        a_sub = await h.subscribe_webhook(a, good.url())
        b_sub = await h.subscribe_webhook(b, dead.url())
        good.secrets, dead.secrets = [a_sub["secret"]], [b_sub["secret"]]
        await h.ingest(json.dumps(BUNDLE).encode())
        await h.drained()
        (a_alert,) = await h.alerts(a.auth)
        (b_alert,) = await h.alerts(b.auth)
        dead_letters = await h.call("GET", "/api/v1/deliveries/dead", auth=b.auth)
        (b_delivery,) = dead_letters["items"] if isinstance(dead_letters, dict) else dead_letters
        a_log = await h.call("GET", f"/api/v1/subscriptions/{a_sub['id']}/deliveries", auth=a.auth)
        (a_delivery,) = a_log["items"] if isinstance(a_log, dict) else a_log
        ids = {
            "a_asset": a_asset["id"],
            "b_asset": b_asset["id"],
            "a_sub": a_sub["id"],
            "b_sub": b_sub["id"],
            "a_alert": a_alert["id"],
            "b_alert": b_alert["id"],
            "a_delivery": a_delivery["id"],
            "b_delivery": b_delivery["id"],
            "a_key": (await h.call("GET", "/api/v1/whoami", auth=a.auth))["key_id"],
            "b_key": (await h.call("GET", "/api/v1/whoami", auth=b.auth))["key_id"],
        }
        for owner, tenant in (("a", a), ("b", b)):  # suppression rules (issue 14) that match nothing
            rule = {
                "provider_id": tenant.provider_id,
                "asset_id": "ast_none",
                "indicator_key": "ipv4:192.0.2.1",
            }
            made = await h.call("POST", "/api/v1/suppressions", auth=h.op, json={**rule, "reason": "tenancy"})
            ids[f"{owner}_rule"] = made["id"]
        yield World(h, a, b, await h.csirt_key("csirt-1"), ids, [a_sub["secret"], b_sub["secret"]])
    await good.down()
    await dead.down()


CSV = "kind,name,value\nnetwork,Injected,198.51.100.0/24\n"

# (method, path template, body kwargs): routes that act on one provider's data. {P} is the provider in the path.
TENANT_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/providers/{P}", {}),
    (
        "POST",
        "/api/v1/providers/{P}/assets",
        {"json": [{"kind": "network", "name": "X", "value": "198.51.100.0/24"}]},
    ),
    ("GET", "/api/v1/providers/{P}/assets", {}),
    ("POST", "/api/v1/providers/{P}/assets/import?format=csv", {"content": CSV}),
    ("GET", "/api/v1/providers/{P}/assets/{asset}", {}),
    ("GET", "/api/v1/providers/{P}/scope-approvals", {}),
    ("DELETE", "/api/v1/providers/{P}/assets/{asset}", {}),
    (
        "POST",
        "/api/v1/providers/{P}/subscriptions",
        {"json": {"channel": "webhook", "target": "http://127.0.0.1:9/x"}},
    ),
    ("GET", "/api/v1/providers/{P}/subscriptions", {}),
    ("GET", "/api/v1/subscriptions/{sub}", {}),
    ("PATCH", "/api/v1/subscriptions/{sub}", {"json": {}}),
    ("DELETE", "/api/v1/subscriptions/{sub}", {}),
    ("GET", "/api/v1/subscriptions/{sub}/deliveries", {}),
    ("POST", "/api/v1/subscriptions/{sub}/disable", {}),
    ("POST", "/api/v1/subscriptions/{sub}/enable", {}),
    ("POST", "/api/v1/subscriptions/{sub}/rotate-secret", {}),
    ("GET", "/api/v1/alerts/{alert}", {}),
    ("POST", "/api/v1/alerts/{alert}/status", {"json": {"status": "false_positive"}}),
    ("GET", "/api/v1/alerts/{alert}/history", {}),
    ("GET", "/api/v1/providers/{P}/escalation-contact", {}),
    ("PUT", "/api/v1/providers/{P}/escalation-contact", {"json": {"email": None}}),
    ("GET", "/api/v1/suppressions/{rule}", {}),
    ("PATCH", "/api/v1/suppressions/{rule}", {"json": {}}),
    ("DELETE", "/api/v1/suppressions/{rule}", {}),
    ("GET", "/api/v1/deliveries/{delivery}", {}),
    ("POST", "/api/v1/deliveries/{delivery}/replay", {}),
    # Keys: a provider manages its tenant's keys, a CSIRT reads its constituency's (test_api_keys_lifecycle.py).
    ("GET", "/api/v1/keys/{key}", {}),
    ("POST", "/api/v1/keys/{key}/revoke", {}),
    ("POST", "/api/v1/keys/{key}/rotate", {"json": {}}),
]
# Routes that list: every caller gets only what it may see (checked by content below).
LIST_ROUTES = {
    ("GET", "/api/v1/providers"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/alert-events"),
    ("GET", "/api/v1/alert-events/stream"),  # SSE; content checked in tests/integration/test_sse_stream.py
    ("GET", "/api/v1/subscriptions"),
    ("GET", "/api/v1/deliveries/dead"),
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/keys"),  # content checked in tests/integration/test_api_keys_lifecycle.py
    ("GET", "/api/v1/vendor-aliases"),  # anyone authenticated reads the alias table
    ("GET", "/api/v1/vendor-aliases/resolve"),
    ("GET", "/api/v1/audit"),  # a provider its own rows, a CSIRT its constituency's, operators all
    ("GET", "/api/v1/audit/export"),
    ("GET", "/api/v1/exports/alerts"),  # per role and TLP: tests/integration/test_exports.py
    ("GET", "/api/v1/suppressions"),  # a provider its own rules, a CSIRT its constituency's, operators all
    (
        "GET",
        "/api/v1/workflow/overdue",
    ),  # same scope; content checked in tests/integration/test_workflow_api.py
}
OPERATOR_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/csirts", {}),
    ("POST", "/api/v1/csirts", {"json": {"id": "x-csirt", "name": "x", "country": "FR"}}),
    ("POST", "/api/v1/providers", {"json": {"id": "evil", "name": "x", "country": "FR"}}),
    ("POST", "/api/v1/keys", {"json": {"role": "operator"}}),
    ("GET", "/api/v1/feeds", {}),
    ("POST", "/api/v1/feeds", {"json": {"kind": "stix_bundle", "name": "x", "location": "/dev/null"}}),
    ("GET", "/api/v1/feeds/{feed}", {}),
    ("PATCH", "/api/v1/feeds/{feed}", {"json": {}}),
    ("DELETE", "/api/v1/feeds/{feed}", {}),
    ("GET", "/api/v1/feeds/{feed}/health", {}),
    ("POST", "/api/v1/feeds/{feed}/poll", {}),
    ("GET", "/api/v1/feeds/{feed}/rejections", {}),
    ("POST", "/api/v1/ingest/stix", {"json": BUNDLE}),
    ("POST", "/api/v1/ingest/csaf", {"json": {}}),
    ("GET", "/api/v1/status", {}),
    ("GET", "/api/v1/status/stream", {}),  # SSE; content checked in tests/integration/test_status_stream.py
    ("GET", "/metrics", {}),  # Prometheus scrapes with an operator key
    ("GET", "/api/v1/vendor-aliases/changes", {}),
    ("POST", "/api/v1/vendor-aliases", {"json": {"alias": "Acme", "brand": "Acme", "group": "Baxter"}}),
    ("DELETE", "/api/v1/vendor-aliases?alias=Acme", {}),
    ("POST", "/api/v1/vendor-aliases/import", {"json": []}),
    (
        "POST",
        "/api/v1/providers/{P}/scope-approvals",
        {"json": {"kind": "network", "value": "10.0.0.0/8", "reason": "a provider approving itself"}},
    ),
]
PUBLIC_ROUTES = {("GET", "/healthz"), ("GET", "/readyz")}
# Alert workflow (issue 14): a rule is created for a provider named in the body; the response-time report is for
# CSIRTs (their constituency) and operators; a CSIRT's escalation contact is that CSIRT's or an operator's.
# Checked by ``test_workflow_routes_keep_tenants_apart``.
WORKFLOW_ROUTES = {
    ("POST", "/api/v1/suppressions"),
    ("GET", "/api/v1/reports/response-times"),
    ("GET", "/api/v1/csirts/{csirt_id}/escalation-contact"),
    ("PUT", "/api/v1/csirts/{csirt_id}/escalation-contact"),
    ("POST", "/api/v1/csirts/{csirt_id}/subscriptions"),
    ("GET", "/api/v1/csirts/{csirt_id}/subscriptions"),
    ("DELETE", "/api/v1/csirts/{csirt_id}/subscriptions/{subscription_id}"),
}
# Sighting relay: a provider submits its own sightings and reads them (a CSIRT its constituency's); a CSIRT confirms
# within its constituency; blocklists are per principal. Checked by ``test_sighting_routes_keep_tenants_apart``
# here and by content in tests/integration/test_sighting_relay.py.
SIGHTING_ROUTES = {
    ("POST", "/api/v1/sightings"),
    ("POST", "/api/v1/sightings/stix"),
    ("GET", "/api/v1/sightings"),
    ("GET", "/api/v1/sightings/{sighting_id}"),
    ("POST", "/api/v1/sightings/{sighting_id}/confirm"),
    ("GET", "/api/v1/blocklists/{name}.txt"),
}
# TAXII 2.1: a collection holds what the key may read (per role: tests/integration/test_taxii_server.py).
TAXII_ROUTES = {
    ("GET", "/taxii2/"),
    ("GET", "/taxii2/ewarn/"),
    ("GET", "/taxii2/ewarn/collections/"),
    ("GET", "/taxii2/ewarn/collections/{collection_id}/"),
    ("GET", "/taxii2/ewarn/collections/{collection_id}/objects/"),
    ("GET", "/taxii2/ewarn/collections/{collection_id}/objects/{object_id}/"),
    ("GET", "/taxii2/ewarn/collections/{collection_id}/objects/{object_id}/versions/"),
    ("GET", "/taxii2/ewarn/collections/{collection_id}/manifest/"),
}


def _template(path: str) -> str:
    """Map a concrete template of this file to the app's OpenAPI path."""
    return (
        path.split("?")[0]
        .replace("{P}", "{provider_id}")
        .replace("{asset}", "{asset_id}")
        .replace("{sub}", "{subscription_id}")
        .replace("{alert}", "{alert_id}")
        .replace("{delivery}", "{delivery_id}")
        .replace("{feed}", "{feed_id}")
        .replace("{key}", "{key_id}")
        .replace("{rule}", "{rule_id}")
    )


def _fill(path: str, w: World, owner: str, feed: str = "test-feed") -> str:
    return path.format(
        P={"a": w.a.provider_id, "b": w.b.provider_id}[owner],
        asset=w.ids[f"{owner}_asset"],
        sub=w.ids[f"{owner}_sub"],
        alert=w.ids[f"{owner}_alert"],
        delivery=w.ids[f"{owner}_delivery"],
        feed=feed,
        key=w.ids[f"{owner}_key"],
        rule=w.ids[f"{owner}_rule"],
    )


async def test_every_route_is_classified(world: World) -> None:
    paths = world.h.api._transport.app.openapi()["paths"]  # type: ignore[attr-defined]
    in_app = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    classified = (
        {(m, _template(p)) for m, p, _ in TENANT_ROUTES}
        | LIST_ROUTES
        | {(m, _template(p)) for m, p, _ in OPERATOR_ROUTES}
        | PUBLIC_ROUTES
        | WORKFLOW_ROUTES
        | TAXII_ROUTES
        | SIGHTING_ROUTES
    )
    assert in_app - classified == set(), "routes without a tenancy decision"
    assert classified - in_app == set(), "classified routes that no longer exist"


async def test_unauthenticated_calls_get_401_everywhere(world: World) -> None:
    routes = [(m, p, kw) for m, p, kw in TENANT_ROUTES + OPERATOR_ROUTES] + [
        (m, p, {}) for m, p in LIST_ROUTES
    ]
    for method, path, kw in routes:
        url = _fill(path, world, "a") if "{" in path else path
        for headers in ({}, {"Authorization": "Bearer ewk_not_a_key"}, {"X-API-Key": "wrong"}):
            resp = await world.h.api.request(method, url, headers=headers, **kw)
            assert resp.status_code == 401, f"{method} {url} with {headers} -> {resp.status_code}"
            assert resp.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path", "kw"), TENANT_ROUTES, ids=[f"{m} {p}" for m, p, _ in TENANT_ROUTES]
)
async def test_provider_key_never_reaches_another_tenant(
    world: World, method: str, path: str, kw: Any
) -> None:
    url = _fill(path, world, "b")
    resp = await world.h.api.request(method, url, headers=world.a.auth, **kw)
    assert resp.status_code == 404, f"{method} {url} -> {resp.status_code}: {resp.text}"
    assert world.b.provider_id not in resp.text or "/providers/" in path  # nothing of B echoed back
    # B's own data is untouched by A's attempt.
    assert (
        await world.h.api.get(f"/api/v1/alerts/{world.ids['b_alert']}", headers=world.b.auth)
    ).status_code == 200


SMUGGLE_ROUTES = [r for r in TENANT_ROUTES if "{P}" in r[1] and "{asset}" in r[1]]


@pytest.mark.parametrize(
    ("method", "path", "kw"), SMUGGLE_ROUTES, ids=[f"{m} {p}" for m, p, _ in SMUGGLE_ROUTES]
)
async def test_provider_path_cannot_smuggle_another_tenants_object(
    world: World, method: str, path: str, kw: Any
) -> None:
    """A's own provider id in the path with B's object id: still not found."""
    url = path.format(P=world.a.provider_id, asset=world.ids["b_asset"])
    resp = await world.h.api.request(method, url, headers=world.a.auth, **kw)
    assert resp.status_code == 404, f"{method} {url} -> {resp.status_code}"


@pytest.mark.parametrize(
    ("method", "path", "kw"), TENANT_ROUTES, ids=[f"{m} {p}" for m, p, _ in TENANT_ROUTES]
)
async def test_csirt_sees_its_constituency_read_only_and_nothing_else(
    world: World, method: str, path: str, kw: Any
) -> None:
    outside = await world.h.api.request(method, _fill(path, world, "b"), headers=world.csirt1, **kw)
    assert outside.status_code == 404, f"{method} {path} outside the constituency -> {outside.status_code}"
    inside = await world.h.api.request(method, _fill(path, world, "a"), headers=world.csirt1, **kw)
    expected = {200} if method == "GET" else {403}
    assert inside.status_code in expected, f"{method} {path} inside -> {inside.status_code}: {inside.text}"


@pytest.mark.parametrize(
    ("method", "path", "kw"), OPERATOR_ROUTES, ids=[f"{m} {p}" for m, p, _ in OPERATOR_ROUTES]
)
async def test_operator_routes_refuse_providers_and_csirts(
    world: World, method: str, path: str, kw: Any
) -> None:
    url = path.format(feed="test-feed", P=world.a.provider_id)
    for auth in (world.a.auth, world.csirt1):
        resp = await world.h.api.request(method, url, headers=auth, **kw)
        assert resp.status_code == 403, f"{method} {url} -> {resp.status_code}"


async def test_lists_show_only_what_the_caller_may_see(world: World) -> None:
    h, ids = world.h, world.ids

    async def get(url: str, auth: dict[str, str]) -> str:
        resp = await h.api.get(url, headers=auth)
        assert resp.status_code == 200, f"{url} -> {resp.status_code}"
        return resp.text

    lists = (
        "/api/v1/providers",
        "/api/v1/alerts",
        "/api/v1/alert-events",
        "/api/v1/subscriptions",
        "/api/v1/suppressions",
    )
    for url in (*lists, "/api/v1/audit", "/api/v1/audit/export?format=jsonl"):
        as_a = await get(url, world.a.auth)
        as_csirt = await get(url, world.csirt1)
        as_op = await get(url, h.op)
        for text in (as_a, as_csirt):
            assert world.b.provider_id not in text, url
            assert ids["b_alert"] not in text and ids["b_sub"] not in text, url
            assert ids["b_rule"] not in text, url
        assert world.b.provider_id in as_op, url
    assert ids["a_alert"] in await get("/api/v1/alerts", world.a.auth)
    assert ids["b_delivery"] not in await get("/api/v1/deliveries/dead", world.a.auth)
    assert ids["b_delivery"] not in await get("/api/v1/deliveries/dead", world.csirt1)
    assert ids["b_delivery"] in await get("/api/v1/deliveries/dead", world.b.auth)
    whoami = json.loads(await get("/api/v1/whoami", world.a.auth))
    assert whoami["provider_id"] == world.a.provider_id


async def test_secrets_are_never_returned_after_creation(world: World) -> None:
    h = world.h
    urls = [
        "/api/v1/subscriptions",
        f"/api/v1/subscriptions/{world.ids['a_sub']}",
        f"/api/v1/subscriptions/{world.ids['b_sub']}",
        f"/api/v1/providers/{world.a.provider_id}/subscriptions",
        f"/api/v1/subscriptions/{world.ids['b_sub']}/deliveries",
        "/api/v1/deliveries/dead",
        "/api/v1/status",
        "/openapi.json",
    ]
    for url in urls:
        for auth in (h.op, world.a.auth, world.b.auth):
            text = (await h.api.get(url, headers=auth)).text
            for secret in world.secrets:
                assert secret not in text, url
                assert secret.removeprefix("whsec_") not in text, url


async def test_taxii_refuses_unauthenticated_and_other_tenants(world: World) -> None:
    from ewarn.api.taxii.collections import COLLECTIONS
    from ewarn.stixmap import stix_id

    h, collection = world.h, COLLECTIONS[0].id
    b_alert = await h.call("GET", f"/api/v1/alerts/{world.ids['b_alert']}", auth=world.b.auth)
    b_sighting = stix_id("sighting", b_alert["id"], str(b_alert["revision"]))
    for _, template in sorted(TAXII_ROUTES):
        url = template.format(collection_id=collection, object_id=b_sighting)
        for headers in ({}, {"Authorization": "Bearer ewk_not_a_key"}, {"Authorization": "Basic eDp5"}):
            assert (await h.api.get(url, headers=headers)).status_code == 401, url
        for auth in (world.a.auth, world.csirt1):  # hosp-b is neither A's tenant nor csirt-1's constituency
            resp = await h.api.get(url, headers=auth)
            assert b_alert["id"] not in resp.text, url
            if "{object_id}" in template:
                assert resp.status_code == 404, url
            else:
                assert resp.status_code == 200 and b_sighting not in resp.text, url
        assert (await h.api.get(url, headers=world.b.auth)).status_code == 200, url


async def test_sighting_routes_keep_tenants_apart(world: World) -> None:
    """TLP:RED sightings (held back: no relay, no alerts), so the rest of the module's world is unchanged."""
    h, a, b = world.h, world.a, world.b
    now = utcnow().isoformat()
    body = {"type": "ip", "kind": "scan", "tlp": "red", "first_seen": now, "last_seen": now}
    a_s = await h.call(
        "POST", "/api/v1/sightings", auth=a.auth, json={**body, "observable": "185.220.101.77"}
    )
    b_s = await h.call(
        "POST", "/api/v1/sightings", auth=b.auth, json={**body, "observable": "185.220.101.78"}
    )
    urls = [
        ("POST", "/api/v1/sightings", {"json": body}),
        ("POST", "/api/v1/sightings/stix", {"json": {}}),
        ("GET", "/api/v1/sightings", {}),
        ("GET", f"/api/v1/sightings/{a_s['id']}", {}),
        ("POST", f"/api/v1/sightings/{a_s['id']}/confirm", {}),
        ("GET", "/api/v1/blocklists/ip.txt", {}),
    ]
    for method, url, kw in urls:
        for headers in ({}, {"Authorization": "Bearer ewk_not_a_key"}):
            assert (await h.api.request(method, url, headers=headers, **kw)).status_code == 401, url
    for method, url in (("GET", ""), ("POST", "/confirm")):
        resp = await h.api.request(method, f"/api/v1/sightings/{b_s['id']}{url}", headers=a.auth)
        assert resp.status_code == 404 and b.provider_id not in resp.text
        resp = await h.api.request(method, f"/api/v1/sightings/{b_s['id']}{url}", headers=world.csirt1)
        assert resp.status_code == 404
    assert (await h.api.get(f"/api/v1/sightings/{a_s['id']}", headers=world.csirt1)).status_code == 200
    assert (await h.api.post(f"/api/v1/sightings/{a_s['id']}/confirm", headers=a.auth)).status_code == 403
    assert (
        await h.api.post(f"/api/v1/sightings/{a_s['id']}/confirm", headers=world.csirt1)
    ).status_code == 200
    for auth in (world.csirt1, h.op):
        assert (
            await h.api.post("/api/v1/sightings", headers=auth, json={**body, "observable": "185.220.101.79"})
        ).status_code == 403
    a_list = (await h.api.get("/api/v1/sightings", headers=a.auth)).text
    assert a_s["id"] in a_list and b_s["id"] not in a_list and b.provider_id not in a_list
    assert b_s["id"] not in (await h.api.get("/api/v1/sightings", headers=world.csirt1)).text
    assert b_s["id"] in (await h.api.get("/api/v1/sightings", headers=h.op)).text
    assert (await h.api.get("/api/v1/blocklists/ip.txt", headers=a.auth)).text == "185.220.101.77\n"
    assert (await h.api.get("/api/v1/blocklists/ip.txt", headers=b.auth)).text == "185.220.101.78\n"
    assert (await h.api.get("/api/v1/blocklists/ip.txt", headers=world.csirt1)).text == ""


async def test_workflow_routes_keep_tenants_apart(world: World) -> None:
    h, a, b = world.h, world.a, world.b
    rule = {"asset_id": "ast_none", "indicator_key": "ipv4:192.0.2.9", "reason": "tenancy"}
    report, contact = "/api/v1/reports/response-times", "/api/v1/csirts/{}/escalation-contact"
    calls = [
        ("POST", "/api/v1/suppressions", {"json": {**rule, "provider_id": a.provider_id}}),
        ("GET", report, {}),
        ("GET", contact.format("csirt-1"), {}),
        ("PUT", contact.format("csirt-1"), {"json": {"email": None}}),
    ]
    for method, url, kw in calls:
        for headers in ({}, {"Authorization": "Bearer ewk_not_a_key"}):
            assert (await h.api.request(method, url, headers=headers, **kw)).status_code == 401, url
    for auth, code in ((a.auth, 404), (world.csirt1, 404)):  # B's tenant, outside A and csirt-1
        resp = await h.api.post(
            "/api/v1/suppressions", headers=auth, json={**rule, "provider_id": b.provider_id}
        )
        assert resp.status_code == code and b.provider_id not in resp.text
    inside = await h.api.post(
        "/api/v1/suppressions", headers=world.csirt1, json={**rule, "provider_id": a.provider_id}
    )
    assert inside.status_code == 403, "CSIRT keys do not write provider data"
    assert (await h.api.get(report, headers=a.auth)).status_code == 403, (
        "the report is for CSIRTs and operators"
    )
    as_csirt = await h.api.get(report, headers=world.csirt1)
    assert as_csirt.status_code == 200 and b.provider_id not in as_csirt.text
    assert (await h.api.get(f"{report}?provider_id={b.provider_id}", headers=world.csirt1)).status_code == 404
    for method, kw in (("GET", {}), ("PUT", {"json": {"email": None}})):
        for auth in (a.auth, world.csirt1):  # a provider never, a CSIRT only its own
            assert (
                await h.api.request(method, contact.format("csirt-2"), headers=auth, **kw)
            ).status_code == 404
        assert (
            await h.api.request(method, contact.format("csirt-1"), headers=a.auth, **kw)
        ).status_code == 404
    assert (await h.api.get(contact.format("csirt-1"), headers=world.csirt1)).status_code == 200
    assert (await h.api.get(contact.format("csirt-2"), headers=h.op)).status_code == 200
    subs = "/api/v1/csirts/{}/subscriptions"
    email = {"channel": "email", "target": "oncall@csirt.example"}
    for auth, csirt in ((a.auth, "csirt-1"), (world.csirt1, "csirt-2")):  # not theirs: as if absent
        assert (await h.api.post(subs.format(csirt), headers=auth, json=email)).status_code == 404
        assert (await h.api.get(subs.format(csirt), headers=auth)).status_code == 404
        gone = f"{subs.format(csirt)}/{world.ids['a_sub']}"
        assert (await h.api.delete(gone, headers=auth)).status_code == 404
    assert (await h.api.get(subs.format("csirt-1"), headers=world.csirt1)).json()["items"] == []
    wrong = f"{subs.format('csirt-1')}/{world.ids['a_sub']}"  # a provider's subscription is no CSIRT's
    assert (await h.api.delete(wrong, headers=world.csirt1)).status_code == 404
