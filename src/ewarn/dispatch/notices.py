"""Workflow notices (reminders and escalations of overdue alerts) as outbox payloads, webhook bodies and e-mails.

A notice is a delivery of its own kind: the workflow scheduler writes it to the outbox like any alert delivery
(deterministic id, signed, retried, logged), with a payload holding only ``{"workflow_notice": <NoticeEvent>}``.
The sender recognises it here and renders it instead of an alert. The alert's details travel only when the
channel may carry the alert's TLP; otherwise the notice names the alert by id, severity and TLP alone.
"""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal

from pydantic import Field

from ewarn.dispatch.email import tlp_label
from ewarn.dispatch.payload import SCHEMA_VERSION, AlertData
from ewarn.models.alert import Alert, AlertStatus, Severity
from ewarn.models.common import TLP, Contract, UtcDatetime, utcnow

NOTICE_KEY = "workflow_notice"
NoticeKind = Literal["reminder", "escalation_contact", "escalation_csirt"]
NoticeDue = Literal["acknowledge", "resolve"]  # which deadline the notice is about


class NoticeData(Contract):
    kind: NoticeKind = Field(description="reminder (before the deadline) or an escalation (after it)")
    due: NoticeDue = "acknowledge"
    due_at: UtcDatetime
    raised_at: UtcDatetime
    alert_id: str
    provider_id: str
    severity: Severity
    tlp: TLP
    status: AlertStatus
    alert: AlertData | None = Field(
        default=None, description="The alert itself, when the channel may carry its TLP"
    )


class NoticeEvent(Contract):
    """A reminder or escalation about an alert that was not acknowledged (or not resolved) in time."""

    type: Literal["alert.reminder", "alert.escalation"]
    schema_version: Literal[1] = SCHEMA_VERSION
    timestamp: UtcDatetime = Field(description="When the notice fell due (stable across retries)")
    data: NoticeData


def notice_payload(
    alert: Alert,
    *,
    kind: NoticeKind,
    due_at: datetime,
    raised_at: datetime,
    at: datetime,
    with_alert: bool,
    due: NoticeDue = "acknowledge",
) -> dict[str, Any]:
    """The outbox payload of one notice about ``alert``'s ``due`` deadline."""
    event = NoticeEvent(
        type="alert.reminder" if kind == "reminder" else "alert.escalation",
        timestamp=at,
        data=NoticeData(
            kind=kind,
            due=due,
            due_at=due_at,
            raised_at=raised_at,
            alert_id=alert.id,
            provider_id=alert.provider_id,
            severity=alert.severity,
            tlp=alert.tlp,
            status=alert.status,
            alert=AlertData.from_alert(alert) if with_alert else None,
        ),
    )
    return {NOTICE_KEY: event.model_dump(mode="json")}


def is_notice(payload: dict[str, Any]) -> bool:
    return NOTICE_KEY in payload


def notice_event(payload: dict[str, Any]) -> NoticeEvent:
    return NoticeEvent.model_validate(payload[NOTICE_KEY])


def notice_body(payload: dict[str, Any]) -> tuple[bytes, str]:
    """The webhook body of a notice: always the JSON event (STIX has no word for a reminder)."""
    return notice_event(payload).model_dump_json().encode(), "application/json"


_SUBJECTS = {
    "reminder": "Reminder: {verb} by {due}",
    "escalation_contact": "Escalation: not {done} by {due}",
    "escalation_csirt": "Escalation to CSIRT: not {done} by {due}",
}
_WORDS = {"acknowledge": ("acknowledge", "acknowledged"), "resolve": ("resolve", "resolved")}


def notice_email(payload: dict[str, Any], *, to: str, sender: str, message_id: str) -> EmailMessage:
    """The e-mail of a notice; its Message-ID is the delivery id, so a re-sent message keeps it."""
    data = notice_event(payload).data
    due = f"{data.due_at:%Y-%m-%d %H:%M} UTC"
    verb, done = _WORDS[data.due]
    subject = _SUBJECTS[data.kind].format(due=due, verb=verb, done=done)
    lines = [
        subject,
        "",
        f"Alert: {data.alert_id}",
        f"Provider: {data.provider_id}",
        f"Severity: {data.severity.value}",
        f"Raised: {data.raised_at:%Y-%m-%d %H:%M} UTC",
        f"Status: {data.status.value}",
    ]
    if data.alert is not None:
        lines += [f"Title: {data.alert.title}", f"Why: {data.alert.reason}"]
    else:
        lines.append("Details are withheld by e-mail for this TLP: read the alert in ewarn.")
    text = "\n".join(lines) + "\n"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = (
        f"[ewarn][{data.severity.value.upper()}][{data.provider_id}] {subject} [{tlp_label(data.tlp)}]"
    )
    msg["Message-ID"] = f"<{message_id}@ewarn>"
    msg["Date"] = utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Ewarn-Alert-Id"] = data.alert_id
    msg["X-Ewarn-Notice"] = data.kind
    msg["X-Ewarn-Provider"] = data.provider_id
    msg.set_content(text)
    msg.add_alternative(
        f"<!doctype html><html><body><pre>{html.escape(text)}</pre></body></html>", subtype="html"
    )
    return msg
