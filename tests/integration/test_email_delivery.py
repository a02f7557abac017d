"""E-mail delivery read back from a real aiosmtpd server on loopback; digests; the 410 owner notice."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import SecretStr
from tests.support.netutil import free_port
from tests.support.receivers import (
    Reply,
    SmtpReceiver,
    WebhookReceiver,
    add_provider,
    add_subscription,
    deliveries,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_settled,
    wait_until,
)
from tests.support.tls import self_signed_certificate

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.dispatch.email import EmailSender, alert_email
from ewarn.models.subscription import Channel, Digest, SubscriptionFilters
from ewarn.settings import SmtpSettings
from ewarn.store.db import SessionFactory
from ewarn.store.tables import DeliveryRow

TOPICS = Topics(prefix="t-email")
SOC = "soc@st-elsewhere.example"


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(port=free_port())
    server.start()
    yield server
    server.stop()


def _smtp_settings(port: int, **kw: object) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="ewarn@csirt.example", timeout_seconds=5, **kw)  # type: ignore[arg-type]


async def test_alert_email_headers_parts_and_tlp(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, smtp: SmtpReceiver
) -> None:
    await add_provider(sqlite_sessions)
    sub, secret = await add_subscription(sqlite_sessions, SOC, channel=Channel.EMAIL)
    assert secret is None, "e-mail subscriptions have no signing secret"
    alert = sample_alert(cves=["CVE-2024-3400"])
    async with running_dispatch(
        sessions=sqlite_sessions,
        bus=memory_bus,
        topics=TOPICS,
        settings=dispatch_settings(smtp=_smtp_settings(smtp.port)),
    ):
        await publish(memory_bus, TOPICS, alert)
        [mail] = await smtp.wait_for(1)
        [row] = await wait_settled(sqlite_sessions, 1)
    msg = mail.message
    assert mail.rcpt_tos == [SOC] and mail.mail_from == "ewarn@csirt.example"
    assert (
        msg["Subject"]
        == f"[ewarn][HIGH][st-elsewhere] Known C2 server inside your range (alert {alert.id}) [TLP:AMBER]"
    )
    assert msg["Message-ID"] == f"<{row.id}@ewarn>"
    assert msg["X-Ewarn-Alert-Id"] == alert.id and msg["X-Ewarn-TLP"] == "TLP:AMBER"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("TLP:AMBER") and alert.reason in text and "CVE-2024-3400" in text
    assert "TLP:AMBER" in html and "PACS DMZ" in html
    assert row.status == "delivered" and row.attempts == 1 and row.delivered_at is not None
    assert sub.channel is Channel.EMAIL


async def test_tlp_red_never_goes_out_by_email(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, smtp: SmtpReceiver
) -> None:
    await add_provider(sqlite_sessions)
    # Even a subscription that asks for everything up to RED does not get RED by e-mail.
    await add_subscription(
        sqlite_sessions, SOC, channel=Channel.EMAIL, filters=SubscriptionFilters(tlp_ceiling="red")
    )
    hook = WebhookReceiver()
    await hook.start()
    _, secret = await add_subscription(
        sqlite_sessions, hook.url(), filters=SubscriptionFilters(tlp_ceiling="red")
    )
    hook.secrets = [secret or ""]
    red, amber = sample_alert(tlp="red", asset_id="ast_red"), sample_alert(tlp="amber", asset_id="ast_amber")
    try:
        async with running_dispatch(
            sessions=sqlite_sessions,
            bus=memory_bus,
            topics=TOPICS,
            settings=dispatch_settings(smtp=_smtp_settings(smtp.port)),
        ):
            await publish(memory_bus, TOPICS, red, amber)
            await hook.wait_accepted(2)
            rows = await wait_settled(sqlite_sessions, 4)
    finally:
        await hook.down()
    assert [m.message["X-Ewarn-Alert-Id"] for m in smtp.inbox] == [amber.id]
    assert all("TLP:RED" not in m.message.as_string() for m in smtp.inbox)
    [red_mail] = [r for r in rows if r.alert_id == red.id and r.channel == "email"]
    assert red_mail.status == "skipped" and red_mail.last_error == "TLP:RED is never sent by email"
    assert {r.json()["data"]["tlp"] for r in hook.accepted} == {"red", "amber"}, (
        "a webhook marked for RED gets it"
    )


@pytest.fixture(scope="module")
def smtp_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(
        tmp_path_factory.mktemp("smtp-tls"), common_name="127.0.0.1", alt_name="IP:127.0.0.1"
    )


# aiosmtpd warns that AUTH without *STARTTLS* is unsafe; with implicit TLS the whole connection is TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("mode", ["starttls", "implicit-tls"])
async def test_tls_with_authentication(smtp_certificate: tuple[Path, Path], mode: str) -> None:
    cert, key = smtp_certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tls = {"tls_context": server_ctx} if mode == "starttls" else {"implicit_tls": server_ctx}
    server = SmtpReceiver(port=free_port(), credentials=("ewarn", "s3cret"), **tls)  # type: ignore[arg-type]
    server.start()
    try:
        settings = _smtp_settings(
            server.port,
            starttls=mode == "starttls",
            implicit_tls=mode == "implicit-tls",
            username="ewarn",
            password=SecretStr("s3cret"),
        )
        client_ctx = ssl.create_default_context(cafile=str(cert))
        msg = alert_email(
            alert=sample_alert().model_dump(mode="json"),
            to=SOC,
            sender=settings.sender,
            language="en",
            message_id="m1",
        )
        await EmailSender(settings, tls_context=client_ctx).send(msg)
        [mail] = await server.wait_for(1)
        assert mail.tls and mail.authenticated == "ewarn"
        wrong = EmailSender(
            settings.model_copy(update={"password": SecretStr("nope")}), tls_context=client_ctx
        )
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await wrong.send(msg)
        assert len(server.inbox) == 1
    finally:
        server.stop()


async def test_gone_tells_the_providers_contacts(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, smtp: SmtpReceiver
) -> None:
    await add_provider(sqlite_sessions, contacts=["ciso@st-elsewhere.example"], language="de")
    hook = WebhookReceiver(default=Reply(status=410))
    await hook.start()
    sub, secret = await add_subscription(sqlite_sessions, hook.url())
    hook.secrets = [secret or ""]
    try:
        async with running_dispatch(
            sessions=sqlite_sessions,
            bus=memory_bus,
            topics=TOPICS,
            settings=dispatch_settings(smtp=_smtp_settings(smtp.port)),
        ) as worker:
            await publish(memory_bus, TOPICS, sample_alert())
            [notice] = await smtp.wait_for(1)
    finally:
        await hook.down()
    assert notice.rcpt_tos == ["ciso@st-elsewhere.example"]
    assert notice.message["X-Ewarn-Subscription-Id"] == sub.id
    assert "deaktiviert" in notice.message["Subject"], "in the provider's language"
    assert "410 Gone" in notice.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert worker.counters["owner_notices"] == 1


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.WEBHOOK])
async def test_hourly_digest_collects_low_severity_and_sends_one_message(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, smtp: SmtpReceiver, channel: Channel
) -> None:
    await add_provider(sqlite_sessions)
    hook = WebhookReceiver()
    await hook.start()
    target = SOC if channel is Channel.EMAIL else hook.url()
    sub, secret = await add_subscription(
        sqlite_sessions,
        target,
        channel=channel,
        digest=Digest.HOURLY,
        filters=SubscriptionFilters(min_severity="info"),
    )
    hook.secrets = [secret or ""]
    clock = Clock(datetime.now(UTC).replace(minute=59, second=30) - timedelta(hours=1))
    lows = [sample_alert(severity="low", asset_id=f"ast_{i}") for i in range(3)]
    high = sample_alert(severity="high", asset_id="ast_high")
    try:
        async with running_dispatch(
            sessions=sqlite_sessions,
            bus=memory_bus,
            topics=TOPICS,
            settings=dispatch_settings(smtp=_smtp_settings(smtp.port)),
            clock=clock,
        ):
            await publish(memory_bus, TOPICS, *lows, high)
            rows = await _wait_rows(sqlite_sessions, 4)
            if channel is Channel.EMAIL:
                await smtp.wait_for(1)
            else:
                await hook.wait_accepted(1)
            held = [r for r in rows if r.digest_key]
            assert len(held) == 3 and {r.status for r in held} == {"pending"}, (
                "low alerts wait for the window"
            )
            clock.now += timedelta(seconds=31)  # the hour is over
            settled = await wait_settled(sqlite_sessions, 4)
            if channel is Channel.EMAIL:
                await smtp.wait_for(2)
            else:
                await hook.wait_accepted(2)
    finally:
        await hook.down()
    assert all(r.status == "delivered" for r in settled)
    if channel is Channel.EMAIL:
        immediate, digest = (m.message for m in smtp.inbox)
        assert immediate["X-Ewarn-Alert-Id"] == high.id
        assert digest["Subject"].startswith(
            "[ewarn][DIGEST][st-elsewhere] 3 low-severity alerts (hourly digest)"
        )
        assert digest["X-Ewarn-Digest"] == held[0].digest_key
        text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert all(a.id in text for a in lows)
    else:
        first, second = hook.accepted
        assert first.json()["data"]["id"] == high.id
        doc = second.json()
        assert doc["type"] == "alert.digest" and doc["data"]["window"] == held[0].digest_key
        assert sorted(a["id"] for a in doc["data"]["alerts"]) == sorted(a.id for a in lows)
        assert second.webhook_id is not None and second.webhook_id.startswith("dig_")
    assert sub.digest is Digest.HOURLY


async def _wait_rows(sessions: SessionFactory, count: int) -> list[DeliveryRow]:
    async def enough() -> bool:
        return len(await deliveries(sessions)) >= count

    await wait_until(enough, what=f"{count} deliveries")
    return await deliveries(sessions)
