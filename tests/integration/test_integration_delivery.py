"""Teams, Slack, TheHive and syslog subscriptions end to end: alert → outbox → a loopback receiver that checks
what it got (card schema, Block Kit, TheHive fields and API key, RFC 5424 with CEF over TCP and TLS), with
retries on 5xx and the SSRF guard refusing a target outside the allow-list before any connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.integration_alerts import advisory_alert, indicator_alert
from tests.support.receivers import (
    Reply,
    WebhookReceiver,
    add_provider,
    add_subscription,
    attempts,
    deliveries,
    dispatch_settings,
    publish,
    running_dispatch,
    wait_settled,
    wait_until,
)
from tests.support.rfc5424 import read_frames
from tests.support.syslog_receiver import (
    SyslogReceiver,
    client_context,
    self_signed,
    server_context,
)
from tests.unit.test_dispatch_formats import CARDS, InputAlert, _check_block, _conforms, decode_cef

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.dispatch.ssrf import SsrfGuard, StaticResolver
from ewarn.dispatch.syslog import SyslogSender, frame, messages_for
from ewarn.models.subscription import Channel
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.subscription_api_keys import store_api_key

TOPICS = Topics(prefix="t-integrations")
HIVE_KEY = "thehive-api-key-0123456789"


class HiveReceiver(WebhookReceiver):
    """TheHive's side: it takes a request when the Bearer API key is right (it verifies no signature)."""

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {HIVE_KEY}"


@pytest.fixture
async def receiver() -> Any:
    r = WebhookReceiver()
    await r.start()
    yield r
    await r.down()


async def _webhook_sub(sessions: SessionFactory, receiver: WebhookReceiver, fmt: str, **kw: Any) -> str:
    await add_provider(sessions)
    sub, secret = await add_subscription(sessions, receiver.url(), payload_format=fmt, **kw)
    assert secret is not None
    receiver.secrets = [secret]  # Teams and Slack ignore the signature; the receiver here checks it anyway
    return sub.id


@pytest.mark.parametrize("fmt", ["teams", "slack"])
async def test_chat_formats_retried_on_5xx_then_delivered_valid(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, receiver: WebhookReceiver, fmt: str
) -> None:
    await _webhook_sub(sqlite_sessions, receiver, fmt)
    receiver.fail(2, status=503)
    alert = advisory_alert()
    async with running_dispatch(
        sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=dispatch_settings()
    ):
        await publish(memory_bus, TOPICS, alert)
        [row] = await wait_settled(sqlite_sessions, 1)
    assert row.status == "delivered" and row.attempts == 3
    assert [(a.status_code, a.ok) for a in await attempts(sqlite_sessions, row.id)] == [
        (503, False),
        (503, False),
        (204, True),
    ]
    [got] = receiver.accepted
    assert got.headers["content-type"] == "application/json" and got.webhook_id == row.id
    body = got.json()
    if fmt == "teams":
        card = body["attachments"][0]["content"]
        assert [e.message for e in CARDS.iter_errors(card)] == []
    else:
        for block in body["blocks"]:
            _check_block(block)
    assert "Update to firmware version 8.01.00 or later." in got.body.decode()


async def test_thehive_alert_created_with_the_api_key(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    hive = HiveReceiver(default=Reply(status=201, body=b'{"_id":"~1"}'))
    await hive.start()
    try:
        await add_provider(sqlite_sessions)
        sub, _ = await add_subscription(sqlite_sessions, hive.url("/api/v1/alert"), payload_format="thehive")
        async with sqlite_sessions() as session:
            await store_api_key(session=session, subscription_id=sub.id, api_key=HIVE_KEY)
            await session.commit()
        hive.fail(1, status=500)
        alert = indicator_alert()
        async with running_dispatch(
            sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=dispatch_settings()
        ):
            await publish(memory_bus, TOPICS, alert)
            [row] = await wait_settled(sqlite_sessions, 1)
    finally:
        await hive.down()
    assert row.status == "delivered" and row.attempts == 2
    [got] = hive.accepted
    assert got.path == "/api/v1/alert" and "webhook-signature" not in got.headers
    body = got.json()
    assert _conforms(body, InputAlert, "alert") == []
    assert body["sourceRef"] == f"{alert.id}-r1" and body["observables"][0]["data"] == "203.0.113.7"
    assert "Block 203.0.113.7 at the perimeter firewall." in body["description"]


async def test_syslog_over_tcp_end_to_end(sqlite_sessions: SessionFactory, memory_bus: MemoryBus) -> None:
    siem = SyslogReceiver()
    await siem.start()
    await siem.stop()  # down at first: the first attempt fails and is retried
    await add_provider(sqlite_sessions)
    await add_subscription(
        sqlite_sessions, f"syslog+tcp://127.0.0.1:{siem.port}", channel=Channel.SYSLOG, payload_format="cef"
    )
    alert = advisory_alert()
    try:
        async with running_dispatch(
            sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=dispatch_settings()
        ):
            await publish(memory_bus, TOPICS, alert)

            async def failed_once() -> bool:
                rows = await deliveries(sqlite_sessions)
                return bool(rows and rows[0].attempts >= 1)

            await wait_until(failed_once, what="a first failed attempt")
            await siem.start(siem.port)
            [row] = await wait_settled(sqlite_sessions, 1)
            [message] = await siem.wait_frames(1)
    finally:
        await siem.stop()
    assert row.status == "delivered" and row.attempts >= 2
    log = await attempts(sqlite_sessions, row.id)
    assert not log[0].ok and log[0].error is not None and log[0].error.startswith("syslog:")
    assert (message.facility, message.severity, message.version) == (4, 2, 1)
    assert message.app_name == "ewarn" and message.msgid == "alert"
    assert message.structured_data["origin"]["software"] == "ewarn"
    assert message.msg is not None
    header, ext = decode_cef(message.msg)
    assert header[5].startswith("[CRITICAL]") and header[6] == "10"
    assert ext["externalId"] == alert.id and "(due 2024-05-01)" in ext["cs1"]


async def test_syslog_over_tls_with_a_self_signed_certificate(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, dns_name="siem.st-elsewhere.test")
    siem = SyslogReceiver(tls=server_context(cert, key))
    await siem.start()
    resolver = StaticResolver({"siem.st-elsewhere.test": ["127.0.0.1"]})
    guard = SsrfGuard(resolver=resolver, allowed_networks=["127.0.0.0/8"])
    sender = SyslogSender(
        guard=guard, timeout_seconds=2.0, ssl_context=client_context(cert), hostname="ewarn-a"
    )
    await add_provider(sqlite_sessions)
    await add_subscription(
        sqlite_sessions,
        f"syslog+tls://siem.st-elsewhere.test:{siem.port}",
        channel=Channel.SYSLOG,
        payload_format="cef",
    )
    alerts = [indicator_alert(asset_id=f"ast_{i}") for i in range(3)]
    try:
        async with running_dispatch(
            sessions=sqlite_sessions,
            bus=memory_bus,
            topics=TOPICS,
            settings=dispatch_settings(),
            resolver=resolver,
            syslog=sender,
        ):
            await publish(memory_bus, TOPICS, *alerts)
            rows = await wait_settled(sqlite_sessions, 3)
            messages = await siem.wait_frames(3)
        # A sender that does not trust the certificate never delivers: a failed attempt, to be retried.
        untrusting = SyslogSender(guard=guard, timeout_seconds=2.0, hostname="ewarn-a")
        result = await untrusting.send(
            target=f"syslog+tls://siem.st-elsewhere.test:{siem.port}",
            messages=messages_for([alerts[0]], hostname="x"),
        )
    finally:
        await siem.stop()
    assert all(r.status == "delivered" for r in rows)
    assert {m.hostname for m in messages} == {"ewarn-a"}
    assert {decode_cef(m.msg or "")[1]["externalId"] for m in messages} == {a.id for a in alerts}
    assert not result.ok and not result.refused and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")


@pytest.mark.parametrize(
    ("channel", "fmt", "target"),
    [
        pytest.param(Channel.SYSLOG, "cef", "syslog+tls://siem.hospital.example:6514", id="syslog"),
        pytest.param(Channel.WEBHOOK, "teams", "https://teams.hospital.example/workflow", id="teams"),
    ],
)
async def test_ssrf_guard_refuses_a_private_target_before_connecting(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, channel: Channel, fmt: str, target: str
) -> None:
    # The name resolves (stubbed) to a private address outside the allow-list: nothing is connected to.
    resolver = StaticResolver(
        {"siem.hospital.example": ["10.20.30.40"], "teams.hospital.example": ["10.1.2.3"]}
    )
    await add_provider(sqlite_sessions)
    await add_subscription(sqlite_sessions, target, channel=channel, payload_format=fmt)
    async with running_dispatch(
        sessions=sqlite_sessions,
        bus=memory_bus,
        topics=TOPICS,
        settings=dispatch_settings(),
        resolver=resolver,
    ):
        await publish(memory_bus, TOPICS, indicator_alert())
        [row] = await wait_settled(sqlite_sessions, 1)
    assert row.status == "dead" and row.attempts == 1
    assert (
        row.last_error is not None and row.last_error.startswith("refused:") and "private" in row.last_error
    )
    assert resolver.lookups, "the name was resolved by the guard (and refused)"


def test_octet_counting_frames_hold_line_breaks() -> None:
    payload = "línea\nzwei\r\n".encode()
    assert frame(payload) == str(len(payload)).encode() + b" " + payload
    assert read_frames(frame(payload) + frame(b"x")) == [payload, b"x"]
