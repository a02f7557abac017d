"""Recording delivery outcomes: the verdict of each attempt, and writing them to the outbox in batches.

Senders append outcomes; one writer loop writes whatever finished while the previous batch was being written,
so a busy dispatcher makes few, large bookkeeping writes and leaves the database to new alerts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from ewarn.dispatch.context import DispatchContext
from ewarn.dispatch.jobs import Job
from ewarn.dispatch.result import SendResult
from ewarn.dispatch.retry import Verdict, classify, parse_retry_after, plan_next
from ewarn.models.delivery import DeliveryStatus
from ewarn.status.metrics import count_deliveries
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories.deliveries import AttemptOutcome, ClaimedDelivery

RECORD_EVERY_SECONDS = 0.1


def verdict_of(result: SendResult) -> Verdict:
    """What one send's result means for its deliveries."""
    if result.refused:
        return Verdict.REFUSED
    if result.ok:
        return Verdict.DELIVERED
    verdict = classify(result.status_code)
    # e.g. an SMTP error carrying a 2xx-looking code
    return Verdict.RETRY if verdict is Verdict.DELIVERED else verdict


class OutcomeRecorder:
    """Collects attempt outcomes and writes them until the delivery loop has finished."""

    def __init__(self, ctx: DispatchContext) -> None:
        self._ctx = ctx
        self.pending: list[AttemptOutcome] = []
        self.ready = asyncio.Event()
        # Set once the delivery loop has returned: no job can start or record an outcome after that.
        self._deliveries_finished = False

    def add(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Queue outcomes for the next write."""
        self.pending.extend(outcomes)
        self.ready.set()

    def wake(self) -> None:
        self.ready.set()

    def deliveries_finished(self) -> None:
        """The delivery loop has ended: write what is left, then return."""
        self._deliveries_finished = True
        self.ready.set()

    def settle_unsent(self, deliveries: Sequence[ClaimedDelivery], now: datetime, reason: str) -> None:
        """Dead-letter deliveries that cannot be sent now (replayable once the subscription is back)."""
        self.add(
            [
                AttemptOutcome(
                    delivery_id=d.id,
                    attempts=d.attempts,
                    attempted=False,
                    at=now,
                    ok=False,
                    status=DeliveryStatus.DEAD,
                    error=reason,
                )
                for d in deliveries
            ]
        )
        self._ctx.counters["dead"] += len(deliveries)
        count_deliveries("dead", deliveries)

    def record(self, job: Job, result: SendResult, started: datetime, finished: datetime) -> Verdict:
        """Queue the outcome of one attempt for each delivery of ``job``; return its verdict."""
        cfg = self._ctx.cfg
        verdict = verdict_of(result)
        plan = plan_next(
            verdict=verdict,
            attempts_used=job.attempts_in_budget + 1,
            max_attempts=cfg.max_attempts,
            now=finished,
            retry_after=parse_retry_after(result.retry_after, now=finished),
            base=cfg.backoff_base_seconds,
            cap=cfg.backoff_max_seconds,
            rand=self._ctx.rand,
        )
        if verdict is Verdict.DELIVERED:
            status = DeliveryStatus.DELIVERED
        elif plan.final:
            status = DeliveryStatus.DEAD
        else:
            status = DeliveryStatus.PENDING
        self.add(
            [
                AttemptOutcome(
                    delivery_id=d.id,
                    attempts=d.attempts + 1,
                    attempted=True,
                    at=started,
                    ok=result.ok,
                    status=status,
                    status_code=result.status_code,
                    latency_ms=round(result.latency_ms, 3),
                    error=result.error,
                    next_attempt_at=plan.next_attempt_at,
                    delivered_at=finished if result.ok else None,
                )
                for d in job.deliveries
            ]
        )
        self._ctx.counters[status.value] += len(job.deliveries)
        count_deliveries(status.value, job.deliveries, finished=finished)
        if not result.ok:
            self._ctx.counters["failed_attempts"] += 1
        return verdict

    async def run(self) -> None:
        """Write outcomes in batches: whatever finished while the previous batch was being written."""
        ctx = self._ctx
        while True:
            await self.ready.wait()
            self.ready.clear()
            batch, self.pending = self.pending, []
            if batch:

                async def work(batch: list[AttemptOutcome] = batch) -> None:
                    async with ctx.writes.hold(), ctx.sessions() as session:
                        await outbox.record_outcomes(session=session, outcomes=batch)
                        await session.commit()

                await ctx.retry_db("record", work)
                if not ctx.stopping.is_set():
                    # Gather outcomes for a while: fewer, larger writes leave the process to new alerts. A kill
                    # in between costs only a resend of those deliveries (same webhook-id) once leases expire.
                    await asyncio.sleep(RECORD_EVERY_SECONDS)
            # Only the end of the delivery loop ends this one: while stopping, a claim in flight can still
            # start jobs whose outcomes must be written, or their deliveries stay leased after a clean stop.
            # Checked after a write too: the end's wake-up may have been used up by the batch just written.
            if self._deliveries_finished and not self.pending:
                return
