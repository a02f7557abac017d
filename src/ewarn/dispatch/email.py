"""E-mail channel: a message a SOC can filter (subject and headers), text and HTML parts, sent over SMTP."""

from __future__ import annotations

import html
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from ewarn.dispatch.payload import AlertData
from ewarn.dispatch.router import CHANNEL_TLP_LIMIT
from ewarn.dispatch.smime import load_signer
from ewarn.dispatch.templates import Phrases, phrases_for
from ewarn.models.common import TLP, utcnow
from ewarn.models.subscription import Channel
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


def _cve_text(cve: str, cvss: float | None) -> str:
    return f"{cve} (CVSS {cvss:g})" if cvss is not None else cve


def _asset_text(data: AlertData) -> str:
    """The asset, and the category of infrastructure equipment ('UPS ICU-1 (...), power')."""
    text = f"{data.match.asset_name} ({data.match.asset_value})"
    category = data.match.asset_category
    return f"{text}, {category.replace('_', ' ')}" if category else text


def _fields(data: AlertData, words: Phrases) -> list[tuple[str, str]]:
    rows = [
        (words.severity, data.severity.value.upper()),
        (words.score, f"{data.score:g}"),
        (words.tlp, tlp_label(data.tlp)),
        (words.asset, _asset_text(data)),
        (words.indicator, data.indicator_key),
        (words.why, data.reason),
    ]
    if data.possibly_affected:
        rows.insert(0, (words.possibly_affected, "yes"))
    if data.advisory and data.advisory not in data.cves:
        rows.append((words.advisory, data.advisory))
    if data.cve_details:
        rows.append((words.cves, ", ".join(_cve_text(c.id, c.cvss_score) for c in data.cve_details)))
    elif data.cves:
        rows.append((words.cves, ", ".join(data.cves)))
    if data.known_exploited:
        rows.append((words.known_exploited, "yes"))
    rows += [
        (words.matched_at, data.matched_at.isoformat()),
        (words.alert_id, f"{data.id} rev {data.revision}"),
    ]
    return rows


def _text(title: str, intro: str, blocks: Sequence[list[tuple[str, str]]], tlp: TLP, words: Phrases) -> str:
    lines = [tlp_label(tlp), "", title, "", intro, ""]
    for rows in blocks:
        width = max(len(k) for k, _ in rows)
        lines += [f"{k + ':':<{width + 1}} {v}" for k, v in rows]
        lines.append("")
    lines += [words.tlp_rules[tlp], "", "-- ", words.footer, ""]
    return "\n".join(lines)


def _html(title: str, intro: str, blocks: Sequence[list[tuple[str, str]]], tlp: TLP, words: Phrases) -> str:
    e = html.escape
    tables = "".join(
        "<table>"
        + "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
        + "</table><hr>"
        for rows in blocks
    )
    return (
        f"<!doctype html><html><body><p><strong>{e(tlp_label(tlp))}</strong></p>"
        f"<h2>{e(title)}</h2><p>{e(intro)}</p>{tables}"
        f"<p><em>{e(words.tlp_rules[tlp])}</em></p><p><small>{e(words.footer)}</small></p></body></html>"
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
    """One alert; ``message_id`` is the delivery id, so a re-sent message keeps its Message-ID."""
    data = alert if isinstance(alert, AlertData) else AlertData.from_alert(alert)
    _guard_tlp(data.tlp)
    words = phrases_for(language)
    blocks = [_fields(data, words)]
    return _message(
        sender=sender,
        to=[to],
        subject=alert_subject(data),
        text=_text(data.title, words.intro, blocks, data.tlp, words),
        html_body=_html(data.title, words.intro, blocks, data.tlp, words),
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
    words = phrases_for(language)
    period = window.split(":", 1)[0]
    title = words.digest_subject.format(count=len(items), period=period)
    intro = words.digest_intro.format(count=len(items), window=window.split(":", 1)[-1])
    blocks = [_fields(d, words) for d in items]
    return _message(
        sender=sender,
        to=[to],
        subject=f"[ewarn][DIGEST][{provider_id}] {title} [{tlp_label(tlp)}]",
        text=_text(title, intro, blocks, tlp, words),
        html_body=_html(title, intro, blocks, tlp, words),
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
    words = phrases_for(language)
    body = words.disabled_body.format(subscription_id=subscription_id, target=target, reason=reason)
    return _message(
        sender=sender,
        to=to,
        subject=f"[ewarn][NOTICE][{provider_id}] {words.disabled_subject} ({subscription_id})",
        text=f"{body}\n\n-- \n{words.footer}\n",
        html_body=f"<!doctype html><html><body><p>{html.escape(body)}</p></body></html>",
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
