"""SSRF: forbidden targets are refused before any connection, redirects included.

Nothing here can reach a non-loopback address even if the guard were broken: names resolve through an
injected table, and the HTTP client's transport records every request instead of opening a socket. The
assertions are on that record: no attempt was made.
"""

from __future__ import annotations

import httpx
import pytest
from tests.support.receivers import (
    Reply,
    WebhookReceiver,
    add_provider,
    add_subscription,
    attempts,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_settled,
)

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.dispatch.ssrf import SsrfGuard, StaticResolver
from ewarn.dispatch.transport import PinnedHTTPTransport
from ewarn.dispatch.webhook import WebhookSender, new_secret
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="t-ssrf")
PUBLIC = "93.184.216.34"
RESOLVER = {
    "hooks.example.org": [PUBLIC],
    "intranet.example.org": ["10.20.30.40"],
    "metadata.example.org": ["169.254.169.254"],
}


class RecordingTransport(httpx.AsyncBaseTransport):
    """Records each request and answers from a script; it never opens a socket."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or httpx.Response(204)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.answer.status_code, headers=self.answer.headers)


def _sender(transport: RecordingTransport, allowed: list[str] | None = None) -> WebhookSender:
    guard = SsrfGuard(resolver=StaticResolver(RESOLVER), allowed_networks=allowed or [])
    return WebhookSender(
        http=httpx.AsyncClient(transport=transport), guard=guard, timeout_seconds=2, max_response_bytes=1024
    )


REFUSED = [
    pytest.param("http://127.0.0.1:8080/hook", id="loopback-without-allow-list"),
    pytest.param("http://localhost.:8080/hook", id="name-not-resolvable-here"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata-literal"),
    pytest.param("http://metadata.example.org/", id="metadata-by-name"),
    pytest.param("https://intranet.example.org/hook", id="dns-name-into-10-8"),
    pytest.param("http://[::1]:8080/hook", id="v6-loopback"),
]


@pytest.mark.parametrize("url", REFUSED)
async def test_forbidden_target_is_never_contacted(url: str) -> None:
    transport = RecordingTransport()
    result = await _sender(transport).send(
        url=url, msg_id="msg_1", body=b"{}", content_type="application/json", secrets=[new_secret()]
    )
    assert transport.requests == [], "no request may leave for a forbidden target"
    assert not result.ok and result.error is not None
    assert result.refused or result.error.startswith("dns:")


async def test_public_target_goes_to_the_checked_address_with_its_host_header() -> None:
    transport = RecordingTransport()
    result = await _sender(transport).send(
        url="https://hooks.example.org/ewarn",
        msg_id="msg_1",
        body=b"{}",
        content_type="application/json",
        secrets=[new_secret()],
    )
    assert result.ok
    [request] = transport.requests
    assert request.url.host == PUBLIC and request.url.scheme == "https"
    assert request.headers["host"] == "hooks.example.org"
    assert request.extensions["sni_hostname"] == "hooks.example.org"


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("http://127.0.0.1:9/steal", id="redirect-to-loopback"),
        pytest.param("http://169.254.169.254/latest/meta-data/iam/", id="redirect-to-metadata"),
        pytest.param("https://intranet.example.org/", id="redirect-to-name-in-10-8"),
    ],
)
async def test_redirect_to_a_forbidden_address_is_not_followed(location: str) -> None:
    transport = RecordingTransport(httpx.Response(307, headers={"location": location}))
    result = await _sender(transport).send(
        url="https://hooks.example.org/ewarn",
        msg_id="msg_1",
        body=b"{}",
        content_type="application/json",
        secrets=[new_secret()],
    )
    assert [r.url.host for r in transport.requests] == [PUBLIC], "only the first, allowed hop was requested"
    assert result.refused and not result.ok


async def test_redirects_are_capped() -> None:
    transport = RecordingTransport(httpx.Response(302, headers={"location": "/again"}))
    result = await _sender(transport).send(
        url="https://hooks.example.org/ewarn",
        msg_id="msg_1",
        body=b"{}",
        content_type="application/json",
        secrets=[new_secret()],
    )
    assert len(transport.requests) == 4, "the first request and three redirects"
    assert not result.ok and not result.refused and "redirects" in (result.error or "")


async def test_dispatch_dead_letters_a_refused_target_without_any_attempt_on_the_wire(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    await add_provider(sqlite_sessions)
    await add_subscription(sqlite_sessions, "http://169.254.169.254/latest/meta-data/")
    await add_subscription(sqlite_sessions, "https://intranet.example.org/hook")
    await add_subscription(sqlite_sessions, "http://127.0.0.1:9/hook")
    transport = RecordingTransport()
    settings = dispatch_settings(allowed_networks=[])  # loopback is not allow-listed here
    async with (
        httpx.AsyncClient(transport=transport) as http,
        running_dispatch(
            sessions=sqlite_sessions,
            bus=memory_bus,
            topics=TOPICS,
            settings=settings,
            http=http,
            resolver=StaticResolver(RESOLVER),
        ),
    ):
        await publish(memory_bus, TOPICS, sample_alert())
        rows = await wait_settled(sqlite_sessions, 3)
    assert transport.requests == []
    for row in rows:
        assert row.status == "dead" and row.attempts == 1, "refused is final: retrying cannot help"
        [attempt] = await attempts(sqlite_sessions, row.id)
        assert not attempt.ok and attempt.status_code is None
        assert (attempt.error or "").startswith("refused:")


async def test_allowed_redirect_is_followed_with_the_same_signed_message() -> None:
    moved_to = WebhookReceiver()
    await moved_to.start()
    old = WebhookReceiver(default=Reply(status=308, headers={"location": moved_to.url("/new-hook")}))
    await old.start()
    secret = new_secret()
    moved_to.secrets = [secret]
    guard = SsrfGuard(resolver=StaticResolver({}), allowed_networks=["127.0.0.0/8"])
    transport = PinnedHTTPTransport()
    try:
        async with httpx.AsyncClient() as http:
            sender = WebhookSender(
                http=http, transport=transport, guard=guard, timeout_seconds=2, max_response_bytes=1024
            )
            result = await sender.send(
                url=old.url(),
                msg_id="msg_moved",
                body=b'{"a":1}',
                content_type="application/json",
                secrets=[secret],
            )
    finally:
        await transport.aclose()
        await old.down()
        await moved_to.down()
    assert result.ok and result.status_code == 204
    [got] = moved_to.accepted
    assert got.path == "/new-hook" and got.webhook_id == "msg_moved" and got.body == b'{"a":1}'
