"""The operator's live status page in a real browser, against the real pipeline over real HTTP.

One hospital, one network asset, one webhook on a loopback receiver, one small STIX bundle: one alert,
delivered. The page is opened in headless Chromium (tests/support/browser.py keeps it on 127.0.0.1) and read
the way an operator reads it: tiles, roles table, errors, and what it shows for a wrong key, a key without
the operator role and a key revoked while watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Locator, Page, expect
from sqlalchemy import select, update
from tests.support.browser import LoopbackBrowser, chromium
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.receivers import WebhookReceiver

from ewarn.api.app import create_app
from ewarn.api.server import EmbeddedServer
from ewarn.models.common import utcnow
from ewarn.models.provider import Role
from ewarn.store.db import as_utc
from ewarn.store.repositories.principals import create_api_key
from ewarn.store.tables import ApiKeyRow, HeartbeatRow

pytestmark = pytest.mark.timeout(60)

RED = "rgb(207, 34, 46)"
REJECTED = re.compile(r"Failed to load resource: the server responded with a status of 40[13] ")
NOW = utcnow().replace(microsecond=0).isoformat().replace("+00:00", "Z")
BUNDLE = {
    "type": "bundle",
    "id": "bundle--5d0c8a52-6f0e-4a53-9d3b-6c1f4f0a0001",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--5d0c8a52-6f0e-4a53-9d3b-6c1f4f0a0002",
            "created": NOW,
            "modified": NOW,
            "name": "C2 server contacting hospital range",
            "pattern": "[ipv4-addr:value = '203.0.113.7']",
            "pattern_type": "stix",
            "valid_from": NOW,
        }
    ],
}


@dataclass
class Live:
    pipe: Harness
    url: str
    receiver: WebhookReceiver
    tenant: Tenant


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    """The pipeline with its API on a loopback port, after one alert went to the hospital's webhook."""
    db = tmp_path_factory.mktemp("status-page") / "ewarn.db"
    receiver = WebhookReceiver()
    await receiver.start()
    async with harness(f"sqlite+aiosqlite:///{db}") as pipe:
        config = uvicorn.Config(
            create_app(pipe.runtime),
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = EmbeddedServer(config)
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    assert not task.done(), "the API server stopped while starting"
                    await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]

            await pipe.add_csirt("cert-eu-health")
            tenant = await pipe.add_tenant("hosp-a", csirt_id="cert-eu-health")
            await pipe.add_assets(
                tenant, [{"kind": "network", "name": "PACS DMZ", "value": "203.0.113.0/24"}]
            )
            sub = await pipe.subscribe_webhook(tenant, receiver.url())
            receiver.secrets = [sub["secret"]]
            report = await pipe.ingest(json.dumps(BUNDLE).encode(), feed_id="partner-push")
            assert report.rejected == 0
            await pipe.drained()
            assert len(await pipe.alerts(tenant.auth)) == 1
            assert len(receiver.accepted) == 1 and receiver.accepted[0].verified

            yield Live(pipe=pipe, url=f"http://127.0.0.1:{port}/status", receiver=receiver, tenant=tenant)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
    await receiver.down()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[LoopbackBrowser]:
    async with contextlib.AsyncExitStack() as stack:
        try:
            b = await stack.enter_async_context(chromium())
        except RuntimeError as exc:
            pytest.fail(f"cannot start Chromium: {exc}", pytrace=False)
        yield b
    assert b.foreign == [], f"a page tried to leave 127.0.0.1: {b.foreign}"
    assert b.outbound == [], f"Chromium tried to leave 127.0.0.1: {b.outbound}"


@pytest.fixture
async def page(browser: LoopbackBrowser) -> AsyncIterator[Page]:
    """A new tab: its own (empty) sessionStorage."""
    p = await browser.context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield p
    with contextlib.suppress(Exception):
        await p.close()
    # Chromium logs a 401/403 answer as a failed resource load; anything else is a broken page.
    assert [e for e in errors if not REJECTED.match(e)] == [], errors


def tile(page: Page, label: str) -> Locator:
    return page.get_by_role("group", name=label, exact=True).locator("b")


def role_row(page: Page, role: str) -> Locator:
    return page.locator("#roles tbody tr").filter(
        has=page.locator("td:first-child", has_text=re.compile(f"^{role}$"))
    )


async def watch(page: Page, key: str) -> None:
    await page.get_by_label("Operator API key").fill(key)
    await page.get_by_role("button", name="Watch").click()


async def beats(live: Live) -> dict[str, HeartbeatRow]:
    async with live.pipe.runtime.sessions() as session:
        return {hb.role: hb for hb in (await session.scalars(select(HeartbeatRow))).all()}


async def test_roles_of_the_harness_keep_beating(live: Live) -> None:
    """What the page shows as alive is real: correlate and dispatch write a fresh heartbeat every 2 s."""
    first = await beats(live)
    assert {"correlate", "dispatch"} <= first.keys()
    async with asyncio.timeout(6):
        while True:
            now = await beats(live)
            if all(now[r].last_beat_at > first[r].last_beat_at for r in ("correlate", "dispatch")):
                break
            await asyncio.sleep(0.1)
    for role in ("correlate", "dispatch"):
        assert utcnow() - as_utc(now[role].last_beat_at) < timedelta(seconds=5)  # type: ignore[operator]


async def test_operator_sees_the_delivered_alert_and_live_roles(
    live: Live, browser: LoopbackBrowser, page: Page, tmp_path: Path
) -> None:
    # A role instance that stopped beating two minutes ago: the operator must see it, in red.
    async with live.pipe.runtime.sessions() as session:
        session.add(
            HeartbeatRow(
                instance_id="ingest:old-host:4242:dead00",
                role="ingest",
                host="old-host",
                pid=4242,
                started_at=utcnow() - timedelta(hours=1),
                last_beat_at=utcnow() - timedelta(minutes=2),
                stats={},
            )
        )
        await session.commit()

    await page.goto(live.url)
    await expect(page.get_by_role("status")).to_contain_text("Enter the operator API key")
    await watch(page, live.pipe.operator_key)

    await expect(tile(page, "alerts")).to_have_text("1")
    await expect(tile(page, "delivered")).to_have_text("1")
    await expect(tile(page, "pending (backlog)")).to_have_text("0")
    await expect(tile(page, "dead letters")).to_have_text("0")
    await expect(tile(page, "indicators")).to_have_text("1")
    await expect(tile(page, "p50 ingest→delivery")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    for role in ("correlate", "dispatch"):
        await expect(role_row(page, role).locator("td").nth(1)).to_have_text("alive")
    silent = role_row(page, "ingest").locator("td").nth(1)
    await expect(silent).to_have_text("silent")
    await expect(silent).to_have_css("color", RED)
    await expect(role_row(page, "ingest").locator("td").nth(2)).to_have_text(re.compile(r"^2 min \d+ s ago$"))
    await expect(page.locator("#summary")).to_have_text("1 of 3 role instances silent: ingest")
    await expect(page.locator("#summary")).to_have_css("color", RED)
    await expect(page.get_by_role("status")).to_contain_text(re.compile(r"last updated \d"))
    await expect(page.locator("#err")).to_have_text("")

    # It keeps polling: the "last updated" time moves on by itself.
    before = await page.get_by_role("status").text_content()
    await expect(page.get_by_role("status")).not_to_have_text(before or "", timeout=4000)
    await expect(page.locator("#err")).to_have_text("")

    await page.screenshot(path=tmp_path / "status-page.png", full_page=True)

    # The key lives in this tab's sessionStorage only: not in the URL, localStorage, cookies or any request URL.
    key = live.pipe.operator_key
    assert page.url == live.url
    assert await page.evaluate("() => JSON.stringify(Object.assign({}, localStorage))") == "{}"
    assert await page.evaluate("() => sessionStorage.getItem('ewarnKey')") == key
    assert await browser.context.cookies() == []
    assert browser.requested and not [u for u in browser.requested if key in u]
    assert browser.foreign == []

    # A reload in the same tab keeps watching without retyping the key.
    await page.reload()
    await expect(tile(page, "alerts")).to_have_text("1")


async def no_data(page: Page) -> None:
    await expect(page.locator(".tile")).to_have_count(0)
    await expect(page.locator("#roles tbody tr")).to_have_count(0)
    await expect(page.locator("#feeds tbody tr")).to_have_count(0)
    await expect(page.locator("#summary")).to_be_empty()


async def test_wrong_key_shows_401_and_no_data(live: Live, page: Page) -> None:
    await page.goto(live.url)
    await watch(page, live.pipe.operator_key)
    await expect(tile(page, "delivered")).to_have_text("1")

    await watch(page, "ewk_not-a-real-operator-key")
    await expect(page.get_by_role("alert")).to_contain_text("Operator key rejected (401")
    # Nothing of what the right key showed survives, and a later poll does not bring it back.
    await no_data(page)
    await page.wait_for_timeout(2500)
    await no_data(page)
    await expect(page.get_by_role("alert")).to_contain_text("401")
    assert await page.evaluate("() => sessionStorage.getItem('ewarnKey')") is None

    # A hospital's own key is a valid key, but not an operator's.
    await watch(page, live.tenant.key)
    await expect(page.get_by_role("alert")).to_contain_text(
        "Operator key rejected (403: operator role required)"
    )
    await no_data(page)
    assert page.url == live.url
    assert await page.evaluate("() => localStorage.length") == 0


async def test_key_revoked_while_watching_empties_the_page(live: Live, page: Page) -> None:
    async with live.pipe.runtime.sessions() as session:
        principal, key = await create_api_key(session=session, role=Role.OPERATOR, name="night shift")
        await session.commit()
    await page.goto(live.url)
    await watch(page, key)
    await expect(tile(page, "alerts")).to_have_text("1")

    async with live.pipe.runtime.sessions() as session:
        await session.execute(update(ApiKeyRow).where(ApiKeyRow.id == principal.key_id).values(revoked=True))
        await session.commit()
    # No click: the next poll finds the key revoked and the page stops showing what it may no longer see.
    await expect(page.get_by_role("alert")).to_contain_text("Operator key rejected (401", timeout=5000)
    await no_data(page)
    await expect(page.get_by_role("status")).to_have_text("Not watching.")
