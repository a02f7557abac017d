"""The real ``ewarn`` command as an operator runs it: ``serve`` end to end, ``ingest`` one-shot."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.netutil import LOOPBACK, free_port
from tests.support.processes import child_environment, ewarn_command
from tests.support.receivers import WebhookReceiver

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.inventory.models import AssetIn
from ewarn.inventory.service import register_assets
from ewarn.models.alert import Severity
from ewarn.models.asset import AssetKind
from ewarn.models.provider import Provider
from ewarn.models.subscription import Channel, SubscriptionFilters
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.repositories.subscriptions import create_subscription

OPERATOR_KEY = "ewk_operator_cli_test_0123456789abcdef"
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
            "pattern": "[ipv4-addr:value = '198.51.100.23']",
            "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z",
            "labels": ["c2"],
        }
    ],
}


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    rec = WebhookReceiver()
    await rec.start()
    yield rec
    await rec.down()


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return child_environment(
        {
            "EWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
            "EWARN_API_PORT": str(port),
            "EWARN_BOOTSTRAP_OPERATOR_KEY": OPERATOR_KEY,
            "EWARN_DISPATCH__ALLOWED_NETWORKS": '["127.0.0.0/8"]',
            "EWARN_LOG_LEVEL": "INFO",
        }
    )


async def _wait_healthy(client: httpx.AsyncClient, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            pytest.fail(f"ewarn serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail(f"ewarn serve never became healthy:\n{log.read_text()[-3000:]}")


async def test_serve_runs_every_role_and_delivers_a_pushed_bundle(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*ewarn_command(), "serve"], env=_env(tmp_path, port), stdout=out, stderr=subprocess.STDOUT
        )
    op = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as api:
            await _wait_healthy(api, proc, log)
            assert (
                await api.post(
                    "/api/v1/providers", headers=op, json={"id": "h1", "name": "H1", "country": "DE"}
                )
            ).status_code == 201
            key = (
                await api.post("/api/v1/keys", headers=op, json={"role": "provider", "provider_id": "h1"})
            ).json()["key"]
            soc = {"Authorization": f"Bearer {key}"}
            resp = await api.post(
                "/api/v1/providers/h1/assets",
                headers=soc,
                json=[{"kind": "network", "name": "Ward LAN", "value": "198.51.100.0/24"}],
            )
            assert resp.status_code == 201, resp.text
            sub = (
                await api.post(
                    "/api/v1/providers/h1/subscriptions",
                    headers=soc,
                    json={"channel": "webhook", "target": receiver.url()},
                )
            ).json()
            receiver.secrets = [sub["secret"]]
            await asyncio.sleep(0.5)  # the asset change reaches the correlator through the bus
            pushed = await api.post("/api/v1/ingest/stix", headers=op, json=BUNDLE)
            assert pushed.status_code == 200, pushed.text
            (request,) = await receiver.wait_accepted(1, timeout=20)
            assert request.json()["data"]["reason"].startswith(
                "198.51.100.23 is inside your range 198.51.100.0/24 'Ward LAN'"
            )
            status = None
            for _ in range(50):
                status = (await api.get("/api/v1/status", headers=op)).json()
                if {r["role"] for r in status["roles"] if r["alive"]} >= {
                    "ingest",
                    "correlate",
                    "dispatch",
                    "api",
                }:
                    break
                await asyncio.sleep(0.2)
            assert status is not None
            assert {r["role"] for r in status["roles"] if r["alive"]} >= {
                "ingest",
                "correlate",
                "dispatch",
                "api",
            }
            assert status["deliveries"].get("delivered") == 1
            assert status["ingest_to_delivery"]["samples"] == 1
            page = await api.get("/status")
            assert page.status_code == 200 and "/api/v1/status" in page.text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert OPERATOR_KEY not in text and key not in text and sub["secret"] not in text  # secrets never logged


async def test_ingest_command_sees_a_file_through_to_the_webhook(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'oneshot.db'}"
    engine = create_engine(url)
    await upgrade_to_head(engine)
    async with session_factory(engine)() as session:
        await upsert_provider(session=session, provider=Provider(id="h2", name="H2", country="FR"))
        await register_assets(
            session=session,
            bus=MemoryBus(),
            topics=Topics(),
            provider_id="h2",
            items=[AssetIn(kind=AssetKind.NETWORK, name="Imaging", value="198.51.100.16/28")],
        )
        _, secret = await create_subscription(
            session=session,
            provider_id="h2",
            channel=Channel.WEBHOOK,
            target=receiver.url(),
            filters=SubscriptionFilters(min_severity=Severity.INFO),
        )
        await session.commit()
    await engine.dispose()
    assert secret is not None
    receiver.secrets = [secret]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(BUNDLE))

    env = _env(tmp_path, free_port()) | {"EWARN_DATABASE_URL": url}
    done = await asyncio.to_thread(
        subprocess.run,
        [*ewarn_command(), "ingest", str(bundle), "--wait", "20"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads(done.stdout)
    assert report["accepted"] == 1 and report["rejected"] == 0
    (request,) = receiver.accepted
    assert request.json()["data"]["match"]["asset_name"] == "Imaging"
