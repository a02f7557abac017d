"""A CSIRT's subscriptions to its constituency: stored beside the providers' own, routed for every provider of it.

A CSIRT-owned row has ``csirt_id`` set, ``provider_id`` empty and purpose ``csirt`` (so providers' lists and
routing by provider never see it). For routing, ``constituency_subscriptions_of`` hands out one copy per
provider of the constituency with that provider's id, so the router, the outbox (one delivery per alert and
subscription) and the sender treat it like any subscription; the router adds the CSIRT's TLP rule.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.crypto.secretbox import new_webhook_secret
from ewarn.models.subscription import Channel, PayloadFormat, Subscription, SubscriptionFilters
from ewarn.store.keyset import after_key
from ewarn.store.repositories.secrets import box_of
from ewarn.store.repositories.subscriptions import subscription_from_row
from ewarn.store.tables import ProviderRow, SubscriptionRow

CSIRT = "csirt"  # subscriptions.purpose of a CSIRT's own rows


async def create_csirt_subscription(
    *,
    session: AsyncSession,
    csirt_id: str,
    channel: Channel,
    target: str,
    filters: SubscriptionFilters,
    payload_format: PayloadFormat,
    now: datetime,
) -> tuple[Subscription, str | None]:
    """Create one; a webhook gets a fresh ``whsec_`` secret, returned here and never again."""
    secret = new_webhook_secret() if channel is Channel.WEBHOOK else None
    box = box_of(session)
    row = SubscriptionRow(
        id=f"sub_{_random.token_hex(12)}",
        provider_id=None,
        csirt_id=csirt_id,
        purpose=CSIRT,
        channel=channel.value,
        target=target,
        secret=box.seal(secret) if secret is not None else None,
        previous_secret=None,
        previous_secret_expires_at=None,
        filters=filters.model_dump(mode="json"),
        payload_format=payload_format.value,
        digest="none",
        enabled=True,
        disabled_reason=None,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return subscription_from_row(row, box), secret


async def csirt_subscription_row(*, session: AsyncSession, subscription_id: str) -> SubscriptionRow | None:
    row = await session.get(SubscriptionRow, subscription_id, populate_existing=True)
    return row if row is not None and row.purpose == CSIRT and row.deleted_at is None else None


async def list_csirt_subscriptions(
    *,
    session: AsyncSession,
    csirt_id: str,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[Subscription]:
    """Oldest first; ``after``: (created_at, id) of the previous page's last subscription."""
    stmt = (
        select(SubscriptionRow)
        .where(
            SubscriptionRow.purpose == CSIRT,
            SubscriptionRow.csirt_id == csirt_id,
            SubscriptionRow.deleted_at.is_(None),
        )
        .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(
            after_key([(SubscriptionRow.created_at, False), (SubscriptionRow.id, False)], after)
        )
    rows = await session.scalars(stmt)
    box = box_of(session)
    return [subscription_from_row(r, box) for r in rows.all()]


async def constituency_subscriptions_of(
    *, session: AsyncSession, provider_ids: Collection[str]
) -> list[Subscription]:
    """The CSIRT subscriptions covering these providers: one copy per provider, carrying its id."""
    if not provider_ids:
        return []
    rows = await session.execute(
        select(SubscriptionRow, ProviderRow.id)
        .join(ProviderRow, ProviderRow.csirt_id == SubscriptionRow.csirt_id)
        .where(
            SubscriptionRow.purpose == CSIRT,
            SubscriptionRow.deleted_at.is_(None),
            ProviderRow.id.in_(sorted(provider_ids)),
        )
        .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
    )
    box = box_of(session)
    return [
        subscription_from_row(row, box).model_copy(update={"provider_id": pid}) for row, pid in rows.all()
    ]
