"""A signing secret no configured key opens fails its deliveries with a named reason, not an internal error.

The operator started dispatch with the wrong or a missing ``EWARN_SECRETS__KEYS``: the subscription whose
secret was sealed under another key gets attempts recorded as ``secret unreadable: subscription <id> ...``
(retried, so restoring the key lets them go out), a ``delivery_secret_unreadable`` log line naming the
subscription and never the secret, and no open circuit for an endpoint that was never tried. Every other
subscription is delivered as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import structlog
from sqlalchemy import update
from tests.support.receivers import (
    WebhookReceiver,
    add_provider,
    add_subscription,
    deliveries,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_until,
)

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.crypto.secretbox import SecretBox, generate_key, new_webhook_secret
from ewarn.dispatch.breaker import CircuitBreaker
from ewarn.models.common import utcnow
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.secrets import SESSION_INFO_KEY
from ewarn.store.tables import SubscriptionRow

TOPICS = Topics(prefix="t-secret-unreadable")


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver()
    await hook.start()
    yield hook
    await hook.down()


async def _lost_current_secret(sessions: SessionFactory, lost: SecretBox, target: str) -> tuple[str, str]:
    """A subscription created while the process had only the key that is now lost."""
    sessions.configure(info={SESSION_INFO_KEY: lost})
    sub, secret = await add_subscription(sessions, target)
    assert secret is not None
    return sub.id, secret


async def _lost_previous_secret(sessions: SessionFactory, lost: SecretBox, target: str) -> tuple[str, str]:
    """A rotated subscription whose previous secret, still in its overlap, was sealed under the lost key."""
    sub, _ = await add_subscription(sessions, target)
    previous = new_webhook_secret()
    async with sessions() as session:
        await session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == sub.id)
            .values(
                previous_secret=lost.seal(previous), previous_secret_expires_at=utcnow() + timedelta(hours=1)
            )
        )
        await session.commit()
    return sub.id, previous


@pytest.mark.parametrize(
    "make_lost",
    [
        pytest.param(_lost_current_secret, id="current-secret-under-a-lost-key"),
        pytest.param(_lost_previous_secret, id="previous-secret-in-overlap-under-a-lost-key"),
    ],
)
async def test_unreadable_signing_secret_is_a_named_retried_failure(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, receiver: WebhookReceiver, make_lost: object
) -> None:
    lost, current = SecretBox([generate_key()]), SecretBox([generate_key()])
    sessions = sqlite_sessions
    sessions.configure(info={SESSION_INFO_KEY: current})
    await add_provider(sessions)
    lost_sub, lost_secret = await make_lost(sessions, lost, receiver.url("/lost"))  # type: ignore[operator]
    sessions.configure(info={SESSION_INFO_KEY: current})  # the process now runs with the other key only
    good, good_secret = await add_subscription(sessions, receiver.url())
    assert good_secret is not None
    receiver.secrets = [good_secret]
    breaker = CircuitBreaker(failure_threshold=1)  # one unhealthy result would open the shared endpoint

    with structlog.testing.capture_logs() as logs:
        async with running_dispatch(
            sessions=sessions, bus=memory_bus, topics=TOPICS, settings=dispatch_settings(), breaker=breaker
        ):
            await publish(memory_bus, TOPICS, sample_alert(asset_id="ast_1"))
            await receiver.wait_accepted(1)

            async def retried() -> bool:
                rows = await deliveries(sessions, subscription_id=lost_sub)
                return bool(rows) and rows[0].attempts >= 2

            await wait_until(retried, what="the unreadable subscription's delivery retried")
            assert breaker.open_endpoints() == [], "an endpoint never tried is not unhealthy"

    [row] = await deliveries(sessions, subscription_id=lost_sub)
    assert row.status == "pending", "retried: restoring the key lets it go out"
    error = row.last_error or ""
    assert error.startswith(f"secret unreadable: subscription {lost_sub} (signing secret)"), error
    assert "EWARN_SECRETS__KEYS" in error and "internal error" not in error
    [delivered] = await deliveries(sessions, subscription_id=good.id)
    assert delivered.status == "delivered"
    assert all(r.path == "/hook" for r in receiver.requests), "nothing went out for the unreadable one"

    named = [e for e in logs if e["event"] == "delivery_secret_unreadable"]
    assert named and {e["subscription"] for e in named} == {lost_sub}
    assert not [e for e in logs if e["event"] == "dispatch_job_crashed"]
    assert lost_secret not in repr(logs) and good_secret not in repr(logs)
