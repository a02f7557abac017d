"""A job is what one send carries: one delivery, or a whole digest window of one subscription."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal, cast

import httpx

from ewarn.dispatch.digest import digest_message_id, period_of, window_from_key
from ewarn.dispatch.email import alert_email, digest_email
from ewarn.dispatch.formats import render_integration_digest
from ewarn.dispatch.notices import is_notice, notice_body, notice_email
from ewarn.dispatch.payload import STIX_CONTENT_TYPE, digest_event, render_body, stix_bundle
from ewarn.models.subscription import Channel, Subscription
from ewarn.store.repositories.deliveries import ClaimedDelivery


@dataclass
class Job:
    subscription: Subscription
    deliveries: list[ClaimedDelivery]

    @property
    def digest_key(self) -> str | None:
        return self.deliveries[0].digest_key

    @property
    def message_id(self) -> str:
        """The webhook-id / Message-ID: the delivery id, or a stable id over a digest's deliveries."""
        if self.digest_key is None:
            return self.deliveries[0].id
        return digest_message_id(self.subscription.id, (d.id for d in self.deliveries))

    @property
    def attempts_in_budget(self) -> int:
        return max(d.attempts_in_budget for d in self.deliveries)


def endpoint_of(subscription: Subscription, *, smtp_host: str) -> str:
    """What a circuit breaker and the per-endpoint limit count: the webhook's host:port, or the SMTP relay."""
    if subscription.channel is Channel.EMAIL:
        return f"smtp:{smtp_host}"
    return _webhook_endpoint(subscription.target)


@functools.lru_cache(maxsize=4096)  # once per target, not once per delivery
def _webhook_endpoint(target: str) -> str:
    url = httpx.URL(target)
    return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def group_jobs(
    claimed: Sequence[ClaimedDelivery], subscriptions: Mapping[str, Subscription]
) -> tuple[list[Job], list[ClaimedDelivery]]:
    """Jobs for claimed deliveries, and the deliveries whose subscription is gone (deleted)."""
    jobs: list[Job] = []
    digests: dict[tuple[str, str], Job] = {}
    orphans: list[ClaimedDelivery] = []
    for d in claimed:
        sub = subscriptions.get(d.subscription_id)
        if sub is None:
            orphans.append(d)
        elif d.digest_key is None:
            jobs.append(Job(sub, [d]))
        else:
            key = (d.subscription_id, d.digest_key)
            if key in digests:
                digests[key].deliveries.append(d)
            else:
                digests[key] = Job(sub, [d])
                jobs.append(digests[key])
    return jobs, orphans


def webhook_body(job: Job) -> tuple[bytes, str]:
    """The body and content type for a webhook job, in the subscription's payload format."""
    fmt = job.subscription.payload_format
    if job.digest_key is None and is_notice(job.deliveries[0].payload):  # a workflow reminder/escalation
        return notice_body(job.deliveries[0].payload)
    if job.digest_key is None:
        return render_body(job.deliveries[0].payload, payload_format=fmt)
    payloads = [d.payload for d in job.deliveries]
    if fmt == "stix":
        objects: dict[str, dict[str, Any]] = {}
        for p in payloads:
            for obj in stix_bundle(p)["objects"]:
                objects.setdefault(obj["id"], obj)
        bundle_id = f"bundle--{uuid.uuid5(uuid.NAMESPACE_URL, job.message_id)}"
        bundle = {"type": "bundle", "id": bundle_id, "objects": list(objects.values())}
        return json.dumps(bundle, separators=(",", ":")).encode(), STIX_CONTENT_TYPE
    key = job.digest_key
    if fmt not in ("json", "stix"):  # one Teams card or Slack message for the window
        return render_integration_digest(payloads, payload_format=fmt, window=key)
    event = digest_event(
        subscription_id=job.subscription.id,
        period=cast(Literal["hourly", "daily"], period_of(key)),
        window=key,
        ends_at=window_from_key(key).ends_at,
        alerts=payloads,
    )
    return event.model_dump_json().encode(), "application/json"


def email_for(job: Job, *, sender: str, language: str | None) -> EmailMessage:
    language = job.subscription.filters.language or language  # the subscription's, else the provider's
    if job.digest_key is None and is_notice(job.deliveries[0].payload):  # a workflow reminder/escalation
        first = job.deliveries[0]
        return notice_email(first.payload, to=job.subscription.target, sender=sender, message_id=first.id)
    if job.digest_key is None:
        return alert_email(
            alert=job.deliveries[0].payload,
            to=job.subscription.target,
            sender=sender,
            language=language,
            message_id=job.message_id,
        )
    return digest_email(
        alerts=[d.payload for d in job.deliveries],
        to=job.subscription.target,
        sender=sender,
        language=language,
        provider_id=job.subscription.provider_id,
        window=job.digest_key,
        message_id=job.message_id,
    )
