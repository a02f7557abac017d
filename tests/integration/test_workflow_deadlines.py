"""Deadlines with an injected clock: reminder, escalation to the provider's contact, then to its CSIRT.

Each notice is delivered by a real channel through the real dispatch worker (signed webhook to a loopback
receiver, e-mail to aiosmtpd), and none once the alert has been acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from tests.support.netutil import free_port
from tests.support.receivers import (
    SmtpReceiver,
    WebhookReceiver,
    add_subscription,
    dispatch_settings,
    running_dispatch,
    sample_alert,
    wait_until,
)

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.alert import Alert, AlertStatus, Severity
from ewarn.models.common import utcnow
from ewarn.models.provider import Csirt, Provider
from ewarn.settings import DeadlineSettings, SmtpSettings, WorkflowSettings
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.audit import AuditActor
from ewarn.store.repositories.principals import upsert_csirt, upsert_provider
from ewarn.store.tables import AlertRow, AlertWorkflowRow, CsirtRow, DeliveryRow, ProviderRow
from ewarn.workflow.scheduler import WorkflowScheduler
from ewarn.workflow.service import change_status

TOPICS = Topics(prefix="t-workflow")
PROVIDER = "st-elsewhere"
CONTACT = "duty-manager@st-elsewhere.example"
CSIRT_CONTACT = "oncall@cert-de.example"
WORKFLOW = WorkflowSettings(
    deadlines={"critical": DeadlineSettings(acknowledge_hours=48, resolve_hours=240)},
    remind_before_hours=12,
    escalate_to_csirt_after_hours=24,
)
SOC = AuditActor(id="key_soc", role="provider", name="SOC")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def receiver() -> WebhookReceiver:
    r = WebhookReceiver()
    await r.start()
    yield r  # type: ignore[misc]
    await r.down()


async def _tenant(sessions: SessionFactory) -> None:
    async with sessions() as session:
        await upsert_csirt(session=session, csirt=Csirt(id="cert-de", name="Health CERT", country="DE"))
        await upsert_provider(
            session=session, provider=Provider(id=PROVIDER, name=PROVIDER, country="DE", csirt_id="cert-de")
        )
        provider, csirt = await session.get(ProviderRow, PROVIDER), await session.get(CsirtRow, "cert-de")
        assert provider is not None and csirt is not None
        provider.escalation_contact, csirt.escalation_contact = CONTACT, CSIRT_CONTACT
        await session.commit()


async def _store(sessions: SessionFactory, alert: Alert) -> None:
    """The alert as the correlator stores it (first revision)."""
    async with sessions() as session, session.begin():
        session.add(
            AlertRow(
                id=alert.id,
                provider_id=alert.provider_id,
                indicator_key=alert.indicator_key,
                asset_id=alert.asset_id,
                revision=alert.revision,
                severity=alert.severity.value,
                score=alert.score,
                status=alert.status.value,
                data=alert.model_dump(mode="json"),
                matched_at=alert.matched_at,
                created_at=alert.matched_at,
                updated_at=alert.matched_at,
            )
        )


async def _notices(sessions: SessionFactory, alert_id: str) -> list[DeliveryRow]:
    async with sessions() as session:
        rows = await session.scalars(select(DeliveryRow).where(DeliveryRow.alert_id == alert_id))
        return sorted(rows.all(), key=lambda r: r.created_at)


@pytest.mark.parametrize(
    ("acknowledge_after", "expected"),
    [
        pytest.param(None, ["reminder", "escalation_contact", "escalation_csirt"], id="never-acknowledged"),
        pytest.param(timedelta(hours=10), [], id="acknowledged-before-the-reminder"),
        pytest.param(timedelta(hours=40), ["reminder"], id="acknowledged-after-the-reminder"),
    ],
)
async def test_reminder_then_escalations_by_real_channels_and_none_after_acknowledgement(
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    receiver: WebhookReceiver,
    smtp: SmtpReceiver,
    acknowledge_after: timedelta | None,
    expected: list[str],
) -> None:
    raised = utcnow() - timedelta(days=10)  # the clock walks through the past: every notice is due at once
    await _tenant(sqlite_sessions)
    _, secret = await add_subscription(sqlite_sessions, receiver.url(), provider_id=PROVIDER)
    assert secret is not None
    receiver.secrets = [secret]
    alert = sample_alert(severity="critical", matched_at=raised, raised_at=raised)
    await _store(sqlite_sessions, alert)
    clock = Clock(raised + timedelta(hours=1))
    scheduler = WorkflowScheduler(sessions=sqlite_sessions, settings=WORKFLOW, clock=clock)
    settings = dispatch_settings(
        smtp=SmtpSettings(host="127.0.0.1", port=smtp.port, sender="ewarn@cert.example", timeout_seconds=5)
    )
    seen: list[str] = []
    async with running_dispatch(sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=settings):
        assert await scheduler.tick() == (1, 0)  # the ledger learns the alert; nothing due yet
        for hours in (10, 36.5, 40, 48.5, 72.5, 100):
            clock.now = raised + timedelta(hours=hours)
            if acknowledge_after is not None and timedelta(hours=hours) >= acknowledge_after:
                async with sqlite_sessions() as session, session.begin():
                    await change_status(
                        session=session,
                        alert_id=alert.id,
                        target=AlertStatus.ACKNOWLEDGED,
                        actor=SOC,
                        comment="on it",
                        settings=WORKFLOW,
                        now=clock.now,
                    )
                acknowledge_after = timedelta(days=365)  # once
            await scheduler.tick()
            sent = await _notices(sqlite_sessions, alert.id)
            for row in sent[len(seen) :]:
                kind = row.payload["workflow_notice"]["data"]["kind"]
                seen.append(kind)
                if kind == "reminder":  # signed webhook, verified by the receiver
                    [request] = await receiver.wait_accepted(1)
                    body = request.json()
                    assert (body["type"], body["data"]["alert_id"]) == ("alert.reminder", alert.id)
                    assert body["data"]["alert"]["title"] == alert.title
                else:
                    mails = await smtp.wait_for(len([k for k in seen if k != "reminder"]))
                    mail = mails[-1]
                    to = CONTACT if kind == "escalation_contact" else CSIRT_CONTACT
                    assert mail.rcpt_tos == [to]
                    assert "Escalation" in mail.message["Subject"]
                    assert mail.message["X-Ewarn-Alert-Id"] == alert.id
                    assert mail.message["X-Ewarn-Notice"] == kind

        async def settled() -> bool:
            rows = await _notices(sqlite_sessions, alert.id)
            return all(r.status == "delivered" for r in rows)

        await wait_until(settled)
    assert seen == expected
    assert len(receiver.accepted) == expected.count("reminder")
    assert len(smtp.inbox) == len(expected) - expected.count("reminder")
    async with sqlite_sessions() as session:
        ledger = await session.get(AlertWorkflowRow, alert.id)
        assert ledger is not None and ledger.next_notice is None
        assert [n["kind"] for n in ledger.notices] == expected


async def test_escalation_without_a_contact_is_recorded_and_the_next_stage_follows(
    sqlite_sessions: SessionFactory,
) -> None:
    raised = utcnow() - timedelta(days=10)
    await _tenant(sqlite_sessions)
    async with sqlite_sessions() as session:
        provider = await session.get(ProviderRow, PROVIDER)
        assert provider is not None
        provider.escalation_contact = None
        await session.commit()
    alert = sample_alert(severity="critical", matched_at=raised, raised_at=raised)
    await _store(sqlite_sessions, alert)
    scheduler = WorkflowScheduler(
        sessions=sqlite_sessions, settings=WORKFLOW, clock=lambda: raised + timedelta(hours=80)
    )
    await scheduler.tick()
    async with sqlite_sessions() as session:
        ledger = await session.get(AlertWorkflowRow, alert.id)
        assert ledger is not None
        notes = {n["kind"]: n for n in ledger.notices}
    assert notes["reminder"]["skipped"] == "no subscription of the provider takes this alert"
    assert notes["escalation_contact"]["skipped"] == "the provider has no escalation contact"
    assert "skipped" not in notes["escalation_csirt"] and len(notes["escalation_csirt"]["delivery_ids"]) == 1


async def test_a_material_revision_reopens_the_alert_and_the_history_says_why(
    sqlite_sessions: SessionFactory,
) -> None:
    from ewarn.correlate.lifecycle import next_revision
    from ewarn.store.repositories.workflow import transitions_of

    raised = utcnow() - timedelta(days=3)
    await _tenant(sqlite_sessions)
    first = sample_alert(severity="high", matched_at=raised, raised_at=raised)
    await _store(sqlite_sessions, first)
    clock = Clock(raised + timedelta(hours=1))
    scheduler = WorkflowScheduler(sessions=sqlite_sessions, settings=WORKFLOW, clock=clock)
    async with sqlite_sessions() as session, session.begin():
        acked = await change_status(
            session=session,
            alert_id=first.id,
            target=AlertStatus.ACKNOWLEDGED,
            actor=SOC,
            comment=None,
            settings=WORKFLOW,
            now=clock.now,
        )
    assert acked is not None
    clock.now = raised + timedelta(hours=2)
    kept = next_revision(acked, first.model_copy(update={"score": 70.0, "matched_at": clock.now}))
    reopened = next_revision(
        acked,
        first.model_copy(update={"severity": Severity.CRITICAL, "score": 95.0, "matched_at": clock.now}),
    )
    assert kept is not None and kept.status is AlertStatus.ACKNOWLEDGED and kept.raised_at == raised
    assert reopened is not None and reopened.status is AlertStatus.NEW and reopened.raised_at == clock.now
    async with sqlite_sessions() as session, session.begin():  # as the correlator writes revision 2
        row = await session.get(AlertRow, first.id)
        assert row is not None
        row.revision, row.status, row.severity = 2, "new", "critical"
        row.data = reopened.model_dump(mode="json")
    assert await scheduler.tick() == (1, 0)
    async with sqlite_sessions() as session:
        history = await transitions_of(session=session, alert_id=first.id)
        ledger = await session.get(AlertWorkflowRow, first.id)
    assert [(t.from_status, t.to_status, t.actor) for t in history] == [
        (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, "key_soc"),
        (AlertStatus.ACKNOWLEDGED, AlertStatus.NEW, "system"),
    ]
    assert history[1].comment == "revision 2: raised again (material change)"
    assert ledger is not None and ledger.acknowledged_at is None and ledger.next_notice == "reminder"
    assert ledger.acknowledge_due_at is not None
