"""Subscriptions: where a provider wants its alerts, and the signing secrets (shown once, at creation).

Signing secrets are stored sealed (``ewarn.crypto.secretbox``) and opened as rows are read. A secret no configured
key opens stays sealed in the ``Subscription``; ``signing_secrets`` then raises ``SecretUnreadable`` naming the
subscription, so that subscription's deliveries fail with the reason and every other one goes out.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Collection
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.crypto.secretbox import SecretBox, SecretUnreadable, is_sealed, new_webhook_secret
from ewarn.models.common import utcnow
from ewarn.models.subscription import Channel, Digest, Subscription, SubscriptionFilters
from ewarn.store.db import as_utc
from ewarn.store.keyset import after_key
from ewarn.store.repositories.secrets import box_of
from ewarn.store.tables import SubscriptionRow

# The workflow's own escalation rows (purpose "escalation") carry notices only: never routed, never listed.
ROUTED = "alerts"


def _opened(box: SecretBox, row: SubscriptionRow, column: str) -> SecretStr | None:
    stored: str | None = getattr(row, column)
    if not stored:
        return None
    try:
        return SecretStr(box.open(stored, row=f"subscription {row.id} ({column})"))
    except SecretUnreadable:
        return SecretStr(stored)  # still sealed: signing_secrets refuses it with the reason


def subscription_from_row(row: SubscriptionRow, box: SecretBox) -> Subscription:
    return Subscription(
        id=row.id,
        provider_id=row.provider_id or "",  # empty: a CSIRT's own (csirt_id)
        channel=Channel(row.channel),
        target=row.target,
        secret=_opened(box, row, "secret"),
        previous_secret=_opened(box, row, "previous_secret"),
        previous_secret_expires_at=as_utc(row.previous_secret_expires_at),
        filters=SubscriptionFilters.model_validate(row.filters or {}),
        payload_format=row.payload_format,
        digest=Digest(row.digest),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        created_at=as_utc(row.created_at),
        csirt_id=row.csirt_id,
    )


def signing_secrets(subscription: Subscription, *, now: datetime) -> list[str]:
    """The current secret, and the previous one while its rotation overlap lasts.

    ``SecretUnreadable`` when a secret it needs could not be decrypted with the configured keys.
    """
    out = [subscription.secret.get_secret_value()] if subscription.secret else []
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret is not None and expires is not None and now < expires:
        out.append(subscription.previous_secret.get_secret_value())
    if any(is_sealed(secret) for secret in out):
        raise SecretUnreadable(f"subscription {subscription.id} (signing secret)")
    return out


async def create_subscription(
    *,
    session: AsyncSession,
    provider_id: str,
    channel: Channel,
    target: str,
    filters: SubscriptionFilters | None = None,
    payload_format: str = "json",
    digest: Digest = Digest.NONE,
    enabled: bool = True,
) -> tuple[Subscription, str | None]:
    """Create a subscription; webhooks get a fresh ``whsec_`` secret, returned here and never again."""
    secret = new_webhook_secret() if channel is Channel.WEBHOOK else None
    box = box_of(session)
    row = SubscriptionRow(
        id=f"sub_{_random.token_hex(12)}",
        provider_id=provider_id,
        channel=channel.value,
        target=target,
        secret=box.seal(secret) if secret is not None else None,
        previous_secret=None,
        previous_secret_expires_at=None,
        filters=(filters or SubscriptionFilters()).model_dump(mode="json"),
        payload_format=payload_format,
        digest=digest.value,
        enabled=enabled,
        disabled_reason=None,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return subscription_from_row(row, box), secret


async def _row(session: AsyncSession, subscription_id: str) -> SubscriptionRow | None:
    row = await session.get(SubscriptionRow, subscription_id, populate_existing=True)
    return row if row is not None and row.deleted_at is None and row.purpose == ROUTED else None


async def get_subscription(*, session: AsyncSession, subscription_id: str) -> Subscription | None:
    row = await _row(session, subscription_id)
    return subscription_from_row(row, box_of(session)) if row else None


async def list_subscriptions(
    *,
    session: AsyncSession,
    provider_ids: Collection[str] | None,
    limit: int = 1000,
    after: tuple[datetime, str] | None = None,
) -> list[Subscription]:
    """Subscriptions of these providers (None: all), oldest first; ``after``: (created_at, id) of the last."""
    stmt = (
        select(SubscriptionRow)
        .where(SubscriptionRow.deleted_at.is_(None), SubscriptionRow.purpose == ROUTED)
        .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        .limit(limit)
    )
    if provider_ids is not None:
        stmt = stmt.where(SubscriptionRow.provider_id.in_(list(provider_ids)))
    if after is not None:
        stmt = stmt.where(
            after_key([(SubscriptionRow.created_at, False), (SubscriptionRow.id, False)], after)
        )
    box = box_of(session)
    return [subscription_from_row(r, box) for r in (await session.scalars(stmt)).all()]


async def live_subscriptions_of(
    *, session: AsyncSession, provider_ids: Collection[str], chunk: int = 500
) -> list[Subscription]:
    """Every live subscription of these providers, however many: what routing needs (no page limit)."""
    ids = sorted(set(provider_ids))
    box = box_of(session)
    out: list[Subscription] = []
    for start in range(0, len(ids), chunk):
        rows = await session.scalars(
            select(SubscriptionRow)
            .where(
                SubscriptionRow.provider_id.in_(ids[start : start + chunk]),
                SubscriptionRow.deleted_at.is_(None),
                SubscriptionRow.purpose == ROUTED,
            )
            .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        )
        out += [subscription_from_row(r, box) for r in rows.all()]
    return out


async def subscriptions_by_id(
    *, session: AsyncSession, subscription_ids: Collection[str]
) -> dict[str, Subscription]:
    """Live (not deleted) subscriptions among ``subscription_ids``."""
    if not subscription_ids:
        return {}
    rows = await session.scalars(
        select(SubscriptionRow).where(
            SubscriptionRow.id.in_(list(subscription_ids)), SubscriptionRow.deleted_at.is_(None)
        )
    )
    box = box_of(session)
    return {r.id: subscription_from_row(r, box) for r in rows.all()}


async def update_subscription(
    *,
    session: AsyncSession,
    subscription_id: str,
    target: str | None = None,
    filters: SubscriptionFilters | None = None,
    payload_format: str | None = None,
    digest: Digest | None = None,
) -> Subscription | None:
    row = await _row(session, subscription_id)
    if row is None:
        return None
    if target is not None:
        row.target = target
    if filters is not None:
        row.filters = filters.model_dump(mode="json")
    if payload_format is not None:
        row.payload_format = payload_format
    if digest is not None:
        row.digest = digest.value
    await session.flush()
    return subscription_from_row(row, box_of(session))


async def delete_subscription(*, session: AsyncSession, subscription_id: str) -> bool:
    """Soft delete: no more deliveries, secrets wiped, the delivery log stays."""
    row = await _row(session, subscription_id)
    if row is None:
        return False
    row.deleted_at = utcnow()
    row.enabled = False
    row.disabled_reason = "deleted"
    row.secret = None
    row.previous_secret = None
    await session.flush()
    return True


async def rotate_secret(
    *, session: AsyncSession, subscription_id: str, overlap: timedelta
) -> tuple[Subscription, str] | None:
    """New secret (returned once); the current one keeps signing alongside it for ``overlap``."""
    row = await _row(session, subscription_id)
    if row is None or row.channel != Channel.WEBHOOK.value:
        return None
    secret = new_webhook_secret()
    box = box_of(session)
    row.previous_secret = row.secret  # stays sealed as it was
    row.previous_secret_expires_at = utcnow() + overlap
    row.secret = box.seal(secret)
    await session.flush()
    return subscription_from_row(row, box), secret


async def set_enabled(
    *, session: AsyncSession, subscription_id: str, enabled: bool, reason: str | None = None
) -> Subscription | None:
    row = await _row(session, subscription_id)
    if row is None:
        return None
    row.enabled = enabled
    row.disabled_reason = None if enabled else (reason or "disabled by its owner")
    row.disabled_at = None if enabled else utcnow()
    await session.flush()
    return subscription_from_row(row, box_of(session))


async def disable_subscription(*, session: AsyncSession, subscription_id: str, reason: str) -> bool:
    """Disable unless already disabled (the first reason is kept); True when this call disabled it."""
    result = await session.execute(
        update(SubscriptionRow)
        .where(SubscriptionRow.id == subscription_id, SubscriptionRow.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, disabled_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
