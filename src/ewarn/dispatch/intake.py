"""Turn a batch of alert messages into outbox rows: one event per revision, one delivery per subscription."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ewarn.dispatch.digest import window_for
from ewarn.dispatch.router import route
from ewarn.ids import delivery_id
from ewarn.models.alert import Alert
from ewarn.models.delivery import DeliveryStatus
from ewarn.models.subscription import Subscription


@dataclass
class IntakePlan:
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    # delivery id → the alert as a dict, for deliveries sent straight from intake (the row may hold it as text)
    payload_of: dict[str, dict[str, Any]] = field(default_factory=dict)
    routed: int = 0
    skipped: int = 0


def plan_intake(
    alerts: Sequence[Alert],
    *,
    subscriptions: Mapping[str, Sequence[Subscription]],
    asset_tags: Mapping[str, Collection[str]],
    now: datetime,
    payloads: Sequence[dict[str, Any]] | None = None,
    stored: Sequence[str] | None = None,
) -> IntakePlan:
    """Rows for ``alert_events`` and ``deliveries``; ids are deterministic, so a replayed batch adds nothing.

    ``subscriptions`` maps provider id → its subscriptions; ``asset_tags`` maps asset id → tags;
    ``payloads[i]``, when given, is ``alerts[i]`` as the JSON it arrived as; ``stored[i]``, when given, is
    that JSON's text, stored as the payload as it is (not serialised again once per delivery).
    """
    plan = IntakePlan()
    seen: set[tuple[str, int]] = set()
    for i, alert in enumerate(alerts):
        if (alert.id, alert.revision) in seen:
            continue
        seen.add((alert.id, alert.revision))
        plan.events.append(
            {
                "provider_id": alert.provider_id,
                "alert_id": alert.id,
                "revision": alert.revision,
                "created_at": now,
            }
        )
        payload = payloads[i] if payloads is not None else alert.model_dump(mode="json")
        row_payload: Any = stored[i] if stored is not None else payload
        decisions = route(
            alert, subscriptions.get(alert.provider_id, ()), asset_tags=asset_tags.get(alert.asset_id, ())
        )
        for decision in decisions:
            sub = decision.subscription
            status, due, digest_key = DeliveryStatus.SKIPPED, None, None
            if decision.deliver:
                status, due = DeliveryStatus.PENDING, now
                if decision.digest is not None:
                    window = window_for(decision.digest, now)
                    digest_key, due = window.key, window.ends_at
                plan.routed += 1
            else:
                plan.skipped += 1
            dlv_id = delivery_id(alert_id=alert.id, subscription_id=sub.id, revision=alert.revision)
            plan.payload_of[dlv_id] = payload
            plan.deliveries.append(
                {
                    "id": dlv_id,
                    "alert_id": alert.id,
                    "alert_revision": alert.revision,
                    "subscription_id": sub.id,
                    "provider_id": alert.provider_id,
                    "channel": sub.channel.value,
                    "status": status.value,
                    "attempts": 0,
                    "attempts_before_replay": 0,
                    "last_error": decision.reason,
                    "last_status_code": None,
                    "next_attempt_at": due,
                    "lease_until": None,
                    "dispatched_at": None,
                    "payload": row_payload,
                    "digest_key": digest_key,
                    "created_at": now,
                }
            )
    return plan
