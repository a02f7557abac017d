"""Intake: alert messages from the bus into ``alert_events`` and one outbox row per routed subscription.

Each batch is stored in one transaction; the runner commits the offsets only after it (at-least-once, and the
deterministic ids make a redelivered batch a no-op). Poison stays alone: an alert with a NUL character is
dead-lettered by the runner; a batch the database refuses is stored record by record and the refused record
quarantined. Deliveries that can go out now are handed straight to the delivery loop, already leased.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import select

from ewarn.bus.base import Record
from ewarn.dispatch.claims import DeliveryLoop
from ewarn.dispatch.context import DispatchContext, provider_languages, refused_for_good
from ewarn.dispatch.intake import plan_intake
from ewarn.errors import PoisonRecordError
from ewarn.logging import get_logger
from ewarn.models.alert import Alert
from ewarn.models.subscription import Channel, Subscription
from ewarn.store.db import EncodedJson
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories import subscriptions as subs_repo
from ewarn.store.repositories.csirt_subscriptions import constituency_subscriptions_of
from ewarn.store.repositories.quarantine import Quarantined, quarantine
from ewarn.store.tables import AssetRow

log = get_logger(__name__)

# The alert, its message as a dict, and its message's text (stored as it is: no serialising per delivery).
Incoming = tuple[Alert, dict[str, Any], EncodedJson]


class IntakeStore:
    """The alerts topic's handler (``on_record``) and after-batch hook (``flush``)."""

    def __init__(self, ctx: DispatchContext, delivery: DeliveryLoop) -> None:
        self._ctx = ctx
        self._delivery = delivery
        self._buffer: list[Incoming] = []

    async def on_record(self, record: Record) -> None:
        """Buffer one alert message; an undecodable one raises and the runner dead-letters it."""
        if b"\\u0000" in record.value:
            raise PoisonRecordError("the alert holds a NUL character, which the outbox cannot store")
        alert = Alert.model_validate_json(record.value)
        # The payload is stored as it was published: the message's own text, and a dict for sends from here.
        self._buffer.append((alert, orjson.loads(record.value), EncodedJson(record.value.decode())))

    async def flush(self) -> None:
        """Store the buffered batch; a value the database refuses for good is quarantined alone."""
        incoming, self._buffer = self._buffer, []
        if not incoming:
            return
        retry_db = self._ctx.retry_db
        try:
            await retry_db("intake", lambda: self._store(incoming), refusable=True)
        except Exception as exc:
            if not refused_for_good(exc):
                raise
            # the database refuses some value of the batch for good: store one by one, set the refused aside
            for one in incoming:
                try:
                    await retry_db("intake", self._store_one(one), refusable=True)
                except Exception as one_exc:
                    if not refused_for_good(one_exc):
                        raise
                    await self._quarantine_alert(one[0], one_exc)

    def _store_one(self, item: Incoming) -> Callable[[], Awaitable[None]]:
        return lambda: self._store([item])

    async def _quarantine_alert(self, alert: Alert, exc: Exception) -> None:
        ctx = self._ctx
        record = Quarantined(
            kind="alert",
            key=f"{alert.id}@{alert.revision}",
            stage="dispatch",
            reason=f"the outbox refused the alert: {type(exc).__name__}: {exc}",
            original=alert.model_dump(mode="json"),
            provider_id=alert.provider_id,
        )

        async def work() -> None:
            async with ctx.writes.hold(), ctx.sessions() as session:
                await quarantine(session=session, records=[record], now=ctx.clock())
                await session.commit()

        await ctx.retry_db("quarantine", work)
        ctx.counters["quarantined"] += 1
        log.error(
            "record_quarantined", stage="dispatch", kind="alert", key=record.key, reason=record.reason[:500]
        )

    async def _store(self, incoming: Sequence[Incoming]) -> None:
        ctx = self._ctx
        alerts = [alert for alert, _, _ in incoming]
        now = ctx.clock()
        providers = {a.provider_id for a in alerts}
        # One session, under the write lock ahead of bookkeeping: routing reads and the outbox write share
        # the round trips, and every new alert waits for at most the write in progress.
        async with ctx.writes.hold(urgent=True), ctx.sessions() as session:
            subs = await subs_repo.live_subscriptions_of(session=session, provider_ids=providers)
            subs += await constituency_subscriptions_of(session=session, provider_ids=providers)  # CSIRTs'
            by_provider: dict[str, list[Subscription]] = {}
            for sub in subs:
                by_provider.setdefault(sub.provider_id, []).append(sub)
            tags: dict[str, list[str]] = {}
            if any(s.filters.asset_tags for s in subs):
                rows = await session.execute(
                    select(AssetRow.id, AssetRow.data).where(AssetRow.id.in_({a.asset_id for a in alerts}))
                )
                tags = {r.id: list((r.data or {}).get("tags", [])) for r in rows}
            email_providers = {s.provider_id for s in subs if s.channel is Channel.EMAIL}
            languages = await provider_languages(session, email_providers) if email_providers else {}
            plan = plan_intake(
                alerts,
                subscriptions=by_provider,
                asset_tags=tags,
                now=now,
                payloads=[p for _, p, _ in incoming],
                stored=[text for _, _, text in incoming],
            )
            handoff = self._delivery.lease_for_handoff(plan.deliveries, {s.id: s for s in subs}, now)
            await outbox.insert_alert_events(session=session, events=plan.events)
            inserted = await outbox.insert_deliveries(session=session, rows=plan.deliveries)
            await session.commit()
        ctx.counters["alerts"] += len(plan.events)
        ctx.counters["routed"] += plan.routed
        ctx.counters["skipped"] += plan.skipped
        self._delivery.take_handoff(
            handoff=handoff,
            rows=plan.deliveries,
            payload_of=plan.payload_of,
            inserted=inserted,
            languages=languages,
            now=now,
        )
