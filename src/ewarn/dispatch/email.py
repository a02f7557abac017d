"""E-mail channel: a message a SOC can filter (subject and headers), text and HTML parts, sent over SMTP.

The bodies come from the Jinja2 templates in ``email_templates/`` (``ewarn.dispatch.templates``), in the
subscription's or the provider's language; subjects keep fixed English tokens first for SOC mail rules.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from ewarn.dispatch.payload import AlertData
from ewarn.dispatch.smime import load_signer
from ewarn.dispatch.templates import gettext_for, render
from ewarn.models.common import TLP, utcnow
from ewarn.models.subscription import Channel
from ewarn.models.tlp_access import CHANNEL_TLP_LIMIT
from ewarn.settings import SmtpSettings


class TlpRefused(Exception):
    """An alert above what e-mail may carry reached the e-mail channel; it is never sent."""


def tlp_label(tlp: TLP) -> str:
    return f"TLP:{tlp.value.upper()}"


def alert_subject(data: AlertData) -> str:
    """``[ewarn][HIGH][provider] title (alert alr_…) [TLP:AMBER]``: fixed tokens first, for SOC mail rules."""
    return (
        f"[ewarn][{data.severity.value.upper()}][{data.provider_id}] {data.title} "
        f"(alert {data.id}) [{tlp_label(data.tlp)}]"
    )


def _message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html_body: str,
    message_id: str | None,
    headers: dict[str, str],
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<{message_id}@ewarn>" if message_id else make_msgid(domain="ewarn")
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(text)
    msg.add_alternative(html_body, subtype="html")
    return msg


def _guard_tlp(tlp: TLP) -> None:
    if tlp.rank > CHANNEL_TLP_LIMIT[Channel.EMAIL].rank:
        raise TlpRefused(f"{tlp_label(tlp)} is never sent by e-mail")


def alert_email(
    *, alert: AlertData | dict[str, Any], to: str, sender: str, language: str | None, message_id: str
) -> EmailMessage:
    """One alert, what to do first; ``message_id`` is the delivery id, so a re-sent message keeps it."""
    data = alert if isinstance(alert, AlertData) else AlertData.from_alert(alert)
    _guard_tlp(data.tlp)
    return _message(
        sender=sender,
        to=[to],
        subject=alert_subject(data),
        text=render("alert.txt.j2", language=language, alert=data),
        html_body=render("alert.html.j2", language=language, alert=data),
        message_id=message_id,
        headers={
            "X-Ewarn-Alert-Id": data.id,
            "X-Ewarn-Severity": data.severity.value,
            "X-Ewarn-TLP": tlp_label(data.tlp),
            "X-Ewarn-Provider": data.provider_id,
        },
    )


def digest_email(
    *,
    alerts: Sequence[dict[str, Any]],
    to: str,
    sender: str,
    language: str | None,
    provider_id: str,
    window: str,
    message_id: str,
) -> EmailMessage:
    """Several alerts in one message; it carries the most restricted TLP among them."""
    items = [AlertData.from_alert(a) for a in alerts]
    tlp = max((d.tlp for d in items), key=lambda t: t.rank)
    _guard_tlp(tlp)
    period, _, stamp = window.partition(":")
    title = gettext_for(
        language, "%(count)s low-severity alerts (%(period)s digest)", count=len(items), period=period
    )
    context = {"alerts": items, "tlp": tlp, "title": title, "window": stamp or window}
    return _message(
        sender=sender,
        to=[to],
        subject=f"[ewarn][DIGEST][{provider_id}] {title} [{tlp_label(tlp)}]",
        text=render("digest.txt.j2", language=language, **context),
        html_body=render("digest.html.j2", language=language, **context),
        message_id=message_id,
        headers={"X-Ewarn-Digest": window, "X-Ewarn-TLP": tlp_label(tlp), "X-Ewarn-Provider": provider_id},
    )


def disabled_notice(
    *,
    to: Sequence[str],
    sender: str,
    language: str | None,
    provider_id: str,
    subscription_id: str,
    target: str,
    reason: str,
) -> EmailMessage:
    """Tells a provider's contacts that a subscription was switched off, and how to recover."""
    context = {"subscription_id": subscription_id, "target": target, "reason": reason}
    subject = gettext_for(language, "webhook subscription disabled")
    return _message(
        sender=sender,
        to=to,
        subject=f"[ewarn][NOTICE][{provider_id}] {subject} ({subscription_id})",
        text=render("disabled.txt.j2", language=language, **context),
        html_body=render("disabled.html.j2", language=language, **context),
        message_id=None,
        headers={"X-Ewarn-Provider": provider_id, "X-Ewarn-Subscription-Id": subscription_id},
    )


class EmailSender:
    """SMTP with STARTTLS or implicit TLS and optional authentication; one connection per message.

    With ``smime_cert_file`` and ``smime_key_file`` set, every message is S/MIME signed; the files are read
    here, so a bad certificate or key stops start-up (``SmimeSetupError``) instead of the first send.
    """

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls = tls_context
        self._signer = (
            load_signer(
                cert_file=settings.smime_cert_file,
                key_file=settings.smime_key_file,
                key_password=settings.smime_key_password,
                chain_file=settings.smime_chain_file,
            )
            if settings.smime_cert_file is not None and settings.smime_key_file is not None
            else None
        )

    async def send(self, message: EmailMessage) -> None:
        """Return once the server accepted the message; raise ``aiosmtplib.SMTPException`` or ``OSError``."""
        if self._signer is not None:
            message = self._signer.sign(message)
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            use_tls=s.implicit_tls,
            start_tls=s.starttls and not s.implicit_tls,
            timeout=s.timeout_seconds,
            tls_context=self._tls,
        )
