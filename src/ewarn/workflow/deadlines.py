"""Deadlines per severity and the notices they call for: pure arithmetic over the operator's settings.

From ``raised_at`` (when the alert last became new) an alert has ``acknowledge_hours`` to be acknowledged and
``resolve_hours`` to be closed. While it stays new, three notices fall due in order:

- ``reminder``: ``remind_before_hours`` before the acknowledgement deadline, to the provider's subscriptions;
- ``escalation_contact``: at the deadline, to the provider's escalation contact;
- ``escalation_csirt``: ``escalate_to_csirt_after_hours`` after it, to the provider's CSIRT.

Acknowledging (or any other move out of ``new``) ends the notices: none is due for an alert that is not new.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from ewarn.models.alert import AlertStatus, Severity
from ewarn.settings import WorkflowSettings
from ewarn.workflow.states import CLOSED

REMINDER = "reminder"
ESCALATION_CONTACT = "escalation_contact"
ESCALATION_CSIRT = "escalation_csirt"
NOTICE_ORDER = (REMINDER, ESCALATION_CONTACT, ESCALATION_CSIRT)


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
    raised_at: datetime, acknowledge_due_at: datetime, settings: WorkflowSettings
) -> dict[str, datetime]:
    """When each notice falls due; a reminder that would come before the alert itself is left out."""
    times = {
        ESCALATION_CONTACT: acknowledge_due_at,
        ESCALATION_CSIRT: acknowledge_due_at + timedelta(hours=settings.escalate_to_csirt_after_hours),
    }
    remind_at = acknowledge_due_at - timedelta(hours=settings.remind_before_hours)
    if settings.remind_before_hours > 0 and remind_at > raised_at:
        times[REMINDER] = remind_at
    return times


def schedule(
    *,
    status: AlertStatus,
    severity: Severity,
    raised_at: datetime,
    sent: Collection[str],
    settings: WorkflowSettings,
) -> Schedule:
    """The alert's deadlines and its next notice (none once it is no longer new, or all were sent)."""
    ack, resolve = due_dates(severity, raised_at, settings)
    if status is not AlertStatus.NEW or ack is None:
        return Schedule(ack, resolve, None, None)
    times = notice_times(raised_at, ack, settings)
    for kind in NOTICE_ORDER:
        if kind in times and kind not in sent:
            return Schedule(ack, resolve, kind, times[kind])
    return Schedule(ack, resolve, None, None)


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
