"""The workflow's use cases: change an alert's status, keep the deadline ledger in step, send due notices.

Each function works in the caller's session and transaction; the API route and the scheduler commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ewarn.dispatch.notices import NoticeKind, notice_payload
from ewarn.dispatch.router import route
from ewarn.ids import stable_id
from ewarn.models.alert import Alert, AlertStatus, Severity
from ewarn.models.common import TLP
from ewarn.models.delivery import DeliveryStatus
from ewarn.models.subscription import Channel
from ewarn.settings import WorkflowSettings
from ewarn.store.db import as_utc
from ewarn.store.repositories import subscriptions as subs_repo
from ewarn.store.repositories import workflow as repo
from ewarn.store.repositories.alerts import alert_from_row
from ewarn.store.repositories.audit import AuditActor
from ewarn.store.tables import AlertRow, AlertWorkflowRow
from ewarn.workflow.deadlines import (
    ACKNOWLEDGE_NOTICES,
    ESCALATION_CONTACT,
    ESCALATION_CSIRT,
    NOTICE_ORDER,
    REMINDER,
    RESOLVE_ESCALATION_CONTACT,
    RESOLVE_ESCALATION_CSIRT,
    RESOLVE_REMINDER,
    deadline_of,
    schedule,
)
from ewarn.workflow.states import ACKNOWLEDGING, CLOSED, refusal

SYSTEM = AuditActor(id="system", role="system", name="ewarn workflow")
# E-mail leaves our control once sent: an escalation e-mail carries the alert only up to this TLP.
EMAIL_DETAIL_CEILING = TLP.AMBER
# the ledger's notice (one per deadline chain) -> what the notice says it is
_NOTICE_KINDS: dict[str, NoticeKind] = {
    REMINDER: "reminder",
    ESCALATION_CONTACT: "escalation_contact",
    ESCALATION_CSIRT: "escalation_csirt",
    RESOLVE_REMINDER: "reminder",
    RESOLVE_ESCALATION_CONTACT: "escalation_contact",
    RESOLVE_ESCALATION_CSIRT: "escalation_csirt",
}
_NOTICE_CHANNELS = frozenset({Channel.WEBHOOK, Channel.EMAIL})  # the channels that render a notice


class TransitionRefused(Exception):
    """The requested status change is not allowed from the alert's current status (API: 409)."""


def _raised_at(alert: Alert) -> datetime:
    return alert.raised_at or alert.created_at or alert.matched_at


def _ledger_values(
    alert: Alert, existing: AlertWorkflowRow | None, settings: WorkflowSettings, now: datetime
) -> dict[str, Any]:
    """The ledger row for ``alert`` as it stands: a fresh cycle when it was raised again."""
    raised_at = _raised_at(alert)
    fresh = existing is None or as_utc(existing.raised_at) != raised_at
    notices: list[dict[str, Any]] = [] if fresh or existing is None else list(existing.notices or [])
    acknowledged_at = None if fresh or existing is None else as_utc(existing.acknowledged_at)
    resolved_at = None if fresh or existing is None else as_utc(existing.resolved_at)
    if alert.status in ACKNOWLEDGING and acknowledged_at is None:
        acknowledged_at = now
    resolved_at = (resolved_at or now) if alert.status in CLOSED else None  # None: reopened
    plan = schedule(
        status=alert.status,
        severity=alert.severity,
        raised_at=raised_at,
        sent={n["kind"] for n in notices},
        settings=settings,
    )
    return {
        "alert_id": alert.id,
        "provider_id": alert.provider_id,
        "revision": alert.revision,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "raised_at": raised_at,
        "acknowledged_at": acknowledged_at,
        "resolved_at": resolved_at,
        "acknowledge_due_at": plan.acknowledge_due_at,
        "resolve_due_at": plan.resolve_due_at,
        "next_notice": plan.next_notice,
        "next_notice_at": plan.next_notice_at,
        "notices": notices,
        "updated_at": now,
    }


async def _keep_ledger(
    session: Any, alert: Alert, existing: AlertWorkflowRow | None, settings: WorkflowSettings, now: datetime
) -> AlertWorkflowRow:
    values = _ledger_values(alert, existing, settings, now)
    if existing is None:
        existing = AlertWorkflowRow(**values)
        session.add(existing)
    else:
        for key, value in values.items():
            setattr(existing, key, value)
    return existing


def _ended_notice_ids(row: AlertWorkflowRow | None, before: AlertStatus, after: AlertStatus) -> list[str]:
    """The outbox rows of the notices ``before -> after`` ends: closing the alert ends both chains, leaving
    ``new`` for an open state the acknowledgement chain."""
    if after in CLOSED:
        ended = set(NOTICE_ORDER)
    elif before is AlertStatus.NEW and after is not AlertStatus.NEW:
        ended = set(ACKNOWLEDGE_NOTICES)
    else:
        return []
    notes = row.notices or [] if row is not None else []
    return [i for n in notes if n.get("kind") in ended for i in n.get("delivery_ids", [])]


async def _end_notices(
    session: Any, row: AlertWorkflowRow | None, before: AlertStatus, after: AlertStatus
) -> None:
    """Skip the notices ``before -> after`` ended that are still waiting in the outbox."""
    await repo.cancel_pending(
        session=session, delivery_ids=_ended_notice_ids(row, before, after), reason=f"alert {after.value}"
    )


async def change_status(
    *,
    session: Any,
    alert_id: str,
    target: AlertStatus,
    actor: AuditActor,
    comment: str | None,
    settings: WorkflowSettings,
    now: datetime,
) -> Alert | None:
    """Move the alert to ``target`` with its history row; None when it does not exist.

    Raises ``TransitionRefused`` with the reason when the move is not allowed. Leaving ``new`` ends the
    acknowledgement notices, closing the alert the resolution notices too: those not yet sent are skipped.
    """
    row = await repo.lock_alert(session=session, alert_id=alert_id)
    if row is None:
        return None
    current = AlertStatus(row.status)
    why = refusal(current, target)
    if why is not None:
        raise TransitionRefused(why)
    alert = repo.set_status(row, target, now=now)
    repo.add_transition(
        session, alert=alert, from_status=current, to_status=target, actor=actor, comment=comment, now=now
    )
    ledger = await _keep_ledger(
        session, alert, await repo.ledger_row(session=session, alert_id=alert_id), settings, now
    )
    await _end_notices(session, ledger, current, target)
    await session.flush()
    return alert


def _system_comment(alert: Alert, before: AlertStatus) -> str:
    if alert.status is AlertStatus.RESOLVED:
        tail = alert.reason.rpartition("Resolved: ")[2].rstrip(".")
        return f"revision {alert.revision}: resolved by correlation ({tail})"
    if alert.status is AlertStatus.NEW:
        return f"revision {alert.revision}: raised again (material change)"
    return f"revision {alert.revision}: {before.value} -> {alert.status.value}"


async def sync_ledger(*, session: Any, settings: WorkflowSettings, now: datetime, limit: int) -> int:
    """Bring the ledger in step with alerts revised since (or never seen); returns how many rows moved.

    A status the correlator changed (a material revision reopening the alert, a resolution) is written to the
    alert's history as a transition by ``system``.
    """
    pairs = await repo.alerts_out_of_step(session=session, limit=limit)
    for alert_row, existing in pairs:
        try:
            alert = alert_from_row(alert_row)
        except ValueError:
            continue  # an unreadable stored alert is the correlator's to quarantine
        if existing is not None:
            before = AlertStatus(existing.status)
            raised_again = as_utc(existing.raised_at) != _raised_at(alert)
            if before is not alert.status or (alert.status is AlertStatus.NEW and raised_again):
                repo.add_transition(
                    session,
                    alert=alert,
                    from_status=before,
                    to_status=alert.status,
                    actor=SYSTEM,
                    comment=_system_comment(alert, before),
                    now=now,
                )
            await _end_notices(session, existing, before, alert.status)
        await _keep_ledger(session, alert, existing, settings, now)
    await session.flush()
    return len(pairs)


async def plan_unplanned(*, session: Any, settings: WorkflowSettings, now: datetime, limit: int) -> int:
    """Plan the next notice of open ledger rows that have none though their resolution chain may still run
    (rows kept before resolution deadlines had notices); returns how many rows were read.

    A chain whose last notice was sent has its resolution deadline at least ``escalate_to_csirt_after_hours``
    behind ``now``, so rows past that are never read again.
    """
    after = now - timedelta(hours=settings.escalate_to_csirt_after_hours)
    rows = await repo.unplanned_open_rows(session=session, resolve_due_after=after, limit=limit)
    for row in rows:
        plan = schedule(
            status=AlertStatus(row.status),
            severity=Severity(row.severity),
            raised_at=as_utc(row.raised_at) or now,
            sent={n["kind"] for n in row.notices or []},
            settings=settings,
        )
        row.next_notice, row.next_notice_at = plan.next_notice, plan.next_notice_at
    await session.flush()
    return len(rows)


def _delivery_row(
    alert: Alert, sub_id: str, channel: str, kind: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": stable_id("msg", alert.id, sub_id, f"{kind}@{_raised_at(alert).isoformat()}"),
        "alert_id": alert.id,
        "alert_revision": alert.revision,
        "subscription_id": sub_id,
        "provider_id": alert.provider_id,
        "channel": channel,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "attempts_before_replay": 0,
        "last_error": None,
        "last_status_code": None,
        "next_attempt_at": now,
        "lease_until": None,
        "dispatched_at": None,
        "payload": payload,
        "digest_key": None,
        "created_at": now,
    }


async def _notice_rows(
    session: Any, alert: Alert, notice: str, due_at: datetime, now: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    """The outbox rows of one notice of the ledger (ids by ``notice``: one per chain), or none and why."""
    raised_at = _raised_at(alert)
    kind = _NOTICE_KINDS[notice]
    due = deadline_of(notice)

    def payload(with_alert: bool) -> dict[str, Any]:
        return notice_payload(
            alert, kind=kind, due=due, due_at=due_at, raised_at=raised_at, at=now, with_alert=with_alert
        )

    if kind == REMINDER:
        subs = await subs_repo.live_subscriptions_of(session=session, provider_ids=[alert.provider_id])
        rows = [
            _delivery_row(
                alert,
                r.subscription.id,
                r.subscription.channel.value,
                notice,
                payload(with_alert=True),
                now,
            )
            for r in route(alert, subs)
            if r.deliver and r.subscription.channel in _NOTICE_CHANNELS
        ]
        return rows, None if rows else "no subscription of the provider takes this alert"
    contacts = await repo.escalation_contacts(session=session, provider_id=alert.provider_id)
    target = contacts.provider_contact if kind == ESCALATION_CONTACT else contacts.csirt_contact
    if not target:
        whose = "the provider" if kind == ESCALATION_CONTACT else "the provider's CSIRT"
        return [], f"{whose} has no escalation contact"
    sub_id = await repo.escalation_subscription(
        session=session, provider_id=alert.provider_id, target=target, now=now
    )
    with_alert = alert.tlp.rank <= EMAIL_DETAIL_CEILING.rank
    return [_delivery_row(alert, sub_id, Channel.EMAIL.value, notice, payload(with_alert), now)], None


async def _send_next(
    session: Any, ledger: AlertWorkflowRow, alert: Alert, settings: WorkflowSettings, now: datetime
) -> bool:
    """Write the ledger's next notice to the outbox and plan the one after; False if there is none."""
    notice = ledger.next_notice or ""
    if notice not in _NOTICE_KINDS:
        ledger.next_notice, ledger.next_notice_at = None, None
        return False
    deadline = ledger.resolve_due_at if deadline_of(notice) == "resolve" else ledger.acknowledge_due_at
    rows, skipped = await _notice_rows(session, alert, notice, as_utc(deadline) or now, now)
    inserted = await repo.insert_notice_deliveries(session=session, rows=rows)
    note: dict[str, Any] = {"kind": notice, "at": now.isoformat(), "delivery_ids": sorted(inserted)}
    if skipped:
        note["skipped"] = skipped
    ledger.notices = [*(ledger.notices or []), note]
    plan = schedule(
        status=AlertStatus(ledger.status),
        severity=Severity(ledger.severity),
        raised_at=as_utc(ledger.raised_at) or now,
        sent={n["kind"] for n in ledger.notices},
        settings=settings,
    )
    ledger.next_notice, ledger.next_notice_at = plan.next_notice, plan.next_notice_at
    return True


async def send_due_notices(*, session: Any, settings: WorkflowSettings, now: datetime, limit: int) -> int:
    """Write the outbox rows of every notice due at ``now``; returns how many notices were handled."""
    due = await repo.due_notices(session=session, now=now, limit=limit)
    for ledger in due:
        alert_row = await session.get(AlertRow, ledger.alert_id)
        if alert_row is None:
            ledger.next_notice, ledger.next_notice_at = None, None
            continue
        try:
            alert = alert_from_row(alert_row)
        except ValueError:  # unreadable: the correlator quarantines it; no notice can describe it
            ledger.next_notice, ledger.next_notice_at = None, None
            continue
        while ledger.next_notice_at is not None and as_utc(ledger.next_notice_at) <= now:  # type: ignore[operator]
            if not await _send_next(session, ledger, alert, settings, now):
                break
        ledger.updated_at = now
    await session.flush()
    return len(due)
