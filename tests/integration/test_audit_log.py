"""The audit log on SQLite and PostgreSQL: one row per write, none for a refused one, never a secret.

A hospital with an alert and a dead letter (its webhook answers 500) is driven through every write route, by
the key each route is meant for; after each call exactly one new row must name that key and the target. Refused
calls leave no row. The raw rows are then searched for every secret the run handled. Reading is tenanted
(provider: its own rows, CSIRT: its constituency, operator: all), paginated by cursor, filtered, exported.
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from sqlalchemy import text
from tests.support.pipeline import TwoTenantWorld as World
from tests.support.pipeline import harness, seed_two_tenants
from tests.support.receivers import Reply, WebhookReceiver
from typer.testing import CliRunner

from ewarn.cli import app
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head

BUNDLE = {
    "type": "bundle",
    "id": "bundle--5e0f3c1e-0000-4000-8000-000000000001",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--5e0f3c1e-0000-4000-8000-000000000002",
            "created": "2026-11-01T00:00:00Z",
            "modified": "2026-11-01T00:00:00Z",
            "name": "LockBit affiliate C2",
            "pattern": "[ipv4-addr:value = '203.0.113.9']",
            "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z",
            "labels": ["ransomware"],
        }
    ],
}
FEED_PASSWORD = "feed-password-Zq81"  # a test value that must never reach the audit log
URL_TOKEN = "url-token-Kx29"
SIGHTING = {
    "observable": "185.220.101.4",
    "type": "ip",
    "first_seen": "2026-11-30T08:00:00Z",
    "last_seen": "2026-11-30T08:05:00Z",
    "kind": "scan",
}
STIX_SIGHTINGS = {
    "type": "bundle",
    "id": "bundle--5e0f3c1e-0000-4000-8000-000000000010",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--5e0f3c1e-0000-4000-8000-000000000011",
            "created": "2026-11-30T08:00:00Z",
            "modified": "2026-11-30T08:00:00Z",
            "pattern": "[ipv4-addr:value = '185.220.101.5']",
            "pattern_type": "stix",
            "valid_from": "2026-11-30T08:00:00Z",
        },
        {
            "type": "sighting",
            "spec_version": "2.1",
            "id": "sighting--5e0f3c1e-0000-4000-8000-000000000012",
            "created": "2026-11-30T08:05:00Z",
            "modified": "2026-11-30T08:05:00Z",
            "first_seen": "2026-11-30T08:00:00Z",
            "last_seen": "2026-11-30T08:05:00Z",
            "sighting_of_ref": "indicator--5e0f3c1e-0000-4000-8000-000000000011",
        },
    ],
}


@pytest.fixture(scope="module")
async def world(module_database_url: str) -> AsyncIterator[World]:
    _unbind_logging_from_closed_streams()  # an earlier CLI test's CliRunner may have left them bound
    dead = WebhookReceiver(default=Reply(status=500))
    await dead.start()
    async with harness(module_database_url, max_attempts=1) as h:
        a, b, a_asset, _ = await seed_two_tenants(h)
        a_sub = await h.subscribe_webhook(a, dead.url())
        dead.secrets = [a_sub["secret"]]
        await h.ingest(json.dumps(BUNDLE).encode())
        await h.drained()
        (a_alert,) = await h.alerts(a.auth)
        dead_letters = await h.call("GET", "/api/v1/deliveries/dead", auth=a.auth)
        (a_delivery,) = dead_letters["items"] if isinstance(dead_letters, dict) else dead_letters
        ids = {
            "asset": a_asset["id"],
            "sub": a_sub["id"],
            "alert": a_alert["id"],
            "delivery": a_delivery["id"],
        }
        csirt1 = await h.csirt_key("csirt-1")
        secrets = [a_sub["secret"], h.operator_key, a.key, b.key, csirt1["Authorization"].split()[-1]]
        yield World(h, a, b, csirt1, ids, secrets)
    await dead.down()


async def _rows(w: World) -> list[dict[str, Any]]:
    """The raw rows, read with SQL (not through the API), oldest first."""
    async with w.h.runtime.sessions() as session:
        result = await session.execute(text("SELECT * FROM audit_log ORDER BY id"))
        return [dict(r._mapping) for r in result]


def _ids(row: dict[str, Any]) -> list[str]:
    raw = row["target_ids"]
    return list(json.loads(raw) if isinstance(raw, str) else raw)


def _key_id(auth: dict[str, str]) -> str:
    return auth["Authorization"].split()[-1].split("_")[1]  # ewk_<id>_<random>


@dataclass
class Step:
    name: str
    method: str
    path: str
    who: str  # op, a, csirt1
    action: str
    resource: str
    target: str  # the id the row must name ("{x}" filled from world ids and earlier steps)
    kw: dict[str, Any] = field(default_factory=dict)
    remember: tuple[str, str] | None = None  # (name, response field) to use in later steps
    secret: str | None = None  # a response field that is a secret


STEPS = [
    Step("csirt", "POST", "/api/v1/csirts", "op", "upsert", "csirt", "csirt-x",
         {"json": {"id": "csirt-x", "name": "X", "country": "FR"}}),
    Step("provider", "POST", "/api/v1/providers", "op", "upsert", "provider", "hosp-x",
         {"json": {"id": "hosp-x", "name": "X", "country": "FR", "csirt_id": "csirt-x"}}),
    Step("asset-register", "POST", "/api/v1/providers/hosp-a/assets", "a", "register", "asset", "hosp-a",
         {"json": {"kind": "network", "name": "Lab", "value": "198.51.100.0/24"}}, ("asset2", "id")),
    Step("asset-import", "POST", "/api/v1/providers/hosp-a/assets/import?format=csv", "a", "import", "asset",
         "hosp-a", {"content": "kind,name,value\nnetwork,Ward,192.0.2.0/24\n"}),
    Step("asset-delete", "DELETE", "/api/v1/providers/hosp-a/assets/{asset2}", "a", "delete", "asset", "{asset2}"),
    Step("scope-approve", "POST", "/api/v1/providers/hosp-a/scope-approvals", "op", "approve", "scope_approval",
         "network:10.0.0.0/8", {"json": {"kind": "network", "value": "10.0.0.0/8", "reason": "whole campus"}}),
    Step("sub-create", "POST", "/api/v1/providers/hosp-a/subscriptions", "a", "create", "subscription", "{sub2}",
         {"json": {"channel": "webhook", "target": f"http://u:pw@127.0.0.1:9/x?token={URL_TOKEN}"}},
         ("sub2", "id"), secret="secret"),
    Step("sub-update", "PATCH", "/api/v1/subscriptions/{sub2}", "a", "update", "subscription", "{sub2}",
         {"json": {"target": f"http://127.0.0.1:9/y?token={URL_TOKEN}"}}),
    Step("sub-rotate", "POST", "/api/v1/subscriptions/{sub2}/rotate-secret", "a", "rotate_secret",
         "subscription", "{sub2}", secret="secret"),
    Step("sub-disable", "POST", "/api/v1/subscriptions/{sub2}/disable", "a", "disable", "subscription", "{sub2}"),
    Step("sub-enable", "POST", "/api/v1/subscriptions/{sub2}/enable", "a", "enable", "subscription", "{sub2}"),
    Step("sub-delete", "DELETE", "/api/v1/subscriptions/{sub2}", "a", "delete", "subscription", "{sub2}"),
    Step("alert-status", "POST", "/api/v1/alerts/{alert}/status", "a", "set_status", "alert", "{alert}",
         {"json": {"status": "acknowledged"}}),
    Step("suppression-create", "POST", "/api/v1/suppressions", "a", "create", "suppression", "{rule}",
         {"json": {"provider_id": "hosp-a", "asset_id": "ast_x", "indicator_key": "ipv4:192.0.2.1",
                   "reason": "our scanner"}}, ("rule", "id")),
    Step("suppression-update", "PATCH", "/api/v1/suppressions/{rule}", "a", "update", "suppression", "{rule}",
         {"json": {"reason": "our own scanner"}}),
    Step("suppression-delete", "DELETE", "/api/v1/suppressions/{rule}", "a", "delete", "suppression", "{rule}"),
    Step("escalation-provider", "PUT", "/api/v1/providers/hosp-a/escalation-contact", "a",
         "set_escalation_contact", "provider", "hosp-a", {"json": {"email": "duty@hosp-a.example"}}),
    Step("escalation-csirt", "PUT", "/api/v1/csirts/csirt-1/escalation-contact", "csirt1",
         "set_escalation_contact", "csirt", "csirt-1", {"json": {"email": "oncall@csirt-1.example"}}),
    Step("csirt-sub-create", "POST", "/api/v1/csirts/csirt-1/subscriptions", "csirt1", "create",
         "csirt_subscription", "{csub}", {"json": {"channel": "email", "target": "oncall@csirt-1.example"}},
         ("csub", "id")),
    Step("csirt-sub-delete", "DELETE", "/api/v1/csirts/csirt-1/subscriptions/{csub}", "csirt1", "delete",
         "csirt_subscription", "{csub}"),
    Step("delivery-replay", "POST", "/api/v1/deliveries/{delivery}/replay", "a", "replay", "delivery",
         "{delivery}"),
    Step("feed-create", "POST", "/api/v1/feeds", "op", "create", "feed", "audit-feed",
         {"json": {"id": "audit-feed", "kind": "stix_bundle", "location": "/dev/null",
                   "credentials": {"password": FEED_PASSWORD}, "config": {"headers": {"X-Auth": URL_TOKEN}}}}),
    Step("feed-update", "PATCH", "/api/v1/feeds/audit-feed", "op", "update", "feed", "audit-feed",
         {"json": {"credentials": {"token": FEED_PASSWORD}}}),
    Step("feed-poll", "POST", "/api/v1/feeds/audit-feed/poll", "op", "poll", "feed", "audit-feed"),
    Step("feed-delete", "DELETE", "/api/v1/feeds/audit-feed", "op", "delete", "feed", "audit-feed"),
    Step("push-stix", "POST", "/api/v1/ingest/stix?feed_id=audit-push", "op", "push", "feed", "audit-push",
         {"content": json.dumps(BUNDLE)}),
    Step("push-csaf", "POST", "/api/v1/ingest/csaf?feed_id=audit-csaf", "op", "push", "feed", "audit-csaf",
         {"content": json.dumps({"document": {"category": "csaf_security_advisory"}})}),
    Step("alias-put", "POST", "/api/v1/vendor-aliases", "op", "add", "vendor_alias", "acmemed",
         {"json": {"alias": "AcmeMed", "brand": "AcmeMed", "group": "Baxter"}}),
    Step("alias-import", "POST", "/api/v1/vendor-aliases/import", "op", "import", "vendor_alias", "acmemed",
         {"json": [{"alias": "AcmeMed", "brand": "AcmeMed", "group": "Baxter"}]}),
    Step("alias-remove", "DELETE", "/api/v1/vendor-aliases?alias=AcmeMed", "op", "remove", "vendor_alias",
         "AcmeMed"),
    Step("key-create", "POST", "/api/v1/keys", "op", "create", "api_key", "{newkey}",
         {"json": {"role": "provider", "provider_id": "hosp-a", "name": "SOC"}}, ("newkey", "principal.key_id"),
         secret="key"),
    Step("key-rotate", "POST", "/api/v1/keys/{newkey}/rotate", "a", "rotate", "api_key", "{newkey}",
         {"json": {"grace_seconds": 0}}, ("rotated", "info.id"), secret="key"),
    Step("key-revoke", "POST", "/api/v1/keys/{rotated}/revoke", "op", "revoke", "api_key", "{rotated}"),
    Step("sighting", "POST", "/api/v1/sightings", "a", "submit", "sighting", "{sighting}",
         {"json": SIGHTING}, ("sighting", "id")),
    Step("sighting-stix", "POST", "/api/v1/sightings/stix", "a", "submit", "sighting", "{stix_sighting}",
         {"json": STIX_SIGHTINGS}, ("stix_sighting", "receipts.0.id")),
    Step("sighting-confirm", "POST", "/api/v1/sightings/{sighting}/confirm", "csirt1", "confirm", "sighting",
         "{sighting}"),
]  # fmt: skip


def _field(body: dict[str, Any], dotted: str) -> str:
    value: Any = body
    for part in dotted.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return str(value)


@dataclass
class Outcome:
    step: Step
    status: int
    new_rows: list[dict[str, Any]]
    target: str


@pytest.fixture(scope="module")
async def written(world: World) -> list[Outcome]:
    """Every step of ``STEPS`` run once, in order, with the rows each one added."""
    h = world.h
    auths = {"op": h.op, "a": world.a.auth, "csirt1": world.csirt1}
    known = dict(world.ids)
    outcomes: list[Outcome] = []
    for step in STEPS:
        before = len(await _rows(world))
        resp = await h.api.request(step.method, step.path.format(**known), headers=auths[step.who], **step.kw)
        body = resp.json() if resp.content and resp.status_code < 300 else {}
        if step.remember and body:
            known[step.remember[0]] = _field(body, step.remember[1])
        if step.secret and body:
            world.secrets.append(body[step.secret])
        target = step.target.format_map(_Missing(known))
        outcomes.append(Outcome(step, resp.status_code, (await _rows(world))[before:], target))
    return outcomes


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"<{key} unknown>"


async def test_each_write_route_records_exactly_one_row_naming_actor_and_target(
    world: World, written: list[Outcome]
) -> None:
    auths = {"op": world.h.op, "a": world.a.auth, "csirt1": world.csirt1}
    for out in written:
        name = out.step.name
        assert out.status < 300, f"{name}: {out.status}"
        assert len(out.new_rows) == 1, f"{name}: {len(out.new_rows)} rows"
        (row,) = out.new_rows
        assert row["actor"] == _key_id(auths[out.step.who]), name
        assert row["actor_role"] == {"op": "operator", "a": "provider", "csirt1": "csirt"}[out.step.who], name
        assert (row["action"], row["resource"]) == (out.step.action, out.step.resource), name
        assert out.target in _ids(row), f"{name}: {out.target} not in {_ids(row)}"


def _write_routes(w: World) -> set[tuple[str, str]]:
    paths = w.h.api._transport.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (m.upper(), p) for p, ops in paths.items() for m in ops if m in {"post", "patch", "put", "delete"}
    }


NOT_AUDITED: set[tuple[str, str]] = set()  # every write route is audited, ingest pushes and polls too


def _template(path: str) -> str:
    out = path.split("?")[0]
    for concrete, name in (
        ("hosp-a", "{provider_id}"),
        ("{asset2}", "{asset_id}"),
        ("{sub2}", "{subscription_id}"),
        ("{alert}", "{alert_id}"),
        ("{delivery}", "{delivery_id}"),
        ("audit-feed", "{feed_id}"),
        ("{newkey}", "{key_id}"),
        ("{rotated}", "{key_id}"),
        ("{rule}", "{rule_id}"),
        ("{csub}", "{subscription_id}"),
        ("csirt-1", "{csirt_id}"),
        ("{sighting}", "{sighting_id}"),
    ):
        out = out.replace(concrete, name)
    return out


async def test_ingest_rows_carry_the_counts(world: World, written: list[Outcome]) -> None:
    rows = {out.step.name: out.new_rows[0] for out in written if out.new_rows}
    pushed = rows["push-stix"]["summary"]
    pushed = json.loads(pushed) if isinstance(pushed, str) else pushed
    assert (pushed["kind"], pushed["accepted"], pushed["rejected"]) == ("stix_bundle", 1, 0)
    assert pushed["bytes"] == len(json.dumps(BUNDLE)) and pushed["default_tlp"] == "clear"
    csaf = rows["push-csaf"]["summary"]
    csaf = json.loads(csaf) if isinstance(csaf, str) else csaf
    assert csaf["kind"] == "csaf" and csaf["accepted"] == 0
    polled = rows["feed-poll"]["summary"]
    polled = json.loads(polled) if isinstance(polled, str) else polled
    assert polled["kind"] == "stix_bundle" and polled["accepted"] == 0 and polled["error"], polled


async def test_every_write_route_is_in_the_table(world: World) -> None:
    covered = {(s.method, _template(s.path)) for s in STEPS}
    missing = _write_routes(world) - covered - NOT_AUDITED
    assert missing == set(), "write routes without an audit step"


CSV_ROW = "kind,name,value\nnetwork,Refused,192.0.2.0/24\n"
REFUSED = [
    pytest.param("csirt1", "POST", "/api/v1/providers/hosp-a/assets/import?format=csv", {"content": CSV_ROW},
                 403, id="csirt-writes-provider-data"),
    pytest.param("a", "POST", "/api/v1/providers/hosp-b/assets",
                 {"json": {"kind": "network", "name": "X", "value": "192.0.2.0/24"}}, 404, id="other-tenant"),
    pytest.param("a", "POST", "/api/v1/providers/hosp-a/assets",
                 {"json": {"kind": "network", "name": "X", "value": "not a network"}}, 422, id="invalid-asset"),
    pytest.param("a", "POST", "/api/v1/providers/hosp-a/assets/import?format=cyclonedx&device=no-such-device",
                 {"content": "{}"}, 422, id="import-rejected-after-audit-added"),
    pytest.param("a", "DELETE", "/api/v1/providers/hosp-a/assets/no-such-asset", {}, 404, id="delete-missing"),
    pytest.param("a", "POST", "/api/v1/feeds", {"json": {"id": "f", "kind": "stix_bundle", "location": "/x"}},
                 403, id="provider-on-operator-route"),
    pytest.param("none", "POST", "/api/v1/providers", {"json": {"id": "z", "name": "Z", "country": "FR"}},
                 401, id="unauthenticated"),
    pytest.param("op", "POST", "/api/v1/csirts", {"json": {"id": "bad id!", "name": "Z", "country": "FR"}},
                 422, id="invalid-body"),
    pytest.param("op", "DELETE", "/api/v1/vendor-aliases?alias=NeverAdded", {}, 404, id="alias-missing"),
    pytest.param("a", "POST", "/api/v1/deliveries/msg_missing/replay", {}, 404, id="replay-missing"),
    pytest.param("a", "PATCH", "/api/v1/subscriptions/{sub}", {"json": {"target": "http://192.0.2.1/x"}}, 422,
                 id="target-outside-allowed-networks"),
]  # fmt: skip


@pytest.mark.parametrize(("who", "method", "path", "kw", "expected"), REFUSED)
async def test_refused_request_leaves_no_row(
    world: World, written: list[Outcome], who: str, method: str, path: str, kw: dict[str, Any], expected: int
) -> None:
    auths = {"op": world.h.op, "a": world.a.auth, "csirt1": world.csirt1, "none": {}}
    before = await _rows(world)
    resp = await world.h.api.request(method, path.format(**world.ids), headers=auths[who], **kw)
    assert resp.status_code == expected, resp.text
    assert await _rows(world) == before


async def test_no_secret_in_any_raw_row(world: World, written: list[Outcome]) -> None:
    raw = json.dumps([{k: str(v) for k, v in r.items()} for r in await _rows(world)])
    secrets = [*world.secrets, FEED_PASSWORD, URL_TOKEN, "u:pw@"]
    assert len(world.secrets) >= 8
    for secret in secrets:
        assert secret not in raw
        assert secret.removeprefix("whsec_") not in raw
    assert "[redacted]" in raw  # the summaries did carry the redacted fields


async def _all(w: World, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await w.h.call("GET", "/api/v1/audit", auth=auth, params=query)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_tenants_read_their_own_rows_operators_all(world: World, written: list[Outcome]) -> None:
    everything = await _all(world, world.h.op, limit=1000)
    assert len(everything) == len(await _rows(world))
    assert {r["provider_id"] for r in everything} >= {"hosp-a", "hosp-b", None}
    own = await _all(world, world.a.auth)
    assert own and {r["provider_id"] for r in own} == {"hosp-a"}
    assert own == [r for r in everything if r["provider_id"] == "hosp-a"]
    constituency = await _all(world, world.csirt1)
    assert {r["provider_id"] for r in constituency} == {"hosp-a"}  # csirt-1 has hosp-a only
    b_only = await _all(world, world.b.auth)
    assert b_only and {r["provider_id"] for r in b_only} == {"hosp-b"}
    # Asking for another tenant's rows finds none rather than leaking them.
    assert await _all(world, world.a.auth, provider_id="hosp-b") == []


@pytest.mark.parametrize("limit", [pytest.param(1, id="one"), pytest.param(3, id="three")])
async def test_cursor_pages_cover_every_row_once_newest_first(world: World, limit: int) -> None:
    paged = await _all(world, world.h.op, limit=limit)
    assert [r["id"] for r in paged] == sorted((r["id"] for r in paged), reverse=True)
    assert [r["id"] for r in paged] == [r["id"] for r in await _all(world, world.h.op, limit=1000)]


async def test_filters_by_actor_resource_and_time(world: World) -> None:
    op_id = _key_id(world.h.op)
    by_op = await _all(world, world.h.op, actor=op_id)
    assert by_op and all(r["actor"] == op_id for r in by_op)
    subs = await _all(world, world.h.op, resource="subscription")
    assert subs and all(r["resource"] == "subscription" for r in subs)
    newest = (await _all(world, world.h.op, limit=1000))[0]
    assert await _all(world, world.h.op, since=newest["at"]) != []
    assert newest["id"] not in {r["id"] for r in await _all(world, world.h.op, until=newest["at"])}
    far = await _all(world, world.h.op, since="2999-01-01T00:00:00+00:00")
    assert far == []
    bad = await world.h.api.get("/api/v1/audit", params={"cursor": "bm90LWFuLWlk"}, headers=world.h.op)
    assert bad.status_code == 422
    for since in ("2026-01-01T00:00:00", "0.5", "1764756000"):  # no offset; epoch seconds are not RFC 3339
        refused = await world.h.api.get("/api/v1/audit", params={"since": since}, headers=world.h.op)
        assert refused.status_code == 422, since


@pytest.mark.parametrize("fmt", [pytest.param("jsonl", id="jsonl"), pytest.param("csv", id="csv")])
async def test_export_parses_and_matches_the_list(world: World, written: list[Outcome], fmt: str) -> None:
    for auth in (world.h.op, world.a.auth):
        expected = [r["id"] for r in await _all(world, auth, limit=1000)]
        resp = await world.h.api.get("/api/v1/audit/export", params={"format": fmt}, headers=auth)
        assert resp.status_code == 200
        if fmt == "jsonl":
            assert resp.headers["content-type"].startswith("application/x-ndjson")
            rows = [json.loads(line) for line in resp.text.splitlines()]
        else:
            assert resp.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert [int(r["id"]) for r in rows] == expected
        for secret in world.secrets:
            assert secret not in resp.text


# --- CLI writes ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("EWARN_DATABASE_URL", database_url)
    monkeypatch.delenv("EWARN_KAFKA__BOOTSTRAP", raising=False)

    async def migrate() -> None:
        engine = create_engine(database_url)
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(migrate())
    yield database_url
    from ewarn import names

    names.set_operator_aliases(())  # the CLI applies aliases in this process too


def _raw_rows(url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            result = await session.execute(text("SELECT * FROM audit_log ORDER BY id"))
            out = [dict(r._mapping) for r in result]
        await engine.dispose()
        return out

    return asyncio.run(read())


def _unbind_logging_from_closed_streams() -> None:
    _drop_closed_log_handlers()
    structlog.reset_defaults()  # its print logger is bound to the stream it was configured with


def _drop_closed_log_handlers() -> None:
    """A command that configures logging binds it to CliRunner's stream, closed once the command returns."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
            root.removeHandler(handler)


class _Runner(CliRunner):
    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        _unbind_logging_from_closed_streams()
        try:
            return super().invoke(*args, **kwargs)
        finally:
            _unbind_logging_from_closed_streams()


def test_cli_writes_record_the_os_user(cli_database: str) -> None:
    runner = _Runner()
    commands = [
        (["feeds", "add", "cli-feed", "--kind", "stix_bundle", "--location", "/dev/null",
          "--credentials", json.dumps({"token": FEED_PASSWORD})], ("create", "feed", "cli-feed")),
        (["aliases", "add", "Flowtek GmbH", "--brand", "Flowtek", "--group", "Welch Allyn"],
         ("add", "vendor_alias", None)),
        (["aliases", "remove", "Flowtek GmbH"], ("remove", "vendor_alias", "Flowtek GmbH")),
        (["providers", "add", "--id", "hosp-cli", "--name", "CLI Hospital", "--country", "FR"],
         ("upsert", "provider", "hosp-cli")),
        (["keys", "create", "--role", "provider", "--provider-id", "hosp-cli"], ("create", "api_key", None)),
    ]  # fmt: skip
    printed = ""
    for args, (action, resource, target) in commands:
        before = len(_raw_rows(cli_database))
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        printed += result.stdout
        rows = _raw_rows(cli_database)
        assert len(rows) == before + 1, args
        row = rows[-1]
        assert (row["actor"], row["actor_role"]) == (f"cli:{getpass.getuser()}", "cli")
        assert (row["action"], row["resource"]) == (action, resource)
        assert target is None or target in _ids(row)
    refused = runner.invoke(app, ["aliases", "remove", "Never Added"])
    assert refused.exit_code != 0
    assert len(_raw_rows(cli_database)) == len(commands)
    key = next(word for word in printed.split() if word.startswith("ewk_"))
    revoked = runner.invoke(app, ["keys", "revoke", key.split("_")[1]])
    assert revoked.exit_code == 0, revoked.output
    last = _raw_rows(cli_database)[-1]
    assert (last["action"], last["resource"], _ids(last)) == ("revoke", "api_key", [key.split("_")[1]])
    raw = json.dumps([{k: str(v) for k, v in r.items()} for r in _raw_rows(cli_database)])
    assert FEED_PASSWORD not in raw and key not in raw
