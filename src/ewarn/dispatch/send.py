"""The send step: one job out through its subscription's channel (signed webhook or e-mail).

A new channel adds a branch to ``ChannelSender.send`` (and to ``check_renderable`` when its rendering can
fail on a stored payload); everything around a send (slots, breaker, retries, recording) is channel-blind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import aiosmtplib

from ewarn.crypto.secretbox import SecretUnreadable
from ewarn.dispatch.email import EmailSender, TlpRefused
from ewarn.dispatch.formats import request_auth, thehive
from ewarn.dispatch.jobs import Job, email_for, webhook_body
from ewarn.dispatch.result import SendResult
from ewarn.dispatch.syslog import SyslogSender, messages_for
from ewarn.dispatch.webhook import WebhookSender
from ewarn.logging import get_logger
from ewarn.models.subscription import Channel, PayloadFormat
from ewarn.settings import Settings
from ewarn.store.repositories import subscriptions as subs_repo

log = get_logger(__name__)

SMTP_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


def secret_unreadable(job: Job, exc: SecretUnreadable) -> SendResult:
    """The attempt fails here, retried later (the operator may restore the key): named, never the secret."""
    sub = job.subscription
    # the message names the row and the setting only (SecretUnreadable never carries a value)
    log.error(
        "delivery_secret_unreadable",
        subscription=sub.id,
        provider=sub.provider_id,
        deliveries=[d.id for d in job.deliveries][:20],
        reason=str(exc),
    )
    return SendResult(None, 0.0, f"secret unreadable: {exc}", endpoint_untried=True)


class ChannelSender:
    """Sends one job through the channel of its subscription and says what came of it."""

    def __init__(
        self,
        *,
        settings: Settings,
        webhooks: WebhookSender,
        email: EmailSender,
        clock: Callable[[], datetime],
        syslog: SyslogSender | None = None,
    ) -> None:
        self._settings = settings
        self._webhooks = webhooks
        self._email = email
        self._clock = clock
        self._syslog = syslog

    def check_renderable(self, job: Job, language: str | None) -> None:
        """Render ``job`` as its channel would, raising what rendering raises (``TlpRefused`` included)."""
        if job.subscription.channel is Channel.EMAIL:
            email_for(job, sender=self._settings.smtp.sender, language=language)
        elif job.subscription.channel is Channel.SYSLOG:
            messages_for([d.payload for d in job.deliveries], hostname="-")
        else:
            webhook_body(job)

    async def send(self, job: Job, language: str | None) -> SendResult:
        """One attempt for ``job``; transport failures are results, not exceptions."""
        if job.subscription.channel is Channel.EMAIL:
            return await self._send_email(job, language)
        if job.subscription.channel is Channel.SYSLOG:
            if self._syslog is None:
                return SendResult(None, 0.0, "refused: no syslog sender in this process", refused=True)
            messages = messages_for([d.payload for d in job.deliveries], hostname=self._syslog.hostname)
            return await self._syslog.send(target=job.subscription.target, messages=messages)
        return await self._send_webhook(job)

    async def _send_webhook(self, job: Job) -> SendResult:
        sub = job.subscription
        try:
            secrets = subs_repo.signing_secrets(sub, now=self._clock())
        except SecretUnreadable as exc:
            return secret_unreadable(job, exc)
        if not secrets:
            return SendResult(None, 0.0, "refused: the subscription has no signing secret", refused=True)
        body, content_type = webhook_body(job)
        signing, headers = request_auth(sub.payload_format, secrets)  # TheHive: its API key as a header
        result = await self._webhooks.send(
            url=sub.target,
            msg_id=job.message_id,
            body=body,
            content_type=content_type,
            secrets=signing,
            extra_headers=headers,
        )
        if sub.payload_format == PayloadFormat.THEHIVE and thehive.refused_as_stored(
            result.status_code, result.error, body
        ):
            # An earlier attempt reached TheHive but its answer was lost: the alert is stored, the job is done.
            log.info("delivery_thehive_already_stored", subscription=sub.id, status=result.status_code)
            return SendResult(result.status_code, result.latency_ms, None, ok=True)
        return result

    async def _send_email(self, job: Job, language: str | None) -> SendResult:
        began = time.perf_counter()
        try:
            message = email_for(job, sender=self._settings.smtp.sender, language=language)
        except TlpRefused as exc:
            return SendResult(None, 0.0, f"refused: {exc}", refused=True)
        try:
            await self._email.send(message)
        except SMTP_ERRORS as exc:
            code = getattr(exc, "code", None)
            return SendResult(
                code if isinstance(code, int) else None,
                (time.perf_counter() - began) * 1000,
                f"smtp: {type(exc).__name__}: {exc}"[:300],
            )
        return SendResult(250, (time.perf_counter() - began) * 1000, None, ok=True)
