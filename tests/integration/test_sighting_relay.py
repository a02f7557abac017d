"""The sighting relay end to end on the embedded pipeline (SQLite, in-process bus, real webhook receivers).

Hospital A reports; hospital B's verified webhook and blocklist get it without A's name; the poisoning guards
keep hospitals' own addresses, private ranges and public resolvers off every blocklist; quotas hold;
corroboration and a CSIRT's confirmation raise the severity exactly as ``ewarn.sightings.corroboration`` says.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.receivers import WebhookReceiver

from ewarn.models.common import utcnow
from ewarn.settings import SightingSettings
from ewarn.store.tables import AuditLogRow, IndicatorRow, SightingRow


@dataclass
class World:
    h: Harness
    a: Tenant
    b: Tenant
    c: Tenant
    csirt: dict[str, str]
    b_hook: WebhookReceiver


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """Shared by the module (a pipeline takes seconds to start): each test uses its own observables."""
    hook = WebhookReceiver()
    await hook.start()
    async with harness(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sightings') / 's.db'}") as h:
        await h.add_csirt("csirt-de", country="DE")
        a = await h.add_tenant("hosp-a", csirt_id="csirt-de", country="DE")
        b = await h.add_tenant("hosp-b", country="DE")
        c = await h.add_tenant("hosp-c", country="AT")
        await h.add_assets(b, [{"kind": "network", "name": "B VPN", "value": "185.100.86.0/24"}])
        sub = await h.subscribe_webhook(b, hook.url())
        hook.secrets = [sub["secret"]]
        yield World(h, a, b, c, await h.csirt_key("csirt-de"), hook)
    await hook.down()


def _body(observable: str, type_: str = "ip", kind: str = "scan", **extra: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "observable": observable,
        "type": type_,
        "first_seen": (now - timedelta(minutes=6)).isoformat(),
        "last_seen": (now - timedelta(minutes=4)).isoformat(),
        "count": 12,
        "confidence": 80,
        "kind": kind,
        "context": "VPN brute force",
        **extra,
    }


def _stix_pair(pattern: str, n: int, **sighting: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A STIX indicator (ids ending in ``n``) and a sighting of it two minutes ago, with ``sighting`` fields."""
    now, indicator_id = utcnow(), f"indicator--00000000-0000-4000-8000-{n:012d}"
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id,
        "created": "2026-12-01T00:00:00Z",
        "modified": "2026-12-01T00:00:00Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-12-01T00:00:00Z",
    }
    seen = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--00000000-0000-4000-8000-{n + 1:012d}",
        "created": now.isoformat(),
        "modified": now.isoformat(),
        "first_seen": (now - timedelta(minutes=3)).isoformat(),
        "last_seen": (now - timedelta(minutes=2)).isoformat(),
        "sighting_of_ref": indicator_id,
        **sighting,
    }
    return indicator, seen


async def _submit(w: World, tenant: Tenant, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    resp = await w.h.api.post("/api/v1/sightings", json=body, headers=tenant.auth)
    assert resp.status_code == expect, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def _blocklist(w: World, tenant: Tenant | dict[str, str], name: str = "ip", **params: Any) -> list[str]:
    auth = tenant.auth if isinstance(tenant, Tenant) else tenant
    resp = await w.h.api.get(f"/api/v1/blocklists/{name}.txt", headers=auth, params=params)
    assert resp.status_code == 200, resp.text
    return resp.text.splitlines()


async def test_a_sighting_reaches_b_by_webhook_and_blocklist_without_naming_a(world: World) -> None:
    w = world
    receipt = await _submit(w, w.a, _body("185.220.101.4"))
    assert receipt["status"] == "relayed" and receipt["severity"] == "low" and receipt["relayed_to"] == 2
    await w.h.drained()
    await w.b_hook.wait_for(lambda r: any(b"185.220.101.4" in q.body for q in r.accepted))
    (delivery,) = [q for q in w.b_hook.accepted if b"185.220.101.4" in q.body]
    payload = delivery.json()
    assert delivery.verified
    text = json.dumps(payload)
    assert "185.220.101.4 seen scanning another hospital in DE 4 minutes ago" in text
    assert "185.220.101.4" in await _blocklist(w, w.b)
    # A's identity is absent from everything B reads
    reads = [
        text,
        (await w.h.api.get("/api/v1/alerts", headers=w.b.auth)).text,
        (await w.h.api.get("/api/v1/alert-events", headers=w.b.auth)).text,
        (await w.h.api.get("/api/v1/blocklists/ip.txt", headers=w.b.auth)).text,
        (await w.h.api.get("/api/v1/sightings", headers=w.b.auth)).text,
        (await w.h.api.get(f"/api/v1/sightings/{receipt['id']}", headers=w.b.auth)).text,
    ]
    for read in reads:
        assert "hosp-a" not in read
    # the reporter gets no relay alert of its own sighting, and sees its sighting
    assert not [a for a in await w.h.alerts(w.a.auth) if a["indicator_key"] == "ipv4:185.220.101.4"]
    assert (await w.h.api.get(f"/api/v1/sightings/{receipt['id']}", headers=w.a.auth)).status_code == 200


async def test_share_identity_names_the_reporter(world: World) -> None:
    await _submit(world, world.a, _body("185.220.101.5", share_identity=True))
    (alert,) = [a for a in await world.h.alerts(world.b.auth) if a["indicator_key"] == "ipv4:185.220.101.5"]
    assert alert["title"].startswith("185.220.101.5 seen scanning hosp-a hospital in DE")


@pytest.mark.parametrize(
    ("observable", "type_", "reason"),
    [
        pytest.param("185.100.86.20", "ip", "provider_asset", id="another-hospitals-address"),
        pytest.param("192.168.1.10", "ip", "private_or_reserved", id="private-range"),
        pytest.param("8.8.8.8", "ip", "allow_listed", id="allow-listed-resolver"),
        pytest.param("185.0.0.0/16", "cidr", "too_wide", id="too-wide"),
    ],
)
async def test_poisoning_never_reaches_a_blocklist(
    world: World, observable: str, type_: str, reason: str
) -> None:
    w = world
    receipt = await _submit(w, w.a, _body(observable, type_=type_, kind="compromised"))
    assert receipt["status"] == "held" and receipt["held_reason"] == reason
    assert receipt["relayed_to"] == 0
    await w.h.drained()
    before = (await w.h.api.get("/api/v1/status", headers=w.h.op)).json()["sightings"]
    receipt = await _submit(w, w.c, _body(observable, type_=type_, kind="compromised"))  # a second reporter
    assert receipt["status"] == "held" and receipt["held_reason"] == reason
    await w.h.drained()
    value = observable.split("/")[0]
    for reader in (w.a, w.b, w.c, w.csirt, w.h.op):
        assert not [line for line in await _blocklist(w, reader) if line.startswith(value)]
    relay_alerts = [a for a in await w.h.alerts(w.h.op) if a["asset_id"] == "sector-sighting-relay"]
    assert not [a for a in relay_alerts if value in a["indicator_key"]]
    after = (await w.h.api.get("/api/v1/status", headers=w.h.op)).json()["sightings"]
    assert after["held_by_reason"][reason] == before["held_by_reason"][reason] + 1
    assert after["relayed"] == before["relayed"] and after["received"] == before["received"] + 1


async def test_a_sighted_address_in_bs_range_tells_b_it_may_be_compromised(world: World) -> None:
    w = world
    await _submit(w, w.a, _body("185.100.86.20", kind="compromised"))
    await w.h.drained()
    (alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == "ipv4:185.100.86.20"]
    assert alert["severity"] in ("high", "critical")
    assert "possible compromise" in alert["title"] and "hosp-a" not in json.dumps(alert)
    assert not [a for a in await w.h.alerts(w.c.auth) if a["indicator_key"] == "ipv4:185.100.86.20"]


async def test_corroboration_and_confirmation_raise_severity_as_documented(world: World) -> None:
    w = world
    first = await _submit(w, w.a, _body("185.220.101.6"))
    assert first["severity"] == "low"
    again = await _submit(w, w.a, _body("185.220.101.6"))  # the same provider never corroborates itself
    assert again["severity"] == "low" and again["providers"] == 1
    second = await _submit(w, w.c, _body("185.220.101.6"))
    assert second["severity"] == "medium" and second["providers"] == 2
    (b_alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == "ipv4:185.220.101.6"]
    assert b_alert["severity"] == "medium" and b_alert["revision"] == 2
    assert "(2 hospitals reported it)" in b_alert["title"]
    # B is no CSIRT; the CSIRT of A's constituency confirms A's sighting
    url = f"/api/v1/sightings/{first['id']}/confirm"
    assert (await w.h.api.post(url, headers=w.a.auth)).status_code == 403
    confirmed = (await w.h.api.post(url, headers=w.csirt)).json()
    assert confirmed["severity"] == "high" and confirmed["confirmed"] is True
    (b_alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == "ipv4:185.220.101.6"]
    assert b_alert["severity"] == "high"
    assert "185.220.101.6" in await _blocklist(w, w.b, min_corroboration=3)
    assert "185.220.101.4" not in await _blocklist(w, w.b, min_corroboration=3)
    assert "185.220.101.6" not in await _blocklist(w, w.b, min_severity="critical")


async def test_quota_holds_per_provider(world: World) -> None:
    w = world
    kept = w.h.runtime.settings.sightings
    w.h.runtime.settings.sightings = SightingSettings(quota_per_hour=6)
    w.h.runtime.services.pop("sightings", None)  # a relay with this quota
    try:
        for n in range(6):
            await _submit(w, w.a, _body(f"185.220.110.{n}"))
        resp = await w.h.api.post("/api/v1/sightings", json=_body("185.220.110.99"), headers=w.a.auth)
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
        assert "185.220.110.99" not in await _blocklist(w, w.b)
        await _submit(w, w.c, _body("185.220.110.99"))  # another provider's quota is its own
    finally:
        w.h.runtime.settings.sightings = kept
        w.h.runtime.services.pop("sightings", None)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"observable": "not an address"}, "not a valid ip", id="bad-address"),
        pytest.param({"type": "cidr"}, "network", id="address-as-cidr"),
        pytest.param({"tlp": "clear"}, "operator", id="clear-needs-operator"),
        pytest.param(
            {"last_seen": "2000-01-01T00:00:00Z", "first_seen": "2000-01-01T00:00:00Z"}, "older", id="old"
        ),
        pytest.param({"last_seen": "2099-01-01T00:00:00Z"}, "future", id="future"),
        pytest.param({"kind": "rumour"}, "kind", id="unknown-kind"),
        pytest.param({"context": "a\x00b"}, "NUL", id="nul-in-context"),
        pytest.param({"confidence": 101}, "confidence", id="confidence-range"),
    ],
)
async def test_invalid_sightings_are_refused_with_a_reason_and_nothing_stored(
    world: World, change: dict[str, Any], why: str
) -> None:
    w = world
    stored = len((await w.h.api.get("/api/v1/sightings", headers=w.a.auth)).json())
    resp = await w.h.api.post(
        "/api/v1/sightings", json={**_body("185.220.101.7"), **change}, headers=w.a.auth
    )
    assert resp.status_code == 422
    assert why.lower() in resp.text.lower()
    assert len((await w.h.api.get("/api/v1/sightings", headers=w.a.auth)).json()) == stored
    assert "185.220.101.7" not in await _blocklist(w, w.b)


async def test_only_providers_submit(world: World) -> None:
    for auth in (world.csirt, world.h.op):
        resp = await world.h.api.post("/api/v1/sightings", json=_body("185.220.101.8"), headers=auth)
        assert resp.status_code == 403


async def test_blocklist_etag_and_tlp_red(world: World) -> None:
    w = world
    first = await w.h.api.get("/api/v1/blocklists/ip.txt", headers=w.b.auth)
    tag = first.headers["etag"]
    again = await w.h.api.get("/api/v1/blocklists/ip.txt", headers={**w.b.auth, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    await _submit(w, w.a, _body("185.220.101.9", tlp="red"))
    assert "185.220.101.9" in await _blocklist(w, w.a)  # RED: the reporter's own list only
    unchanged = await w.h.api.get("/api/v1/blocklists/ip.txt", headers={**w.b.auth, "If-None-Match": tag})
    assert unchanged.status_code == 304
    await _submit(w, w.a, _body("185.220.101.10"))
    changed = await w.h.api.get("/api/v1/blocklists/ip.txt", headers={**w.b.auth, "If-None-Match": tag})
    assert changed.status_code == 200 and "185.220.101.10\n" in changed.text
    assert "185.220.101.9" not in changed.text
    assert first.headers["content-type"].startswith("text/plain")


async def test_stix_sightings_are_relayed(world: World) -> None:
    w = world
    pair = _stix_pair("[domain-name:value = 'evil-c2.example.com']", 1, count=3, x_ewarn_kind="blocked")
    bundle = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": list(pair)}
    resp = await w.h.api.post("/api/v1/sightings/stix", json=bundle, headers=w.a.auth)
    assert resp.status_code == 201, resp.text
    report = resp.json()
    assert report["ignored"] == 1 and report["receipts"][0]["severity"] == "medium"
    assert "evil-c2.example.com" in await _blocklist(w, w.b, "domain")
    broken = {**bundle, "objects": [bundle["objects"][1]]}  # the sighting's indicator is missing
    resp = await w.h.api.post("/api/v1/sightings/stix", json=broken, headers=w.a.auth)
    assert resp.status_code == 422 and "sighting--00000000" in resp.text


async def test_sightings_inside_ingested_bundles_are_relayed_not_dropped(world: World) -> None:
    w = world
    indicator, sighting = _stix_pair("[ipv4-addr:value = '185.220.120.1']", 11)
    orphan = {**sighting, "id": "sighting--00000000-0000-4000-8000-000000000013", "sighting_of_ref": "x--1"}
    bundle = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000010"}
    report = await w.h.ingest(json.dumps({**bundle, "objects": [indicator, sighting, orphan]}).encode())
    assert report.counts["sightings relayed"] == 1
    assert report.accepted == 1 and report.rejected == 1  # the indicator; the sighting pointing nowhere
    assert "sighting relay" in report.rejections[0].reason
    assert "185.220.120.1" in await _blocklist(w, w.b)
    (alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == "ipv4:185.220.120.1"]
    assert "reported by a threat feed" in alert["title"]


# --- a failed audit write leaves nothing stored and nothing sent ---------------------------------------------


@asynccontextmanager
async def _audit_refused(w: World) -> AsyncIterator[None]:
    """The database refuses every audit row about sightings (a real failure of the audit write)."""
    async with w.h.runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TRIGGER refuse_sighting_audit BEFORE INSERT ON audit_log "
                "WHEN NEW.resource = 'sighting' BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        )
    try:
        yield
    finally:
        async with w.h.runtime.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER refuse_sighting_audit"))


async def _stored(w: World, key: str) -> tuple[int, int, int]:
    """Sighting rows, indicator rows and sighting audit rows naming ``key`` (audit: all of them)."""
    async with w.h.runtime.sessions() as session:
        sightings = await session.scalar(
            select(func.count()).select_from(SightingRow).where(SightingRow.indicator_key == key)
        )
        indicators = await session.scalar(
            select(func.count()).select_from(IndicatorRow).where(IndicatorRow.key == key)
        )
        audits = await session.scalar(
            select(func.count()).select_from(AuditLogRow).where(AuditLogRow.resource == "sighting")
        )
    return sightings or 0, indicators or 0, audits or 0


def _stix_bundle(address: str) -> dict[str, Any]:
    pair = _stix_pair(f"[ipv4-addr:value = '{address}']", 161, x_ewarn_kind="compromised")
    return {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000a0", "objects": list(pair)}


def _requests() -> Iterator[Any]:
    # an address inside B's range is held back yet still correlated (B would learn it may be compromised);
    # an outside one is relayed (B's blocklist and relay alert); the STIX route goes the same way
    yield pytest.param("/api/v1/sightings", "185.100.86.40", "compromised", id="json-in-bs-range")
    yield pytest.param("/api/v1/sightings", "185.220.130.1", "scan", id="json-relayed")
    yield pytest.param("/api/v1/sightings/stix", "185.220.130.2", "compromised", id="stix-relayed")


@pytest.mark.parametrize(("route", "address", "kind"), list(_requests()))
async def test_a_refused_audit_row_leaves_no_sighting_indicator_or_alert(
    world: World, route: str, address: str, kind: str
) -> None:
    await _refused_then_whole(world, route, address, kind, _audit_refused(world), "audit refused")


async def _refused_then_whole(
    w: World, route: str, address: str, kind: str, refusal: Any, message: str
) -> dict[str, Any]:
    """The request fails while ``refusal`` holds and leaves nothing; then it is stored once and relayed."""
    key = f"ipv4:{address}"
    body = _stix_bundle(address) if route.endswith("/stix") else _body(address, kind=kind)
    _, _, audits = await _stored(w, key)
    async with refusal:
        with pytest.raises(DBAPIError, match=message):
            await w.h.api.post(route, json=body, headers=w.a.auth)
    await w.h.drained()
    assert await _stored(w, key) == (0, 0, audits)
    assert address not in await _blocklist(w, w.b)
    assert not [a for a in await w.h.alerts(w.h.op) if a["indicator_key"] == key]
    # the same request once the write can go through: stored, audited once, relayed
    resp = await w.h.api.post(route, json=body, headers=w.a.auth)
    assert resp.status_code == 201, resp.text
    await w.h.drained()
    assert await _stored(w, key) == (1, 1, audits + 1)
    assert [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == key]
    out: dict[str, Any] = resp.json()
    return out


async def test_a_refused_audit_row_leaves_the_sighting_unconfirmed(world: World) -> None:
    w = world
    receipt = await _submit(w, w.a, _body("185.220.130.3"))
    url, own = f"/api/v1/sightings/{receipt['id']}/confirm", f"/api/v1/sightings/{receipt['id']}"
    before = (await w.h.api.get(own, headers=w.a.auth)).json()
    async with _audit_refused(w):
        with pytest.raises(DBAPIError, match="audit refused"):
            await w.h.api.post(url, headers=w.csirt)
    after = (await w.h.api.get(own, headers=w.a.auth)).json()
    assert after == before and after["confirmed_by"] is None
    (b_alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == "ipv4:185.220.130.3"]
    assert b_alert["severity"] == "low" and b_alert["revision"] == 1
    confirmed = (await w.h.api.post(url, headers=w.csirt)).json()
    assert confirmed["confirmed"] is True and confirmed["severity"] == "high"


# --- a failed relay alert write leaves nothing half-stored ----------------------------------------------------


@asynccontextmanager
async def _relay_alerts_refused(w: World, key: str, event: str = "INSERT") -> AsyncIterator[None]:
    """The database refuses every relay alert write (``event``) about ``key``: a real failure of the relay."""
    async with w.h.runtime.engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TRIGGER refuse_relay_alert BEFORE {event} ON alerts "
                f"WHEN NEW.indicator_key = '{key}' BEGIN SELECT RAISE(ABORT, 'relay alert refused'); END"
            )
        )
    try:
        yield
    finally:
        async with w.h.runtime.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER IF EXISTS refuse_relay_alert"))


@pytest.mark.parametrize(
    ("route", "address", "kind"),
    [
        pytest.param("/api/v1/sightings", "185.220.131.1", "scan", id="json-relayed"),
        pytest.param("/api/v1/sightings/stix", "185.220.131.2", "compromised", id="stix-relayed"),
    ],
)
async def test_a_failed_relay_alert_write_leaves_no_sighting_behind(
    world: World, route: str, address: str, kind: str
) -> None:
    """The relay alerts are written in the sighting's transaction: a refused one rolls the sighting, its
    indicator and its audit row back (before: the sighting stayed stored with a 5xx, no alert); the same
    request then goes through whole."""
    refusal = _relay_alerts_refused(world, f"ipv4:{address}")
    receipt = await _refused_then_whole(world, route, address, kind, refusal, "relay alert refused")
    told = receipt["relayed_to"] if route == "/api/v1/sightings" else receipt["receipts"][0]["relayed_to"]
    assert told > 0


async def test_a_failed_relay_alert_revision_leaves_the_sighting_unconfirmed(world: World) -> None:
    w = world
    key = "ipv4:185.220.130.4"
    receipt = await _submit(w, w.a, _body("185.220.130.4"))
    url, own = f"/api/v1/sightings/{receipt['id']}/confirm", f"/api/v1/sightings/{receipt['id']}"
    before = (await w.h.api.get(own, headers=w.a.auth)).json()
    _, _, audits = await _stored(w, key)
    async with _relay_alerts_refused(w, key, event="UPDATE"):
        with pytest.raises(DBAPIError, match="relay alert refused"):
            await w.h.api.post(url, headers=w.csirt)
    after = (await w.h.api.get(own, headers=w.a.auth)).json()
    assert after == before and after["confirmed_by"] is None
    assert (await _stored(w, key))[2] == audits
    (b_alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == key]
    assert b_alert["severity"] == "low" and b_alert["revision"] == 1
    confirmed = (await w.h.api.post(url, headers=w.csirt)).json()
    assert confirmed["confirmed"] is True and confirmed["severity"] == "high"
    await w.h.drained()
    (b_alert,) = [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == key]
    assert b_alert["severity"] == "high" and b_alert["revision"] == 2


async def test_a_relay_alert_moved_meanwhile_writes_the_sighting_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer moved a relay alert between its read and its write: the whole write (sighting, audit,
    alerts) is rolled back and tried again, so the sighting is stored once and the alert still goes out."""
    from ewarn.sightings import relay_alerts

    w = world
    key = "ipv4:185.220.131.5"
    real = relay_alerts.alert_store.write_revisions
    calls: list[int] = []

    async def moved_once(**kwargs: Any) -> set[str]:
        lost = await real(**kwargs)
        calls.append(len(kwargs["revisions"]))
        return lost | ({kwargs["revisions"][0][1].id} if len(calls) == 1 else set())

    monkeypatch.setattr(relay_alerts.alert_store, "write_revisions", moved_once)
    _, _, audits = await _stored(w, key)
    receipt = await _submit(w, w.a, _body("185.220.131.5"))
    assert len(calls) == 2 and receipt["relayed_to"] > 0
    await w.h.drained()
    assert await _stored(w, key) == (1, 1, audits + 1)
    assert [a for a in await w.h.alerts(w.b.auth) if a["indicator_key"] == key]
