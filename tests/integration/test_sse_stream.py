"""The live alert stream over a real HTTP server and cursor polling.

A client disconnects and resumes with Last-Event-ID without missing an alert; each key sees only its tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.support.receivers import dispatch_settings, publish, running_dispatch, sample_alert

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.models.alert import Alert, MatchDetail
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.store.db import create_schema
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.tables import AlertRow

STREAM = "/api/v1/alert-events/stream"


@dataclass
class Served:
    runtime: Runtime
    base_url: str
    keys: dict[str, str]

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **extra}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    settings = dispatch_settings().model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'sse.db'}"}
    )
    runtime = Runtime.build(settings, bus=MemoryBus())
    await create_schema(runtime.engine)
    keys: dict[str, str] = {}
    async with runtime.sessions() as session:
        await upsert_csirt(session=session, csirt=Csirt(id="cert-de", name="Health CERT", country="DE"))
        for pid, csirt in (("st-elsewhere", "cert-de"), ("county-general", None)):
            await upsert_provider(
                session=session, provider=Provider(id=pid, name=pid, country="DE", csirt_id=csirt)
            )
        for who, role, kw in (
            ("operator", Role.OPERATOR, {}),
            ("a", Role.PROVIDER, {"provider_id": "st-elsewhere"}),
            ("b", Role.PROVIDER, {"provider_id": "county-general"}),
            ("csirt", Role.CSIRT, {"csirt_id": "cert-de"}),
        ):
            _, keys[who] = await create_api_key(session=session, role=role, **kw)  # type: ignore[arg-type]
        await session.commit()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with running_dispatch(
        sessions=runtime.sessions, bus=runtime.bus, topics=runtime.topics, settings=settings
    ):
        yield Served(runtime, f"http://127.0.0.1:{port}", keys)
    server.should_exit = True
    server.force_exit = True  # open event streams would otherwise hold the shutdown
    await asyncio.wait_for(task, 10)
    await runtime.close()


async def _emit(served: Served, *alerts: Alert) -> None:
    """What correlate does: store the alert, then publish it."""
    async with served.runtime.sessions() as session:
        for a in alerts:
            session.add(
                AlertRow(
                    id=a.id,
                    provider_id=a.provider_id,
                    indicator_key=a.indicator_key,
                    asset_id=a.asset_id,
                    revision=a.revision,
                    severity=a.severity.value,
                    score=a.score,
                    status=a.status.value,
                    data=a.model_dump(mode="json"),
                    matched_at=a.matched_at,
                    created_at=a.matched_at,
                    updated_at=a.matched_at,
                )
            )
        await session.commit()
    await publish(served.runtime.bus, served.runtime.topics, *alerts)


class EventReader:
    """Parses SSE events (id/event/data) from one open stream; comments (pings) are skipped."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        current: dict[str, str] = {}

        async def read() -> None:
            nonlocal current
            async for line in self._lines:
                if not line:
                    if "data" in current:
                        events.append(current)
                        if len(events) == count:
                            return
                    current = {}
                elif not line.startswith(":"):
                    field, _, value = line.partition(":")
                    current[field] = value.removeprefix(" ")

        await asyncio.wait_for(read(), timeout)
        return events


def _ids(events: list[dict[str, str]]) -> list[str]:
    return [json.loads(e["data"])["alert_id"] for e in events]


async def test_disconnect_and_resume_with_last_event_id_misses_nothing(served: Served) -> None:
    a1, a2, a3, a4 = (sample_alert(asset_id=f"ast_{i}") for i in range(4))
    other = sample_alert(provider_id="county-general")
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        async with client.stream("GET", STREAM, headers=served.headers("a")) as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)  # connected: a fresh stream starts at "now"
            await _emit(served, a1, a2)
            first = await EventReader(resp).next(2)
        # Disconnected. Alerts keep coming, for this tenant and another.
        await _emit(served, a3, other, a4)
        await asyncio.sleep(0.5)
        last_id = first[-1]["id"]
        async with client.stream(
            "GET", STREAM, headers=served.headers("a", **{"Last-Event-ID": last_id})
        ) as resp:
            reader = EventReader(resp)
            resumed = await reader.next(2)
            with contextlib.suppress(TimeoutError):
                extra = await reader.next(1, timeout=0.8)
                pytest.fail(f"unexpected event after resume: {extra}")
    assert _ids(first) == [a1.id, a2.id] and [e["event"] for e in first] == ["alert", "alert"]
    assert _ids(resumed) == [a3.id, a4.id], "exactly what was missed, in order, nothing of the other tenant"
    assert int(resumed[0]["id"]) > int(last_id)
    body = json.loads(resumed[0]["data"])
    assert (
        body["alert"]["reason"] == a3.reason
        and body["revision"] == 1
        and body["provider_id"] == "st-elsewhere"
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        pytest.param("a", ["st-elsewhere"], id="provider-own-tenant"),
        pytest.param("b", ["county-general"], id="other-provider"),
        pytest.param("csirt", ["st-elsewhere"], id="csirt-constituency"),
        pytest.param("operator", ["st-elsewhere", "county-general"], id="operator-all"),
    ],
)
async def test_each_key_sees_only_its_tenants(served: Served, who: str, expected: list[str]) -> None:
    mine, theirs = sample_alert(), sample_alert(provider_id="county-general")
    await _emit(served, mine, theirs)
    async with (
        httpx.AsyncClient(base_url=served.base_url, timeout=10) as client,
        client.stream("GET", STREAM, params={"after": "0"}, headers=served.headers(who)) as resp,
    ):
        reader = EventReader(resp)
        events = await reader.next(len(expected))
        with contextlib.suppress(TimeoutError):
            extra = await reader.next(1, timeout=0.8)
            pytest.fail(f"{who} saw more than its tenants: {extra}")
    assert [json.loads(e["data"])["provider_id"] for e in events] == expected


async def test_cursor_polling(served: Served) -> None:
    alerts = [sample_alert(asset_id=f"ast_{i}") for i in range(5)]
    await _emit(served, *alerts, sample_alert(provider_id="county-general"))
    seen: list[str] = []
    after = 0
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        for _ in range(20):
            page: dict[str, Any] = (
                await client.get(
                    "/api/v1/alert-events", params={"after": after, "limit": 2}, headers=served.headers("a")
                )
            ).json()
            seen += [e["alert_id"] for e in page["events"]]
            after = page["next_after"]
            if len(seen) == 5:
                break
            if not page["events"]:
                await asyncio.sleep(0.1)
        final = (
            await client.get("/api/v1/alert-events", params={"after": after}, headers=served.headers("a"))
        ).json()
        bad = await client.get(STREAM, headers=served.headers("a", **{"Last-Event-ID": "abc"}))
        anonymous = await client.get("/api/v1/alert-events")
    assert seen == [a.id for a in alerts]
    assert final == {"events": [], "next_after": after}
    assert bad.status_code == 400 and anonymous.status_code == 401


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("²", id="unicode-digit"),
        pytest.param(str(2**70), id="beyond-bigint"),
        pytest.param(str(2**63), id="just-beyond-bigint"),
        pytest.param("-1", id="negative"),
    ],
)
async def test_odd_cursors_are_client_errors(served: Served, cursor: str) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        stream = await client.get(STREAM, params={"after": cursor}, headers=served.headers("a"))
        raw_header: dict[str, str | bytes] = {**served.headers("a"), "Last-Event-ID": cursor.encode()}
        resumed = await client.get(STREAM, headers=raw_header)
        polled = await client.get(
            "/api/v1/alert-events", params={"after": cursor}, headers=served.headers("a")
        )
        largest = await client.get(
            "/api/v1/alert-events", params={"after": str(2**63 - 1)}, headers=served.headers("a")
        )
    assert (stream.status_code, resumed.status_code, polled.status_code) == (400, 400, 422)
    assert largest.status_code == 200 and largest.json()["events"] == []


def _filter_world() -> dict[str, Alert]:
    """Alerts of st-elsewhere (the CSIRT's constituency) and one of county-general, to narrow by filters."""
    domain = MatchDetail(
        asset_id="ast_dom",
        asset_name="Portal",
        asset_kind="domain",
        field="domain",
        asset_value="portal.example.org",
        indicator_value="evil.portal.example.org",
    )
    return {
        "low": sample_alert(asset_id="ast_low", severity="low"),
        "high": sample_alert(asset_id="ast_high", severity="high"),
        "kev": sample_alert(asset_id="ast_kev", severity="high", known_exploited=True),
        "domain": sample_alert(asset_id="ast_dom", severity="critical", known_exploited=True, match=domain),
        "red": sample_alert(asset_id="ast_red", severity="critical", known_exploited=True, tlp="red"),
        "other": sample_alert(provider_id="county-general", severity="critical", known_exploited=True),
    }


@pytest.mark.parametrize(
    ("who", "params", "expected"),
    [
        pytest.param(
            "csirt",
            {"min_severity": "high", "known_exploited_only": "true"},
            ["kev", "domain"],
            id="csirt-kev-high-no-red-no-outsider",
        ),
        pytest.param("csirt", {"asset_kinds": "domain"}, ["domain"], id="csirt-asset-kind"),
        pytest.param(
            "csirt",
            {"provider_ids": ["st-elsewhere", "county-general"], "min_severity": "critical"},
            ["domain"],
            id="csirt-provider-ids-stay-in-constituency",
        ),
        pytest.param("operator", {"provider_ids": "county-general"}, ["other"], id="operator-one-provider"),
        pytest.param(
            "operator",
            {"min_severity": "critical", "asset_kinds": ["network", "domain"]},
            ["domain", "red", "other"],
            id="operator-critical-reads-red",
        ),
        pytest.param(
            "a", {"min_severity": "medium"}, ["high", "kev", "domain", "red"], id="provider-severity"
        ),
    ],
)
async def test_stream_and_polling_narrow_by_subscription_filters(
    served: Served, who: str, params: dict[str, Any], expected: list[str]
) -> None:
    world = _filter_world()
    await _emit(served, *world.values())
    names = {a.id: name for name, a in world.items()}
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        async with client.stream(
            "GET", STREAM, params={**params, "after": "0"}, headers=served.headers(who)
        ) as resp:
            assert resp.status_code == 200
            reader = EventReader(resp)
            streamed = await reader.next(len(expected))
            with contextlib.suppress(TimeoutError):
                extra = await reader.next(1, timeout=0.8)
                pytest.fail(f"{who} streamed past its filters: {extra}")
        polled = await client.get("/api/v1/alert-events", params=params, headers=served.headers(who))
    assert [names[i] for i in _ids(streamed)] == expected
    assert polled.status_code == 200
    assert [names[e["alert_id"]] for e in polled.json()["events"]] == expected


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"min_severity": "huge"}, id="unknown-severity"),
        pytest.param({"asset_kinds": "toaster"}, id="unknown-asset-kind"),
        pytest.param({"provider_ids": "no spaces"}, id="not-a-provider-id"),
        pytest.param({"provider_ids": "x\x00"}, id="nul-in-provider-id"),
    ],
)
async def test_bad_stream_filters_are_422(served: Served, params: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        stream = await client.get(STREAM, params=params, headers=served.headers("csirt"))
        polled = await client.get("/api/v1/alert-events", params=params, headers=served.headers("csirt"))
    assert (stream.status_code, polled.status_code) == (422, 422)
