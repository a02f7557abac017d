"""410 Gone: an endpoint that says it is gone for good has its subscription disabled, and its owner told."""

from __future__ import annotations

from ewarn.dispatch.context import DispatchContext
from ewarn.dispatch.email import EmailSender, disabled_notice
from ewarn.dispatch.send import SMTP_ERRORS
from ewarn.logging import get_logger
from ewarn.models.subscription import Subscription
from ewarn.store.repositories import subscriptions as subs_repo
from ewarn.store.tables import ProviderRow

log = get_logger(__name__)


class GoneSubscriptions:
    """Disables subscriptions whose endpoint answered 410 Gone."""

    def __init__(self, ctx: DispatchContext, email: EmailSender) -> None:
        self._ctx = ctx
        self._email = email

    async def disable(self, sub: Subscription, reason: str) -> None:
        """Disable the subscription, record why, and tell the provider's contacts by e-mail."""
        ctx = self._ctx
        disabled = False

        async def work() -> None:
            nonlocal disabled
            async with ctx.writes.hold(), ctx.sessions() as session:
                disabled = await subs_repo.disable_subscription(
                    session=session, subscription_id=sub.id, reason=reason
                )
                await session.commit()

        await ctx.retry_db("disable", work)
        if not disabled:
            return
        ctx.counters["subscriptions_disabled"] += 1
        log.warning("subscription_disabled", subscription=sub.id, provider=sub.provider_id, reason=reason)
        async with ctx.sessions() as session:
            provider = await session.get(ProviderRow, sub.provider_id)
        contacts = list(provider.contacts or []) if provider else []
        if not contacts:
            return
        notice = disabled_notice(
            to=contacts,
            sender=ctx.settings.smtp.sender,
            language=provider.language if provider else None,
            provider_id=sub.provider_id,
            subscription_id=sub.id,
            target=sub.target,
            reason=reason,
        )
        try:
            await self._email.send(notice)
            ctx.counters["owner_notices"] += 1
        except SMTP_ERRORS as exc:
            # The disable and its reason are recorded and shown by the API; the e-mail is a courtesy.
            ctx.counters["owner_notices_failed"] += 1
            log.warning(
                "owner_notice_failed", subscription=sub.id, error=f"{type(exc).__name__}: {exc}"[:300]
            )
