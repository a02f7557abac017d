"""The demo: the real pipeline on the embedded default, driven through the real API."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from ewarn.bus.memory import MemoryBus
from ewarn.demo.receiver import Received, VerifyingReceiver
from ewarn.models.provider import Role
from ewarn.pipeline import running_stages, wait_until_drained
from ewarn.roles import ingest_service, prepare
from ewarn.runtime import Runtime
from ewarn.settings import DispatchSettings, Settings
from ewarn.status.report import percentile
from ewarn.store.repositories.principals import create_api_key

PROVIDER = "st-elsewhere"
DEMO_ASSETS: list[dict[str, Any]] = [
    {"kind": "network", "name": "PACS DMZ", "value": "203.0.113.0/24", "criticality": "critical"},
    {"kind": "network", "name": "Clinical VLAN v6", "value": "2001:db8:10::/48", "criticality": "high"},
    {"kind": "domain", "name": "Patient portal", "value": "st-elsewhere-hospital.example"},
    {"kind": "network", "name": "Guest Wi-Fi", "value": "192.0.2.128/25", "criticality": "low"},
]


def demo_bundle() -> bytes:
    return resources.files("ewarn.data").joinpath("demo_bundle.json").read_bytes()


async def _setup_tenant(api: httpx.AsyncClient, operator_key: str, hook_url: str) -> tuple[str, str]:
    """Register CSIRT, hospital, its assets and a webhook subscription through the API."""
    op = {"Authorization": f"Bearer {operator_key}"}
    (
        await api.post(
            "/api/v1/csirts",
            json={"id": "demo-csirt", "name": "Demo Health CSIRT", "country": "EU"},
            headers=op,
        )
    ).raise_for_status()
    (
        await api.post(
            "/api/v1/providers",
            json={"id": PROVIDER, "name": "St Elsewhere Hospital", "country": "EU", "csirt_id": "demo-csirt"},
            headers=op,
        )
    ).raise_for_status()
    resp = await api.post("/api/v1/keys", json={"role": "provider", "provider_id": PROVIDER}, headers=op)
    resp.raise_for_status()
    soc = {"Authorization": f"Bearer {resp.json()['key']}"}
    (await api.post(f"/api/v1/providers/{PROVIDER}/assets", json=DEMO_ASSETS, headers=soc)).raise_for_status()
    resp = await api.post(
        f"/api/v1/providers/{PROVIDER}/subscriptions",
        json={
            "channel": "webhook",
            "target": hook_url,
            "filters": {"min_severity": "info", "tlp_ceiling": "red"},
        },
        headers=soc,
    )
    resp.raise_for_status()
    return resp.json()["secret"], soc["Authorization"]


def _latency_ms(item: Received) -> float | None:
    data = item.payload.get("data", {})
    ingested = data.get("ingested_at")
    if not ingested:
        return None
    return (item.received_at - datetime.fromisoformat(ingested.replace("Z", "+00:00"))).total_seconds() * 1000


async def _print_arrivals(console: Console, receiver: VerifyingReceiver, stop: asyncio.Event) -> None:
    shown = 0
    while not stop.is_set() or shown < len(receiver.received):
        while shown < len(receiver.received):
            item = receiver.received[shown]
            shown += 1
            data = item.payload.get("data", {})
            lat = _latency_ms(item)
            took = f"{lat:.0f} ms" if lat is not None else "latency unknown"
            severity = str(data.get("severity", "?")).upper()
            console.print(
                f"[bold]{severity:8}[/] {data.get('reason', '')}  [dim]({item.webhook_id}, {took})[/]"
            )
        receiver.arrived.clear()
        try:
            await asyncio.wait_for(receiver.arrived.wait(), 0.2)
        except TimeoutError:
            continue


async def run_demo(*, console: Console, bundle: Path | None, workdir: Path | None) -> bool:
    """Run the demo; True when every routed alert reached the receiver with a valid signature."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="ewarn-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'demo.db'}",
        dispatch=DispatchSettings(allowed_networks=["127.0.0.0/8"], backoff_base_seconds=0.2),
    )
    runtime = Runtime.build(settings, bus=MemoryBus())
    receiver = VerifyingReceiver()
    hook_url = await receiver.start()
    started = time.perf_counter()
    try:
        await prepare(runtime)
        async with runtime.sessions() as session:
            _, operator_key = await create_api_key(session=session, role=Role.OPERATOR, name="demo")
            await session.commit()
        from ewarn.api.app import create_app

        transport = httpx.ASGITransport(app=create_app(runtime))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://ewarn.internal") as api,
            httpx.AsyncClient(follow_redirects=False) as http,
        ):
            receiver.secret, soc_auth = await _setup_tenant(api, operator_key, hook_url)
            console.print(f"[bold]ewarn demo[/] — hospital '{PROVIDER}', webhook receiver {hook_url}")
            payload = await asyncio.to_thread(bundle.read_bytes) if bundle else demo_bundle()
            stop_printing = asyncio.Event()
            printer = asyncio.create_task(_print_arrivals(console, receiver, stop_printing))
            async with running_stages(runtime, http):
                report: Any = await ingest_service(runtime, http).ingest_bytes(  # type: ignore[attr-defined]
                    payload=payload, kind="stix_bundle", feed_id="demo", name=str(bundle or "demo bundle")
                )
                drained = await wait_until_drained(runtime, timeout=30)
            stop_printing.set()
            await printer
            alerts = (
                await api.get("/api/v1/alerts", params={"limit": 500}, headers={"Authorization": soc_auth})
            ).json()
        for rejection in report.rejections:
            console.print(
                f"[yellow]rejected[/] {rejection.feed_id} record {rejection.record}: {rejection.reason}"
            )
        return _summary(console, report, alerts["items"], receiver, drained, time.perf_counter() - started)
    finally:
        await receiver.stop()
        await runtime.close()


def _summary(
    console: Console,
    report: Any,
    alerts: list[dict[str, Any]],
    receiver: VerifyingReceiver,
    drained: bool,
    took: float,
) -> bool:
    latencies = [v for v in (_latency_ms(r) for r in receiver.received) if v is not None]
    unique_ids = {r.webhook_id for r in receiver.received}
    table = Table(title="ewarn demo summary", show_header=False)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    rows = [
        ("indicators read", report.read),
        ("records rejected", report.rejected),
        ("alerts", len(alerts)),
        ("deliveries verified", len(unique_ids)),
        ("signature failures", receiver.rejected),
        ("p50 ingest→delivery", f"{p50:.1f} ms" if p50 is not None else "-"),
        ("p99 ingest→delivery", f"{p99:.1f} ms" if p99 is not None else "-"),
        ("wall time", f"{took:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    received_alerts = {r.payload.get("data", {}).get("id") for r in receiver.received}
    ok = drained and receiver.rejected == 0 and bool(alerts) and received_alerts == {a["id"] for a in alerts}
    if not ok:
        console.print("[red]demo incomplete: not every alert was delivered and verified[/]")
    return ok
