"""The API key an integration authenticates with (TheHive), kept in the subscription's secret column.

Sealed at rest like a webhook signing secret (``ewarn.crypto.secretbox``), re-encrypted by ``ewarn secrets
rotate`` with the other secrets, never returned by the API. A subscription in such a format signs nothing, so
there is no whsec_ secret to keep beside it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.subscription import Subscription
from ewarn.store.repositories.secrets import box_of
from ewarn.store.repositories.subscriptions import subscription_from_row
from ewarn.store.tables import SubscriptionRow


async def store_api_key(*, session: AsyncSession, subscription_id: str, api_key: str) -> Subscription | None:
    """Seal ``api_key`` as the subscription's secret (replacing any signing secret); None when it is gone."""
    row = await session.get(SubscriptionRow, subscription_id, populate_existing=True)
    if row is None or row.deleted_at is not None:
        return None
    box = box_of(session)
    row.secret = box.seal(api_key)
    row.previous_secret = None
    row.previous_secret_expires_at = None
    await session.flush()
    return subscription_from_row(row, box)
