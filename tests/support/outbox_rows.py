"""An outbox (``deliveries``) row as dispatch's intake writes it, for tests of the outbox repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def outbox_row(delivery_id: str, alert: str, sub_id: str, *, now: datetime, **fields: Any) -> dict[str, Any]:
    """A pending webhook delivery of revision 1 of ``alert`` to ``sub_id``; ``fields`` override any column."""
    row: dict[str, Any] = {
        "id": delivery_id,
        "alert_id": alert,
        "alert_revision": 1,
        "subscription_id": sub_id,
        "provider_id": "st-elsewhere",
        "channel": "webhook",
        "status": "pending",
        "attempts": 0,
        "attempts_before_replay": 0,
        "last_error": None,
        "last_status_code": None,
        "next_attempt_at": now,
        "lease_until": None,
        "payload": {"id": alert},
        "digest_key": None,
        "created_at": now,
    }
    row.update(fields)
    return row
