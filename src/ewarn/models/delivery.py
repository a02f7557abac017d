"""Deliveries of an alert revision to one subscription, and every attempt made."""

from __future__ import annotations

from enum import StrEnum

from ewarn.models.common import Contract, UtcDatetime


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after the last attempt; replayable
    SKIPPED = "skipped"  # filtered out by TLP or subscription state, recorded with the reason


class Delivery(Contract):
    id: str  # deterministic: hash(alert id, subscription id, revision); the webhook-id
    alert_id: str
    alert_revision: int
    subscription_id: str
    provider_id: str
    channel: str
    status: DeliveryStatus
    attempts: int = 0
    last_error: str | None = None
    last_status_code: int | None = None
    next_attempt_at: UtcDatetime | None = None
    created_at: UtcDatetime
    dispatched_at: UtcDatetime | None = None
    delivered_at: UtcDatetime | None = None


class DeliveryAttempt(Contract):
    delivery_id: str
    attempt: int
    at: UtcDatetime
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    ok: bool
