"""Deadlines with an injected clock: reminder, escalation to the provider's contact, then to its CSIRT.

Each notice is delivered by a real channel through the real dispatch worker (signed webhook to a loopback
receiver, e-mail to aiosmtpd), and none once the alert has been acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

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
from ewarn.store.db import SessionFactory, as_utc
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


async def _set_status(
    sessions: SessionFactory, alert_id: str, target: AlertStatus, now: datetime, comment: str | None = None
) -> Alert | None:
    """The SOC moves the alert, as the API does (its own transaction)."""
    async with sessions() as session, session.begin():
        return await change_status(
            session=session,
            alert_id=alert_id,
            target=target,
            actor=SOC,
            comment=comment,
            settings=WORKFLOW,
            now=now,
        )


async def _subscribed_alert(sessions: SessionFactory, receiver: WebhookReceiver, *, days: int) -> Alert:
    """A critical alert raised ``days`` ago for the tenant, whose webhook subscription goes to ``receiver``; the
    clock then walks through the past, so every notice is due at once."""
    raised = utcnow() - timedelta(days=days)
    await _tenant(sessions)
    _, secret = await add_subscription(sessions, receiver.url(), provider_id=PROVIDER)
    assert secret is not None
    receiver.secrets = [secret]
    alert = sample_alert(severity="critical", matched_at=raised, raised_at=raised)
    await _store(sessions, alert)
    return alert


def _label(payload: dict[str, Any]) -> str:
    """The ledger's name of a notice: its kind, ``resolve_``-prefixed for the resolution deadline."""
    data = payload["workflow_notice"]["data"]
    return str(data["kind"]) if data["due"] == "acknowledge" else f"resolve_{data['kind']}"


async def _walk(
    sessions: SessionFactory,
    bus: MemoryBus,
    receiver: WebhookReceiver,
    smtp: SmtpReceiver,
    alert: Alert,
    steps: list[tuple[float, AlertStatus | None]],
) -> list[str]:
    """Walk the injected clock through ``steps`` (hours after the alert was raised, and a status the SOC sets
    then), ticking the scheduler after each, with the real dispatch worker sending every notice; returns the
    notices in the order they arrived, each checked as its channel received it."""
    raised = alert.raised_at
    assert raised is not None
    clock = Clock(raised + timedelta(hours=1))
    scheduler = WorkflowScheduler(sessions=sessions, settings=WORKFLOW, clock=clock)
    settings = dispatch_settings(
        smtp=SmtpSettings(host="127.0.0.1", port=smtp.port, sender="ewarn@cert.example", timeout_seconds=5)
    )
    seen: list[str] = []
    async with running_dispatch(sessions=sessions, bus=bus, topics=TOPICS, settings=settings):
        assert await scheduler.tick() == (1, 0)  # the ledger learns the alert; nothing due yet
        for hours, target in steps:
            clock.now = raised + timedelta(hours=hours)
            if target is not None:
                await _set_status(sessions, alert.id, target, clock.now, comment="on it")
            await scheduler.tick()
            for row in (await _notices(sessions, alert.id))[len(seen) :]:
                label = _label(row.payload)
                seen.append(label)
                due = "resolve" if label.startswith("resolve_") else "acknowledge"
                if label.endswith("reminder"):  # signed webhook, verified by the receiver
                    accepted = await receiver.wait_accepted(len([k for k in seen if k.endswith("reminder")]))
                    body = accepted[-1].json()
                    assert (body["type"], body["data"]["alert_id"]) == ("alert.reminder", alert.id)
                    assert body["data"]["due"] == due
                    assert body["data"]["alert"]["title"] == alert.title
                else:
                    mails = await smtp.wait_for(len([k for k in seen if not k.endswith("reminder")]))
                    mail = mails[-1]
                    to = CONTACT if label.endswith("escalation_contact") else CSIRT_CONTACT
                    assert mail.rcpt_tos == [to]
                    assert (
                        f"Escalation{' to CSIRT' if to == CSIRT_CONTACT else ''}: not {due}d by"
                        in (mail.message["Subject"])
                    )
                    assert mail.message["X-Ewarn-Alert-Id"] == alert.id
                    assert mail.message["X-Ewarn-Notice"] == label.removeprefix("resolve_")

        async def settled() -> bool:
            rows = await _notices(sessions, alert.id)
            return all(r.status in ("delivered", "skipped") for r in rows)

        await wait_until(settled)
    assert len(receiver.accepted) == len([k for k in seen if k.endswith("reminder")])
    assert len(smtp.inbox) == len([k for k in seen if not k.endswith("reminder")])
    return seen


ACK_CHAIN = ["reminder", "escalation_contact", "escalation_csirt"]
RESOLVE_CHAIN = ["resolve_reminder", "resolve_escalation_contact", "resolve_escalation_csirt"]


@pytest.mark.parametrize(
    ("acknowledge_after", "expected"),
    [
        pytest.param(None, ACK_CHAIN, id="never-acknowledged"),
        pytest.param(10, [], id="acknowledged-before-the-reminder"),
        pytest.param(40, ["reminder"], id="acknowledged-after-the-reminder"),
    ],
)
async def test_reminder_then_escalations_by_real_channels_and_none_after_acknowledgement(
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    receiver: WebhookReceiver,
    smtp: SmtpReceiver,
    acknowledge_after: float | None,
    expected: list[str],
) -> None:
    alert = await _subscribed_alert(sqlite_sessions, receiver, days=10)
    steps = [
        (hours, AlertStatus.ACKNOWLEDGED if hours == acknowledge_after else None)
        for hours in (10, 36.5, 40, 48.5, 72.5, 100)
    ]
    seen = await _walk(sqlite_sessions, memory_bus, receiver, smtp, alert, steps)
    assert seen == expected
    async with sqlite_sessions() as session:
        ledger = await session.get(AlertWorkflowRow, alert.id)
        assert ledger is not None and [n["kind"] for n in ledger.notices] == expected
        # still open: the resolution deadline (240 h) is the next to remind of
        assert ledger.next_notice == "resolve_reminder"
        assert as_utc(ledger.next_notice_at) == alert.raised_at + timedelta(hours=240 - 12)


@pytest.mark.parametrize(
    ("closing", "expected"),
    [
        pytest.param(None, RESOLVE_CHAIN, id="never-resolved"),
        pytest.param((100, AlertStatus.IN_PROGRESS), RESOLVE_CHAIN, id="in-progress-is-still-open"),
        pytest.param((200, AlertStatus.RESOLVED), [], id="resolved-before-the-reminder"),
        pytest.param((230, AlertStatus.FALSE_POSITIVE), ["resolve_reminder"], id="false-positive-after-it"),
        pytest.param(
            (250, AlertStatus.ACCEPTED_RISK),
            ["resolve_reminder", "resolve_escalation_contact"],
            id="accepted-risk-after-the-escalation",
        ),
    ],
)
async def test_resolution_deadline_reminds_then_escalates_by_real_channels_until_closed(
    sqlite_sessions: SessionFactory,
    memory_bus: MemoryBus,
    receiver: WebhookReceiver,
    smtp: SmtpReceiver,
    closing: tuple[float, AlertStatus] | None,
    expected: list[str],
) -> None:
    alert = await _subscribed_alert(sqlite_sessions, receiver, days=13)
    changes = {10.0: AlertStatus.ACKNOWLEDGED, **dict([closing] if closing else [])}
    steps = [(h, changes.get(h)) for h in (10.0, 100, 200, 228.5, 230, 240.5, 250, 264.5, 300)]
    seen = await _walk(sqlite_sessions, memory_bus, receiver, smtp, alert, steps)
    assert seen == expected  # acknowledged at 10 h: no acknowledgement notice either
    async with sqlite_sessions() as session:
        ledger = await session.get(AlertWorkflowRow, alert.id)
        assert ledger is not None and ledger.next_notice is None
        assert [n["kind"] for n in ledger.notices] == expected


async def test_acknowledging_skips_only_acknowledgement_notices_and_closing_the_rest(
    sqlite_sessions: SessionFactory, receiver: WebhookReceiver
) -> None:
    raised = utcnow() - timedelta(days=13)
    await _tenant(sqlite_sessions)
    await add_subscription(sqlite_sessions, receiver.url(), provider_id=PROVIDER)
    alert = sample_alert(severity="critical", matched_at=raised, raised_at=raised)
    await _store(sqlite_sessions, alert)
    clock = Clock(raised + timedelta(hours=229))  # both chains have fallen due: no dispatch runs to send them
    await WorkflowScheduler(sessions=sqlite_sessions, settings=WORKFLOW, clock=clock).tick()

    async def outbox() -> dict[str, tuple[str, str | None]]:
        return {
            _label(r.payload): (r.status, r.last_error) for r in await _notices(sqlite_sessions, alert.id)
        }

    assert await outbox() == {k: ("pending", None) for k in [*ACK_CHAIN, "resolve_reminder"]}
    for target in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED):
        await _set_status(sqlite_sessions, alert.id, target, clock.now)
        if target is AlertStatus.ACKNOWLEDGED:
            assert await outbox() == {
                **{k: ("skipped", "alert acknowledged") for k in ACK_CHAIN},
                "resolve_reminder": ("pending", None),
            }
    assert (await outbox())["resolve_reminder"] == ("skipped", "alert resolved")


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
    acked = await _set_status(sqlite_sessions, first.id, AlertStatus.ACKNOWLEDGED, clock.now)
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


async def test_ledger_rows_kept_before_resolution_notices_get_their_next_one(
    sqlite_sessions: SessionFactory,
) -> None:
    """An open row with no next notice (as kept before resolution deadlines had notices) is planned; a row whose
    resolution chain ran out is left alone."""
    raised = utcnow() - timedelta(days=13)
    await _tenant(sqlite_sessions)
    planned = sample_alert(severity="critical", matched_at=raised, raised_at=raised)
    done = sample_alert(severity="critical", matched_at=raised, raised_at=raised, asset_id="ast_ris")
    for alert in (planned, done):
        await _store(sqlite_sessions, alert)
    clock = Clock(raised + timedelta(hours=100))
    scheduler = WorkflowScheduler(sessions=sqlite_sessions, settings=WORKFLOW, clock=clock)
    await scheduler.tick()
    for alert in (planned, done):
        await _set_status(sqlite_sessions, alert.id, AlertStatus.ACKNOWLEDGED, clock.now)
    async with sqlite_sessions() as session, session.begin():
        for alert, notes in ((planned, ACK_CHAIN), (done, ACK_CHAIN + RESOLVE_CHAIN)):
            row = await session.get(AlertWorkflowRow, alert.id)
            assert row is not None
            row.notices = [{"kind": k, "at": clock.now.isoformat(), "delivery_ids": []} for k in notes]
            row.next_notice, row.next_notice_at = None, None
    clock.now = raised + timedelta(hours=200)
    await scheduler.tick()
    async with sqlite_sessions() as session:
        planned_row = await session.get(AlertWorkflowRow, planned.id)
        done_row = await session.get(AlertWorkflowRow, done.id)
    assert planned_row is not None and planned_row.next_notice == "resolve_reminder"
    assert done_row is not None and done_row.next_notice is None
