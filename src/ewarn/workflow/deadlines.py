"""Deadlines per severity and the notices they call for: pure arithmetic over the operator's settings.

From ``raised_at`` (when the alert last became new) an alert has ``acknowledge_hours`` to be acknowledged and
``resolve_hours`` to be closed. Each deadline has its chain of three notices, due in order:

- a reminder ``remind_before_hours`` before the deadline, to the provider's subscriptions;
- an escalation at the deadline, to the provider's escalation contact;
- an escalation ``escalate_to_csirt_after_hours`` after it, to the provider's CSIRT.

The acknowledgement chain (``reminder``, ``escalation_contact``, ``escalation_csirt``) runs while the alert is
new: acknowledging (or any other move out of ``new``) ends it. The resolution chain (``resolve_reminder``,
``resolve_escalation_contact``, ``resolve_escalation_csirt``) runs while the alert is open (new, acknowledged,
in progress): resolving it, a false-positive verdict or accepting the risk ends it. The ledger holds one next
notice: the earlier of the two chains' next ones (the acknowledgement's on a tie).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ewarn.models.alert import AlertStatus, Severity
from ewarn.settings import WorkflowSettings
from ewarn.workflow.states import CLOSED

REMINDER = "reminder"
ESCALATION_CONTACT = "escalation_contact"
ESCALATION_CSIRT = "escalation_csirt"
RESOLVE_REMINDER = "resolve_reminder"
RESOLVE_ESCALATION_CONTACT = "resolve_escalation_contact"
RESOLVE_ESCALATION_CSIRT = "resolve_escalation_csirt"
ACKNOWLEDGE_NOTICES = (REMINDER, ESCALATION_CONTACT, ESCALATION_CSIRT)
RESOLVE_NOTICES = (RESOLVE_REMINDER, RESOLVE_ESCALATION_CONTACT, RESOLVE_ESCALATION_CSIRT)
NOTICE_ORDER = ACKNOWLEDGE_NOTICES + RESOLVE_NOTICES


@dataclass(frozen=True)
class Schedule:
    acknowledge_due_at: datetime | None
    resolve_due_at: datetime | None
    next_notice: str | None
    next_notice_at: datetime | None


def due_dates(
    severity: Severity, raised_at: datetime, settings: WorkflowSettings
) -> tuple[datetime | None, datetime | None]:
    """(acknowledge by, resolve by) for an alert of ``severity`` raised at ``raised_at``; None: no deadline."""
    deadline = settings.deadlines.get(severity.value)
    if deadline is None:
        return None, None
    ack = raised_at + timedelta(hours=deadline.acknowledge_hours) if deadline.acknowledge_hours else None
    resolve = raised_at + timedelta(hours=deadline.resolve_hours) if deadline.resolve_hours else None
    return ack, resolve


def notice_times(
    raised_at: datetime,
    due_at: datetime,
    settings: WorkflowSettings,
    chain: tuple[str, str, str] = ACKNOWLEDGE_NOTICES,
) -> dict[str, datetime]:
    """When each notice of a deadline's ``chain`` (reminder, escalation to the contact, to the CSIRT) falls due;
    a reminder that would come before the alert itself is left out."""
    reminder, to_contact, to_csirt = chain
    times = {
        to_contact: due_at,
        to_csirt: due_at + timedelta(hours=settings.escalate_to_csirt_after_hours),
    }
    remind_at = due_at - timedelta(hours=settings.remind_before_hours)
    if settings.remind_before_hours > 0 and remind_at > raised_at:
        times[reminder] = remind_at
    return times


def deadline_of(kind: str) -> Literal["acknowledge", "resolve"]:
    """Which deadline a notice is about: ``acknowledge`` or ``resolve``."""
    return "resolve" if kind in RESOLVE_NOTICES else "acknowledge"


def _next_of_chain(
    raised_at: datetime,
    due_at: datetime | None,
    chain: tuple[str, str, str],
    sent: Collection[str],
    settings: WorkflowSettings,
) -> tuple[datetime, str] | None:
    if due_at is None:
        return None
    times = notice_times(raised_at, due_at, settings, chain)
    return next(((times[k], k) for k in chain if k in times and k not in sent), None)


def schedule(
    *,
    status: AlertStatus,
    severity: Severity,
    raised_at: datetime,
    sent: Collection[str],
    settings: WorkflowSettings,
) -> Schedule:
    """The alert's deadlines and its next notice (None once the chains that still run were all sent)."""
    ack, resolve = due_dates(severity, raised_at, settings)
    candidates = [
        nxt
        for due_at, chain, runs in (
            (ack, ACKNOWLEDGE_NOTICES, status is AlertStatus.NEW),
            (resolve, RESOLVE_NOTICES, status not in CLOSED),
        )
        if runs and (nxt := _next_of_chain(raised_at, due_at, chain, sent, settings)) is not None
    ]
    if not candidates:
        return Schedule(ack, resolve, None, None)
    at, kind = min(candidates, key=lambda c: (c[0], NOTICE_ORDER.index(c[1])))
    return Schedule(ack, resolve, kind, at)


def overdue(
    *,
    status: AlertStatus,
    acknowledge_due_at: datetime | None,
    resolve_due_at: datetime | None,
    now: datetime,
) -> tuple[str, datetime] | None:
    """Which deadline an alert has missed at ``now`` (acknowledge first), or None."""
    if status is AlertStatus.NEW and acknowledge_due_at is not None and acknowledge_due_at <= now:
        return "acknowledge", acknowledge_due_at
    if status not in CLOSED and resolve_due_at is not None and resolve_due_at <= now:
        return "resolve", resolve_due_at
    return None
