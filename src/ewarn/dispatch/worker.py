"""The dispatch stage: alerts from the bus into the outbox, and the outbox out to webhooks and e-mail.

``DispatchWorker`` wires the parts of one dispatch process together and runs them until ``stop()``:

- ``intake_store``: a ``StageRunner`` on the alerts topic stores each batch as ``alert_events`` rows and one
  delivery per routed subscription, and hands what can go out now straight to the delivery loop.
- ``claims``: the claim/lease loop fills bounded send slots from the outbox.
- ``job_runner`` and ``send``: one job through the breaker and its channel (webhook, e-mail).
- ``outcomes``: every attempt's verdict, written in batches; ``gone``: 410 disables a subscription.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from ewarn.bus.base import Bus
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics
from ewarn.dispatch.breaker import CircuitBreaker
from ewarn.dispatch.claims import DeliveryLoop
from ewarn.dispatch.context import DispatchContext, refused_for_good
from ewarn.dispatch.email import EmailSender
from ewarn.dispatch.gone import GoneSubscriptions
from ewarn.dispatch.intake_store import IntakeStore
from ewarn.dispatch.job_runner import JobRunner
from ewarn.dispatch.outcomes import OutcomeRecorder
from ewarn.dispatch.send import ChannelSender
from ewarn.dispatch.ssrf import Resolver, SsrfGuard, SystemResolver
from ewarn.dispatch.syslog import SyslogSender
from ewarn.dispatch.webhook import WebhookSender
from ewarn.models.common import utcnow
from ewarn.settings import Settings
from ewarn.store.db import SessionFactory

__all__ = ["GROUP", "DispatchWorker", "refused_for_good"]

GROUP = "ewarn-dispatch"


class DispatchWorker:
    """Runs intake and delivery until ``stop()``; construct once per process with its dependencies.

    Webhooks go through ``transport`` when given (``PinnedHTTPTransport()`` in production: fastest, and no
    cookie jar or environment proxies), else through ``http.send``. ``resolver`` and ``clock`` are for tests.
    """

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        bus: Bus,
        topics: Topics,
        settings: Settings,
        http: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        clock: Callable[[], datetime] | None = None,
        email: EmailSender | None = None,
        rand: Callable[[], float] = random.random,
        breaker: CircuitBreaker | None = None,
        per_endpoint_limit: int | None = None,
        syslog: SyslogSender | None = None,
    ) -> None:
        cfg = settings.dispatch
        self._ctx = ctx = DispatchContext(
            sessions=sessions, settings=settings, clock=clock or utcnow, rand=rand
        )
        guard = SsrfGuard(resolver=resolver or SystemResolver(), allowed_networks=cfg.allowed_networks)
        webhooks = WebhookSender(
            http=http,
            transport=transport,
            guard=guard,
            timeout_seconds=cfg.request_timeout_seconds,
            max_response_bytes=cfg.max_response_bytes,
        )
        email = email or EmailSender(settings.smtp)
        self._breaker = breaker or CircuitBreaker()
        self._recorder = OutcomeRecorder(ctx)
        jobs = JobRunner(
            ctx,
            breaker=self._breaker,
            sender=ChannelSender(
                settings=settings,
                webhooks=webhooks,
                email=email,
                clock=ctx.clock,
                syslog=syslog or SyslogSender(guard=guard, timeout_seconds=cfg.request_timeout_seconds),
            ),
            recorder=self._recorder,
            gone=GoneSubscriptions(ctx, email),
        )
        self._delivery = DeliveryLoop(
            ctx,
            breaker=self._breaker,
            jobs=jobs,
            recorder=self._recorder,
            per_endpoint_limit=per_endpoint_limit,
        )
        intake = IntakeStore(ctx, self._delivery)
        self._runner = StageRunner(
            bus=bus,
            topics=[topics.alerts],
            group=GROUP,
            stage="dispatch",
            handler=intake.on_record,
            dlq_topic=topics.dlq,
            after_batch=intake.flush,
        )
        self._intake_done = asyncio.Event()
        self.counters: Counter[str] = ctx.counters

    async def run(self) -> None:
        """Until ``stop()``: the batch in flight is committed, sends in flight finish and are recorded."""
        delivery = asyncio.create_task(self._delivery.run(self._intake_done), name="dispatch-delivery")
        recorder = asyncio.create_task(self._recorder.run(), name="dispatch-recorder")
        try:
            await self._runner.run()
        finally:
            self._intake_done.set()
            self.stop()
            try:
                await delivery
            finally:
                self._recorder.deliveries_finished()
                await recorder

    def stop(self) -> None:
        self._runner.stop()
        self._ctx.stopping.set()
        self._delivery.wake()
        self._recorder.wake()

    def stats(self) -> dict[str, Any]:
        """Counters for heartbeats and the status page."""
        slots = self._delivery.slots
        return {
            **self.counters,
            "in_flight": slots.busy,
            "waiting": slots.waiting,
            "open_circuits": len(self._breaker.open_endpoints()),
            "dead_lettered_records": self._runner.stats.dead_lettered,
        }
