"""The status stream (``/api/v1/status/stream``) over a real HTTP server, and the status page fed by it.

Figures change underneath a watching operator (a quarantined record, failed authentications in an API
heartbeat, a retention pass) and arrive on the stream, and in the page's tiles in headless Chromium (kept on
127.0.0.1 by tests/support/browser.py), without a reload and without polling ``/api/v1/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Locator, Page, expect
from sqlalchemy import insert, update
from tests.support.browser import LoopbackBrowser, chromium

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.models.common import utcnow
from ewarn.models.provider import Provider, Role
from ewarn.retention.prune import prune_once
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import create_api_key, upsert_provider
from ewarn.store.tables import ApiKeyRow, HeartbeatRow, QuarantineRow, RejectionRow

pytestmark = pytest.mark.timeout(90)

STREAM = "/api/v1/status/stream"


@dataclass
class Served:
    runtime: Runtime
    base_url: str
    keys: dict[str, str]
    key_ids: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", "Accept": "text/event-stream"}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    runtime = Runtime.build(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ewarn.db'}"), bus=MemoryBus()
    )
    await upgrade_to_head(runtime.engine)
    keys: dict[str, str] = {}
    key_ids: dict[str, str] = {}
    async with runtime.sessions() as session:
        await upsert_provider(session=session, provider=Provider(id="st-elsewhere", name="St", country="DE"))
        for who, role, kw in (
            ("operator", Role.OPERATOR, {}),
            ("night", Role.OPERATOR, {}),
            ("hospital", Role.PROVIDER, {"provider_id": "st-elsewhere"}),
        ):
            principal, keys[who] = await create_api_key(session=session, role=role, name=who, **kw)  # type: ignore[arg-type]
            key_ids[who] = principal.key_id
        await session.commit()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(runtime, f"http://127.0.0.1:{port}", keys, key_ids)
    finally:
        server.should_exit = True
        server.force_exit = True  # open event streams would otherwise hold the shutdown
        await asyncio.wait_for(task, 10)
        await runtime.engine.dispose()


async def quarantine_one(served: Served) -> None:
    now = utcnow()
    async with served.runtime.sessions() as session:
        await session.execute(
            insert(QuarantineRow).values(
                kind="asset",
                key="ast_bad",
                stage="correlate",
                reason="cannot parse",
                excerpt="{",
                occurrences=1,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
        await session.commit()


async def api_failures(served: Served, count: int) -> None:
    """An API instance's heartbeat as the guard writes it, counting failed authentications."""
    now = utcnow()
    async with served.runtime.sessions() as session:
        await session.execute(
            insert(HeartbeatRow).values(
                instance_id="api:test:1",
                role="api",
                host="test",
                pid=1,
                started_at=now,
                last_beat_at=now,
                stats={"auth_failures": count},
            )
        )
        await session.commit()


async def prune_two_old_rejections(served: Served) -> None:
    old = utcnow() - timedelta(days=400)
    async with served.runtime.sessions() as session:
        await session.execute(
            insert(RejectionRow),
            [
                {
                    "id": f"rej-{i}",
                    "feed_id": "f",
                    "feed_kind": "csv",
                    "record": "r",
                    "reason": "bad",
                    "rejected_at": old,
                }
                for i in range(2)
            ],
        )
        await session.commit()
    report = await prune_once(engine=served.runtime.engine, settings=served.runtime.settings.retention)
    assert report.pruned["rejections"] == 2


async def reports(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The ``status`` events of an open stream, parsed."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if line == "":
            if event == "status" and data:
                yield json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def next_matching(
    stream: AsyncIterator[dict[str, Any]], check: Any, within: float = 8.0
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        async for report in stream:
            if check(report):
                return report
    raise AssertionError("the stream ended before the figure arrived")


async def test_stream_sends_the_figures_as_they_change(served: Served) -> None:
    async with (
        httpx.AsyncClient(base_url=served.base_url, timeout=10) as client,
        client.stream("GET", STREAM, headers=served.headers("operator")) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = reports(response)
        first = await next_matching(stream, lambda r: True)
        assert first["quarantine"]["total"] == 0 and first["counts"]["auth_failures"] == 0
        assert first["retention"] is None

        await quarantine_one(served)
        changed = await next_matching(stream, lambda r: r["quarantine"]["total"] == 1)
        assert changed["quarantine"]["by_kind"] == {"asset": 1}

        await api_failures(served, 7)
        await next_matching(stream, lambda r: r["counts"]["auth_failures"] == 7)

        await prune_two_old_rejections(served)
        pruned = await next_matching(stream, lambda r: r["retention"] is not None)
        assert (pruned["retention"]["total"], pruned["retention"]["last_run"]) == (2, 2)
        assert pruned["retention"]["total_by_table"]["rejections"] == 2

        # Nothing changes: a report still goes out within a few seconds (the page can tell the stream lives).
        quiet = await next_matching(stream, lambda r: True, within=5)
        assert quiet["generated_at"] != pruned["generated_at"]


@pytest.mark.parametrize(
    ("who", "expected"),
    [pytest.param(None, 401, id="no-key"), pytest.param("hospital", 403, id="provider-key")],
)
async def test_only_operators_open_the_stream(served: Served, who: str | None, expected: int) -> None:
    headers = served.headers(who) if who else {}
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        response = await client.get(STREAM, headers=headers)
    assert response.status_code == expected
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_revoking_the_key_ends_its_stream(served: Served) -> None:
    async with (
        httpx.AsyncClient(base_url=served.base_url, timeout=10) as client,
        client.stream("GET", STREAM, headers=served.headers("night")) as response,
    ):
        stream = reports(response)
        await next_matching(stream, lambda r: True)
        async with served.runtime.sessions() as session:
            await session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == served.key_ids["night"]).values(revoked=True)
            )
            await session.commit()
        async with asyncio.timeout(5):
            async for _ in stream:
                pass  # reports already on their way; the stream must end by itself
        again = await client.get(STREAM, headers=served.headers("night"))
        assert again.status_code == 401


# --- the page ----------------------------------------------------------------------------------------------


@pytest.fixture
async def browser() -> AsyncIterator[LoopbackBrowser]:
    async with contextlib.AsyncExitStack() as stack:
        try:
            b = await stack.enter_async_context(chromium())
        except RuntimeError as exc:
            pytest.fail(f"cannot start Chromium: {exc}", pytrace=False)
        yield b
    assert b.foreign == [], f"a page tried to leave 127.0.0.1: {b.foreign}"
    assert b.outbound == [], f"Chromium tried to leave 127.0.0.1: {b.outbound}"


def tile(page: Page, label: str) -> Locator:
    return page.get_by_role("group", name=label, exact=True).locator("b")


async def test_status_page_updates_from_the_stream(
    served: Served, browser: LoopbackBrowser, tmp_path: Path
) -> None:
    page = await browser.context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        await page.goto(f"{served.base_url}/status")
        await page.get_by_label("Operator API key").fill(served.keys["operator"])
        await page.get_by_role("button", name="Watch").click()
        await expect(page.get_by_role("status")).to_contain_text("Watching live")
        await expect(tile(page, "quarantined")).to_have_text("0")
        await expect(tile(page, "failed authentications")).to_have_text("0")
        await expect(tile(page, "rows pruned")).to_have_text(
            "\u2013"
        )  # the page shows an en dash for "none yet"

        # No click, no reload: each change reaches the open page through the stream.
        await quarantine_one(served)
        await expect(tile(page, "quarantined")).to_have_text("1", timeout=6000)
        await expect(page.locator("#quarantine tbody tr td").nth(2)).to_have_text("ast_bad")
        await api_failures(served, 3)
        await expect(tile(page, "failed authentications")).to_have_text("3", timeout=6000)
        await prune_two_old_rejections(served)
        await expect(tile(page, "rows pruned")).to_have_text("2", timeout=6000)
        await expect(tile(page, "pruned by the last pass")).to_have_text("2")
        await expect(page.locator("#err")).to_have_text("")
        await page.screenshot(path=tmp_path / "status-stream.png", full_page=True)
    finally:
        with contextlib.suppress(Exception):
            await page.close()
    status_reads = [u for u in browser.requested if "/api/v1/status" in u]
    assert status_reads and all(u.endswith(STREAM) for u in status_reads), status_reads
    assert len(status_reads) == 1, "one stream carried every update: no polling, no reconnect"
    assert errors == [], errors
