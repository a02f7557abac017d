"""Every API call has a request id: echoed in ``X-Request-ID`` and bound to each of its log lines."""

from __future__ import annotations

import httpx
import pytest
import structlog

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.db import SessionFactory


def _client(sessions: SessionFactory) -> httpx.AsyncClient:
    runtime = Runtime(
        settings=Settings(),
        engine=sessions.kw["bind"],
        sessions=sessions,
        bus=MemoryBus(),
        topics=Topics(prefix="t"),
    )
    app = create_app(runtime)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def test_each_log_line_of_a_call_carries_its_request_id(sessions: SessionFactory) -> None:
    async with _client(sessions) as client:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            first = await client.get(
                "/api/v1/alerts", headers={"Authorization": "Bearer ewk_wrong_key_0123456789"}
            )
            second = await client.get(
                "/api/v1/alerts", headers={"Authorization": "Bearer ewk_wrong_key_9876543210"}
            )
    assert first.status_code == second.status_code == 401
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert ids[0] != ids[1]
    failures = [line for line in logs if line["event"] == "auth_failed"]
    assert [line.get("request_id") for line in failures] == ids


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param("soc-ticket-4711:abc", True, id="plain-correlation-id"),
        pytest.param("x", False, id="too-short"),
        pytest.param("a" * 65, False, id="too-long"),
        pytest.param("id with spaces\tand tab", False, id="not-plain"),
    ],
)
async def test_a_caller_id_is_kept_only_when_plain(sessions: SessionFactory, given: str, kept: bool) -> None:
    async with _client(sessions) as client:
        response = await client.get("/healthz", headers={"X-Request-ID": given})
    assert response.status_code == 200
    assert (response.headers["x-request-id"] == given) is kept
    assert len(response.headers.get_list("x-request-id")) == 1
