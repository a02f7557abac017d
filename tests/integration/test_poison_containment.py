"""One hospital cannot stop alerts for the others: the worst assets it can store, through the real pipeline.

Hospitals A and C register the same network; hospital B stores the worst assets it can: through the API
whatever is still accepted, and straight into the database what the API refuses (a lone surrogate in a name on
SQLite, where it can be stored at all; a row that no longer parses as an asset; a pending alert that no longer
parses, as a crash between store and publish would leave it). Then an indicator inside the shared network is
ingested: A and C must get their alerts, every role's alert list must answer, the unreadable rows must be
quarantined with their reasons and shown in the status report, and a restart (which republishes pending alerts)
must be clean and keep delivering. On SQLite and PostgreSQL, the in-process bus and the real stages.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.support.netutil import LOOPBACK, free_port
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.processes import child_environment, ewarn_command
from tests.support.receivers import WebhookReceiver

from ewarn.bus.base import Record
from ewarn.bus.memory import MemoryBus
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics
from ewarn.ids import asset_id
from ewarn.models.asset import Asset, AssetKind
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.tables import AlertEventRow, AlertRow, AssetRow, DeliveryRow, ProviderRow, QuarantineRow
from ewarn.textsafe import REPLACEMENT

SHARED_NET = "198.51.100.0/24"
POISON_NAME = "Radiology \ud800 VPN"  # a lone surrogate: no valid UTF-8, no JSON encoder takes it


def _bundle(*addresses: str) -> bytes:
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
            "created": "2026-12-01T00:00:00.000Z",
            "modified": "2026-12-01T00:00:00.000Z",
            "name": f"C2 server {address}",
            "pattern": f"[ipv4-addr:value = '{address}']",
            "pattern_type": "stix",
            "valid_from": "2026-12-01T00:00:00Z",
            "labels": ["malicious-activity"],
        }
        for i, address in enumerate(addresses, start=1)
    ]
    return json.dumps({"type": "bundle", "id": "bundle--poison-test", "objects": objects}).encode()


@pytest.fixture
async def receivers() -> AsyncIterator[dict[str, WebhookReceiver]]:
    started = {name: WebhookReceiver() for name in ("hosp-a", "hosp-b", "hosp-c")}
    for rec in started.values():
        await rec.start()
    yield started
    for rec in started.values():
        await rec.down()


async def _hospital(pipe: Harness, name: str, receiver: WebhookReceiver) -> Tenant:
    tenant = await pipe.add_tenant(name, csirt_id="csirt-health")
    sub = await pipe.subscribe_webhook(tenant, receiver.url())
    receiver.secrets = [sub["secret"]]
    return tenant


def _asset_row(provider_id: str, value: str, data: dict[str, Any], row_id: str | None = None) -> AssetRow:
    now = datetime.now(UTC)
    return AssetRow(
        id=row_id or asset_id(provider_id=provider_id, kind="network", natural_key=value),
        provider_id=provider_id,
        kind="network",
        value=value,
        data=data,
        deleted=False,
        created_at=now,
        updated_at=now,
    )


async def _store_poison(pipe: Harness, provider_id: str, *, sqlite: bool) -> dict[str, str]:
    """Write B's worst rows straight into the database; returns the keys they are quarantined under."""
    rows: list[Any] = []
    if sqlite:  # PostgreSQL cannot store a lone surrogate at all (neither in text nor in JSON)
        value = "198.51.100.0/26"
        poisoned = Asset(
            id=asset_id(provider_id=provider_id, kind="network", natural_key=value),
            provider_id=provider_id,
            kind=AssetKind.NETWORK,
            name=POISON_NAME,
            value=value,
        )
        rows.append(_asset_row(provider_id, value, poisoned.model_dump(mode="json")))
    unreadable = _asset_row(
        provider_id,
        "198.51.100.128/25",
        {"kind": "network", "value": "198.51.100.128/25", "criticality": "not-a-level"},
        row_id="ast_unreadable_poison",
    )
    rows.append(unreadable)
    now = datetime.now(UTC)
    pending = AlertRow(
        id="alr_unreadable_pending",
        provider_id=provider_id,
        indicator_key="ipv4:198.51.100.66",
        asset_id=unreadable.id,
        revision=1,
        severity="high",
        score=80.0,
        status="new",
        data={"id": "alr_unreadable_pending", "reason": "no alert at all", "revision": "one"},
        matched_at=now,
        created_at=now,
        updated_at=now,
    )
    rows.append(pending)
    async with pipe.runtime.sessions() as session, session.begin():
        session.add_all(rows)
    return {"asset": unreadable.id, "alert": f"{pending.id}@1"}


async def _store_poisoned_alert(pipe: Harness, template: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    data = {**template, "id": "alr_stored_poison", "revision": 1, "reason": "stored \ud800 reason"}
    async with pipe.runtime.sessions() as session, session.begin():
        session.add(
            AlertRow(
                id="alr_stored_poison",
                provider_id=template["provider_id"],
                indicator_key="ipv4:198.51.100.99",
                asset_id=template["asset_id"],
                revision=1,
                severity=template["severity"],
                score=template["score"],
                status="new",
                data=data,
                matched_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            AlertEventRow(
                provider_id=template["provider_id"], alert_id="alr_stored_poison", revision=1, created_at=now
            )
        )


async def _quarantined(pipe: Harness) -> dict[tuple[str, str], QuarantineRow]:
    async with pipe.runtime.sessions() as session:
        rows = (await session.scalars(select(QuarantineRow))).all()
    return {(r.kind, r.key): r for r in rows}


async def _wait_for(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _indicator_values(receiver: WebhookReceiver) -> set[str]:
    return {r.json()["data"]["match"]["indicator_value"] for r in receiver.accepted}


async def _get(pipe: Harness, url: str, auth: dict[str, str]) -> httpx.Response:
    return await pipe.api.get(url, headers=auth)


async def test_poisoned_tenant_cannot_stop_the_others_and_restart_is_clean(
    database_url: str, receivers: dict[str, WebhookReceiver]
) -> None:
    sqlite = database_url.startswith("sqlite")
    a_rec, b_rec, c_rec = receivers["hosp-a"], receivers["hosp-b"], receivers["hosp-c"]

    async with harness(database_url) as pipe:
        await pipe.add_csirt("csirt-health")
        a = await _hospital(pipe, "hosp-a", a_rec)
        b = await _hospital(pipe, "hosp-b", b_rec)
        c = await _hospital(pipe, "hosp-c", c_rec)
        for tenant in (a, c):
            await pipe.add_assets(tenant, [{"kind": "network", "name": "Clinical LAN", "value": SHARED_NET}])

        # Through the API: the surrogate is refused (a 4xx, never a 500, nothing stored).
        api_poison = await pipe.api.post(
            f"/api/v1/providers/{b.provider_id}/assets",
            headers={**b.auth, "Content-Type": "application/json"},
            # JSON may spell a lone surrogate as an escape; that is how it reached the database before
            content=json.dumps([{"kind": "network", "name": POISON_NAME, "value": "198.51.100.0/27"}]),
        )
        assert 400 <= api_poison.status_code < 500, api_poison.text
        keys = await _store_poison(pipe, b.provider_id, sqlite=sqlite)
        # Any accepted write of B announces an inventory change: every correlator reloads B's rows.
        await pipe.add_assets(b, [{"kind": "domain", "name": "Portal", "value": "hosp-b.example"}])

        async def unreadable_asset_quarantined() -> bool:
            return ("asset", keys["asset"]) in await _quarantined(pipe)

        await _wait_for("the unreadable asset row to be quarantined", unreadable_asset_quarantined)

        report = await pipe.ingest(_bundle("198.51.100.7"), feed_id="poison-round-1")
        assert report.rejected == 0
        await pipe.drained()

        assert _indicator_values(a_rec) == {"198.51.100.7"}, "hospital A got its alert"
        assert _indicator_values(c_rec) == {"198.51.100.7"}, "hospital C got its alert for the same indicator"
        if sqlite:
            # B's own poisoned asset still protects B: its alert went out with the text repaired
            names = {r.json()["data"]["match"]["asset_name"] for r in b_rec.accepted}
            assert names == {POISON_NAME.replace("\ud800", REPLACEMENT)}
        assert all(r.verified for rec in receivers.values() for r in rec.requests)

        if sqlite:  # a stored, published alert holding a lone surrogate (as before validation at the edge)
            await _store_poisoned_alert(pipe, b_rec.accepted[0].json()["data"])

        # Every role can read its alerts and B its assets (a 500 here was the reported failure).
        csirt = await pipe.csirt_key("csirt-health")
        for who, auth in (("provider B", b.auth), ("CSIRT", csirt), ("operator", pipe.op)):
            resp = await _get(pipe, "/api/v1/alerts?limit=500", auth)
            assert resp.status_code == 200, f"{who}: {resp.status_code} {resp.text[:300]}"
            resp.json()  # valid JSON (no lone surrogate leaked into the body)
        b_alerts = (await _get(pipe, "/api/v1/alerts?limit=500", b.auth)).json()["items"]
        assert "alr_unreadable_pending" not in {x["id"] for x in b_alerts}, "left out, not a failed list"
        events = await _get(pipe, "/api/v1/alert-events?limit=500", b.auth)
        assert events.status_code == 200, events.text[:300]
        if sqlite:
            shown = next(x for x in b_alerts if x["id"] == "alr_stored_poison")
            assert shown["reason"] == f"stored {REPLACEMENT} reason"
            reasons = {(e["alert"] or {}).get("reason") for e in events.json()["events"]}
            assert f"stored {REPLACEMENT} reason" in reasons
        for url in (
            "/api/v1/alerts/alr_unreadable_pending",
            f"/api/v1/providers/{b.provider_id}/assets/{keys['asset']}",
        ):
            one = await _get(pipe, url, pipe.op)
            assert one.status_code == 404, f"an unreadable row reads as absent: {url} -> {one.status_code}"
        listed = await _get(pipe, f"/api/v1/providers/{b.provider_id}/assets", b.auth)
        assert listed.status_code == 200, listed.text[:300]
        listed_ids = {item["id"] for item in listed.json()["items"]}
        assert keys["asset"] not in listed_ids, "the unreadable row is left out, not a failed list"

        status = await _get(pipe, "/api/v1/status", pipe.op)
        assert status.status_code == 200
        quarantine = status.json()["quarantine"]
        assert quarantine["by_kind"].get("asset", 0) >= 1
        shown = {(q["kind"], q["key"]) for q in quarantine["latest"]}
        assert ("asset", keys["asset"]) in shown
        entry = next(q for q in quarantine["latest"] if q["key"] == keys["asset"])
        assert entry["provider_id"] == b.provider_id and "not-a-level" in entry["reason"]

    # Restart on the same database: the start-up republish meets the unreadable pending alert, quarantines
    # it and goes on; the pipeline keeps delivering to everyone.
    async with harness(database_url) as pipe:

        async def pending_alert_quarantined() -> bool:
            return ("alert", keys["alert"]) in await _quarantined(pipe)

        await _wait_for("the unreadable pending alert to be quarantined", pending_alert_quarantined)
        report = await pipe.ingest(_bundle("198.51.100.9"), feed_id="poison-round-2")
        assert report.rejected == 0
        await pipe.drained()
        assert _indicator_values(a_rec) == {"198.51.100.7", "198.51.100.9"}
        assert _indicator_values(c_rec) == {"198.51.100.7", "198.51.100.9"}

        correlate = pipe.runtime.services["correlate"]
        assert correlate.stats()["quarantined"] >= 1

        status = await _get(pipe, "/api/v1/status", pipe.op)
        quarantine = status.json()["quarantine"]
        shown = {(q["kind"], q["key"]) for q in quarantine["latest"]}
        assert {("asset", keys["asset"]), ("alert", keys["alert"])} <= shown
        page = await pipe.api.get("/status")
        assert page.status_code == 200 and 'id="quarantine"' in page.text
        # the index load of this start met the unreadable asset again: counted, not repeated
        rows = await _quarantined(pipe)
        assert rows[("asset", keys["asset"])].occurrences >= 2
        assert sum(1 for kind, key in rows if key == keys["asset"]) == 1


def _variant(alert: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**alert, "revision": 1, **changes}


async def test_dispatch_sets_poison_aside_alone(
    database_url: str, receivers: dict[str, WebhookReceiver]
) -> None:
    """Alerts on the bus that the outbox cannot hold, and a stored payload no encoder takes."""
    sqlite = database_url.startswith("sqlite")
    a_rec = receivers["hosp-a"]
    async with harness(database_url) as pipe:
        await pipe.add_csirt("csirt-health")
        a = await _hospital(pipe, "hosp-a", a_rec)
        await pipe.add_assets(a, [{"kind": "network", "name": "Clinical LAN", "value": SHARED_NET}])
        await pipe.ingest(_bundle("198.51.100.7"), feed_id="dispatch-poison")
        await pipe.drained()
        (template,) = await pipe.alerts(a.auth)
        topics, bus = pipe.runtime.topics, pipe.runtime.bus

        nul = _variant(template, id="alr_poison_nul", reason="C2 \x00 inside")
        too_long = _variant(template, id="alr_poison_provider", provider_id="p" * 100)
        good = _variant(template, id="alr_good_neighbour")
        await bus.publish_many(
            topics.alerts,
            [
                (a.provider_id, json.dumps(nul).encode()),
                ("p" * 100, json.dumps(too_long).encode()),
                (a.provider_id, json.dumps(good).encode()),
            ],
        )
        await pipe.drained()

        delivered = [r.json()["data"]["id"] for r in a_rec.accepted]
        assert delivered.count("alr_good_neighbour") == 1, "the rest of the batch was delivered"
        assert "alr_poison_nul" not in delivered
        dead = [r for r in bus.records(topics.dlq)]  # type: ignore[attr-defined]
        assert [json.loads(r.value)["id"] for r in dead] == ["alr_poison_nul"]
        assert b"NUL" in dict(dead[0].headers)["ewarn-error"]
        if not sqlite:  # PostgreSQL refuses the 100-character provider id; SQLite stores it as it is
            held = await _quarantined(pipe)
            assert ("alert", "alr_poison_provider@1") in held
            assert held[("alert", "alr_poison_provider@1")].stage == "dispatch"

        if sqlite:  # a stored payload with a lone surrogate (only SQLite can hold one) is sent repaired
            async with pipe.runtime.sessions() as session, session.begin():
                row = (await session.scalars(select(DeliveryRow).limit(1))).one()
                payload = {**row.payload, "id": "alr_poison_payload"}
                payload["match"] = {**payload["match"], "asset_name": POISON_NAME}
                session.add(
                    DeliveryRow(
                        id="msg_poison_payload",
                        alert_id="alr_poison_payload",
                        alert_revision=1,
                        subscription_id=row.subscription_id,
                        provider_id=row.provider_id,
                        channel=row.channel,
                        status="pending",
                        attempts=0,
                        attempts_before_replay=0,
                        next_attempt_at=datetime.now(UTC),
                        payload=payload,
                        created_at=datetime.now(UTC),
                    )
                )
            await pipe.drained()
            sent = [
                r.json()["data"] for r in a_rec.accepted if r.json()["data"]["id"] == "alr_poison_payload"
            ]
            assert [s["match"]["asset_name"] for s in sent] == [POISON_NAME.replace("\ud800", REPLACEMENT)]


SERVE_KEY = "ewk_operator_poison_serve_0123456789abcdef"


async def test_ewarn_serve_starts_past_poisoned_rows_and_shows_them(
    database_url: str, tmp_path: Path
) -> None:
    """The reported failure: ``ewarn serve`` exited 1 when the start-up republish met one bad pending alert."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    now = datetime.now(UTC)
    async with session_factory(engine)() as session, session.begin():
        session.add(ProviderRow(id="hosp-b", name="B", country="DE", created_at=now))
        await session.flush()
        session.add(
            _asset_row("hosp-b", "192.0.2.0/24", {"kind": "network", "criticality": "??"}, row_id="ast_bad")
        )
        session.add(
            AlertRow(
                id="alr_bad_pending",
                provider_id="hosp-b",
                indicator_key="ipv4:192.0.2.1",
                asset_id="ast_bad",
                revision=3,
                severity="high",
                score=1.0,
                status="new",
                data={"id": "alr_bad_pending", "revision": "three"},
                matched_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    await engine.dispose()

    port = free_port()
    log = tmp_path / "serve.log"
    env = child_environment(
        {
            "EWARN_DATABASE_URL": database_url,
            "EWARN_API_PORT": str(port),
            "EWARN_BOOTSTRAP_OPERATOR_KEY": SERVE_KEY,
            "EWARN_LOG_LEVEL": "INFO",
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen([*ewarn_command(), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    shown: set[tuple[str, str]] = set()
    try:
        async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as api:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and shown != {
                ("asset", "ast_bad"),
                ("alert", "alr_bad_pending@3"),
            }:
                assert proc.poll() is None, (
                    f"ewarn serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
                try:
                    resp = await api.get("/api/v1/status", headers={"Authorization": f"Bearer {SERVE_KEY}"})
                    if resp.status_code == 200:
                        shown = {(q["kind"], q["key"]) for q in resp.json()["quarantine"]["latest"]}
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            assert shown == {("asset", "ast_bad"), ("alert", "alr_bad_pending@3")}, log.read_text()[-3000:]
            assert (await api.get("/healthz")).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]


async def test_runner_dead_letters_a_record_that_fails_the_same_way_every_time() -> None:
    """A stage bug met by one record (or a value the database refuses) must not stop its partition for good;
    an outage is still retried without end."""
    bus, topics = MemoryBus(), Topics(prefix="runner-test")
    await bus.start()
    await bus.publish_many(
        topics.indicators,
        [("k", b"ok-0"), ("k", b"bug"), ("k", b"refused"), ("k", b"outage"), ("k", b"ok-1")],
    )
    attempts: dict[bytes, int] = {}
    handled: list[bytes] = []

    class RefusedByDatabase(Exception):
        def __init__(self) -> None:
            super().__init__("value too long for type character varying(64)")
            self.orig = type("Orig", (), {"sqlstate": "22001"})()

    async def handler(record: Record) -> None:
        attempts[record.value] = attempts.get(record.value, 0) + 1
        if record.value == b"bug":
            raise KeyError("asset_name")
        if record.value == b"refused":
            raise RefusedByDatabase()
        if record.value == b"outage" and attempts[record.value] <= 4:
            raise OSError("connection refused")
        handled.append(record.value)

    runner = StageRunner(
        bus=bus,
        topics=[topics.indicators],
        group="stage",
        stage="test-stage",
        handler=handler,
        dlq_topic=topics.dlq,
        backoff_base=0.001,
        backoff_max=0.005,
        deterministic_attempts=3,
    )
    task = asyncio.create_task(runner.run())
    await _wait_for("the batch to be handled", lambda: _now(len(handled) == 3))
    runner.stop()
    await asyncio.wait_for(task, 10)
    assert handled == [b"ok-0", b"outage", b"ok-1"]
    assert attempts[b"bug"] == 3 and attempts[b"refused"] == 3 and attempts[b"outage"] == 5
    dead = {r.value: r.headers for r in bus.records(topics.dlq)}
    assert sorted(dead) == [b"bug", b"refused"]
    assert dead[b"bug"]["ewarn-error"] == b"KeyError: 'asset_name' (the same error 3 times)"
    assert dead[b"refused"]["ewarn-stage"] == b"test-stage"
    assert bus.lag(topics.indicators, group="stage") == 0


async def _now(value: bool) -> bool:
    return value


async def test_a_digest_goes_out_without_the_one_alert_it_cannot_render(
    database_url: str, receivers: dict[str, WebhookReceiver]
) -> None:
    a_rec = receivers["hosp-a"]
    async with harness(database_url) as pipe:
        await pipe.add_csirt("csirt-health")
        a = await _hospital(pipe, "hosp-a", a_rec)  # its immediate subscription gives a real payload
        await pipe.add_assets(a, [{"kind": "network", "name": "Clinical LAN", "value": SHARED_NET}])
        await pipe.ingest(_bundle("198.51.100.7"), feed_id="digest-poison")
        await pipe.drained()
        (template,) = await pipe.alerts(a.auth)
        digest = await pipe.call(
            "POST",
            f"/api/v1/providers/{a.provider_id}/subscriptions",
            auth=a.auth,
            json={"channel": "webhook", "target": a_rec.url(), "digest": "hourly"},
        )
        a_rec.secrets = [*a_rec.secrets, digest["secret"]]
        payloads = {
            "msg_digest_good_1": {**template, "id": "alr_digest_good_1"},
            "msg_digest_poison": {"id": "alr_digest_poison", "no": "alert here"},
            "msg_digest_good_2": {**template, "id": "alr_digest_good_2"},
        }
        past = datetime(2026, 1, 1, 11, tzinfo=UTC)
        async with pipe.runtime.sessions() as session, session.begin():
            for delivery_id, payload in payloads.items():
                session.add(
                    DeliveryRow(
                        id=delivery_id,
                        alert_id=payload["id"],
                        alert_revision=1,
                        subscription_id=digest["id"],
                        provider_id=a.provider_id,
                        channel="webhook",
                        status="pending",
                        attempts=0,
                        attempts_before_replay=0,
                        next_attempt_at=past,
                        payload=payload,
                        digest_key="hourly:2026-01-01T10",
                        created_at=past,
                    )
                )

        async def settled() -> bool:
            async with pipe.runtime.sessions() as session:
                rows = (await session.scalars(select(DeliveryRow).where(DeliveryRow.id.in_(payloads)))).all()
            return all(r.status in ("delivered", "dead") for r in rows)

        await _wait_for("the digest's deliveries to settle", settled)
        async with pipe.runtime.sessions() as session:
            rows = {
                r.id: r
                for r in (await session.scalars(select(DeliveryRow).where(DeliveryRow.id.in_(payloads))))
            }
        assert {k: r.status for k, r in rows.items()} == {
            "msg_digest_good_1": "delivered",
            "msg_digest_poison": "dead",
            "msg_digest_good_2": "delivered",
        }
        assert "payload cannot be rendered" in (rows["msg_digest_poison"].last_error or "")
        digests = [r.json() for r in a_rec.accepted if r.json().get("type") == "alert.digest"]
        assert [sorted(x["id"] for x in d["data"]["alerts"]) for d in digests] == [
            ["alr_digest_good_1", "alr_digest_good_2"]
        ]
