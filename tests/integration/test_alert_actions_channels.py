"""Done-when of issue 17: real CSAF and KEV data, one alert, every channel carries what to do, verbatim.

The CISA advisory ICSA-22-034-01 (Sensormatic PowerManage, Log4Shell) is read from ../shared/data with the
CISA KEV catalogue, through the real ingest, correlate and dispatch stages. The hospital's PowerManage 4.5
server alerts once; the test follows that alert to a signed webhook on loopback, an e-mail read back from
aiosmtpd, the REST API and the SSE stream served by uvicorn (and a STIX webhook), and checks in each that the vendor fix with its
fixed version, the KEV required action with its due date, and the advisory link are the source's own words.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from stix2validator import ValidationOptions, validate_instance
from tests.support.netutil import free_port
from tests.support.pipeline import Harness, Tenant
from tests.support.receivers import SmtpReceiver, WebhookReceiver

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.provider import Role
from ewarn.pipeline import running_stages
from ewarn.roles import prepare
from ewarn.runtime import Runtime
from ewarn.settings import DispatchSettings, Settings, SmtpSettings
from ewarn.store.db import create_engine, session_factory
from ewarn.store.repositories.principals import create_api_key

ADVISORY = Path("csaf") / "cisa-icsa-hospital-infrastructure" / "icsa-22-034-01.json"
KEV = Path("kev") / "known_exploited_vulnerabilities_2025-08-05.json"


@dataclass(frozen=True)
class SourceWords:
    """What the source documents say, read here with json alone (independently of ewarn's parsers)."""

    tracking_id: str
    advisory_url: str
    fix_text: str
    fix_url: str
    fixed_version: str
    cve: str
    required_action: str
    due_date: str


def source_words(data: Path) -> SourceWords:
    advisory = json.loads((data / ADVISORY).read_bytes())
    meta = advisory["document"]
    web = [r["url"] for r in meta["references"] if r["category"] == "self" and not r["url"].endswith(".json")]
    (vulnerability,) = advisory["vulnerabilities"]
    (fix,) = [r for r in vulnerability["remediations"] if r["category"] == "vendor_fix"]
    kev = {e["cveID"]: e for e in json.loads((data / KEV).read_bytes())["vulnerabilities"]}
    entry = kev[vulnerability["cve"]]
    return SourceWords(
        tracking_id=meta["tracking"]["id"],
        advisory_url=web[0],
        fix_text=fix["details"],
        fix_url=fix["url"],
        fixed_version=fix["details"].rsplit(" ", 1)[-1],  # "Upgrade PowerManage to Version 4.10"
        cve=vulnerability["cve"],
        required_action=entry["requiredAction"],
        due_date=entry["dueDate"],
    )


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    rec = WebhookReceiver()
    await rec.start()
    yield rec
    await rec.down()


@pytest.fixture
async def pipe(tmp_path: Path, smtp: SmtpReceiver) -> AsyncIterator[tuple[Harness, str]]:
    """Every stage in this process on SQLite, the API over ASGI and also served on 127.0.0.1 (for SSE)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}"
    settings = Settings(
        database_url=db_url,
        dispatch=DispatchSettings(
            allowed_networks=["127.0.0.0/8"], backoff_base_seconds=0.05, backoff_max_seconds=0.5
        ),
        smtp=SmtpSettings(host="127.0.0.1", port=smtp.port, sender="ewarn@csirt.example", timeout_seconds=5),
    )
    engine = create_engine(db_url)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        bus=MemoryBus(),
        topics=Topics(prefix="ewarn"),
    )
    await prepare(runtime)
    async with runtime.sessions() as session:
        _, operator_key = await create_api_key(session=session, role=Role.OPERATOR, name="test operator")
        await session.commit()
    app = create_app(runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ewarn.test") as api,
            httpx.AsyncClient(follow_redirects=False) as http,
        ):
            h = Harness(runtime=runtime, api=api, http=http, operator_key=operator_key)
            async with running_stages(runtime, http):
                yield h, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # an open event stream would otherwise hold the shutdown
        await asyncio.wait_for(serving, 10)
        await runtime.close()


async def _first_sse_alert(base_url: str, tenant: Tenant) -> dict[str, Any]:
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        client.stream(
            "GET", "/api/v1/alert-events/stream", params={"after": "0"}, headers=tenant.auth
        ) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data:"):
                event: dict[str, Any] = json.loads(line.removeprefix("data:").strip())
                assert event["alert"] is not None
                return event["alert"]
    raise AssertionError("the stream ended without an alert event")


def _assert_carries_the_source(alert: dict[str, Any], words: SourceWords, channel: str) -> None:
    """The alert as a channel delivered it (webhook data, API item, SSE event) says what the source said."""
    by_category = {r["category"]: r for r in alert["remediations"]}
    fix, required = by_category["vendor_fix"], by_category["required_action"]
    assert (fix["text"], fix["url"]) == (words.fix_text, words.fix_url), channel
    assert fix["fixed_versions"] == [words.fixed_version], channel
    assert (required["text"], required["due_date"]) == (words.required_action, words.due_date), channel
    assert [r["category"] for r in alert["remediations"]][:2] == ["required_action", "vendor_fix"], (
        f"{channel}: the deadline first, then the fix"
    )
    assert alert["advisory"] == words.tracking_id and alert["advisory_url"] == words.advisory_url, channel
    assert {"url": words.advisory_url, "kind": "advisory"}.items() <= alert["references"][0].items(), channel
    assert f"https://www.cve.org/CVERecord?id={words.cve}" in [r["url"] for r in alert["references"]]
    assert (
        alert["exploitation"]["known_exploited"] and alert["exploitation"]["kev_due_date"] == words.due_date
    )
    assert alert["asset_contact"] == {
        "name": "PowerManage server",
        "kind": "software",
        "location": "Building C, security office",
        "owner": "Facilities IT, +49 30 555 0100",
        "part_of": None,
        "supports": None,
    }, channel
    assert [s["kind"] for s in alert["next_steps"]] == ["patch", "isolate"], channel


def _assert_stix_carries_the_source(bundle: dict[str, Any], words: SourceWords) -> None:
    for obj in bundle["objects"]:
        result = validate_instance(obj, ValidationOptions(version="2.1", strict=False))
        assert result.is_valid, f"{obj['id']}: {[str(e) for e in result.errors]}"
    actions = {o["name"]: o for o in bundle["objects"] if o["type"] == "course-of-action"}
    fix, required = actions["Vendor fix"], actions["Required action (CISA KEV)"]
    assert fix["description"] == f"{words.fix_text}\nFixed version: {words.fixed_version}"
    assert required["description"] == f"{words.required_action}\nDue date: {words.due_date}"
    assert {"source_name": words.tracking_id, "url": words.advisory_url} in fix["external_references"]
    (threat,) = [o for o in bundle["objects"] if o["type"] == "vulnerability"]
    mitigating = {
        o["source_ref"]
        for o in bundle["objects"]
        if o["type"] == "relationship"
        and o["relationship_type"] == "mitigates"
        and o["target_ref"] == threat["id"]
    }
    assert {fix["id"], required["id"]} <= mitigating


async def test_one_real_alert_carries_what_to_do_into_every_channel(
    pipe: tuple[Harness, str], receiver: WebhookReceiver, smtp: SmtpReceiver, shared_data: Path
) -> None:
    h, served_url = pipe
    words = source_words(shared_data)
    tenant = await h.add_tenant("hosp-a")
    await h.add_assets(
        tenant,
        [
            {
                "kind": "software",
                "name": "PowerManage server",
                "vendor": "Johnson Controls",
                "product": "Sensormatic PowerManage",
                "version": "4.5",
                "location": "Building C, security office",
                "owner": "Facilities IT, +49 30 555 0100",
            }
        ],
    )
    sub = await h.subscribe_webhook(tenant, receiver.url())
    stix_sub = await h.call(
        "POST",
        f"/api/v1/providers/{tenant.provider_id}/subscriptions",
        auth=tenant.auth,
        json={
            "channel": "webhook",
            "target": receiver.url(),
            "payload_format": "stix",
            "filters": {"min_severity": "info", "tlp_ceiling": "amber"},
        },
    )
    receiver.secrets = [sub["secret"], stix_sub["secret"]]
    await h.call(
        "POST",
        f"/api/v1/providers/{tenant.provider_id}/subscriptions",
        auth=tenant.auth,
        json={
            "channel": "email",
            "target": "soc@hosp-a.example",
            "filters": {"min_severity": "info", "tlp_ceiling": "amber", "language": "fr"},
        },
    )

    kev = await h.ingest((shared_data / KEV).read_bytes(), kind="kev", feed_id="cisa-kev")
    csaf = await h.ingest((shared_data / ADVISORY).read_bytes(), kind="csaf", feed_id="cisa-csaf")
    assert kev.rejected == 0 and csaf.rejected == 0
    await h.drained()

    # API
    (api_alert,) = await h.alerts(tenant.auth)
    assert api_alert["advisory"] == words.tracking_id
    _assert_carries_the_source(api_alert, words, "api")
    # webhook JSON and STIX, signed, on loopback
    assert len(receiver.accepted) == 2 and all(r.verified for r in receiver.accepted)
    (delivered,) = [r for r in receiver.accepted if r.json().get("type") == "alert.created"]
    (stix,) = [r.json() for r in receiver.accepted if r.json().get("type") == "bundle"]
    body = delivered.json()
    assert body["data"]["id"] == api_alert["id"]
    _assert_carries_the_source(body["data"], words, "webhook")
    _assert_stix_carries_the_source(stix, words)
    # SSE, from a real HTTP server
    streamed = await _first_sse_alert(served_url, tenant)
    assert streamed["id"] == api_alert["id"]
    _assert_carries_the_source(streamed, words, "sse")
    # e-mail, in the subscription's language (French), the source's words verbatim, what to do first
    (mail,) = await smtp.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for verbatim in (words.fix_text, words.required_action, words.due_date, words.advisory_url):
        assert verbatim in text, verbatim
    assert f"Version corrigée: {words.fixed_version}" in text
    assert text.index("Que faire") < text.index("Gravité"), "the actions come before the details"
    assert f'<a href="{words.advisory_url}">' in html and words.fix_text in html
    assert "Owner" not in text and "Responsable:" in text and "Facilities IT, +49 30 555 0100" in text
