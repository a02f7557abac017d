"""One job from its slot to its recorded outcome: the circuit breaker's say, the send, the verdict.

A job whose endpoint has an open circuit is handed back to the outbox for later; a digest is sent without the
deliveries whose stored payload cannot be rendered; a crash in a channel is recorded as a failed attempt,
never allowed to end the delivery loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ewarn.dispatch.breaker import CircuitBreaker
from ewarn.dispatch.context import DispatchContext
from ewarn.dispatch.email import TlpRefused
from ewarn.dispatch.gone import GoneSubscriptions
from ewarn.dispatch.jobs import Job
from ewarn.dispatch.outcomes import OutcomeRecorder
from ewarn.dispatch.result import SendResult
from ewarn.dispatch.retry import Verdict, endpoint_unhealthy
from ewarn.dispatch.send import ChannelSender
from ewarn.logging import get_logger
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories.deliveries import ClaimedDelivery

log = get_logger(__name__)


class JobRunner:
    """Runs one job at a time per call; many calls run at once, one per taken slot."""

    def __init__(
        self,
        ctx: DispatchContext,
        *,
        breaker: CircuitBreaker,
        sender: ChannelSender,
        recorder: OutcomeRecorder,
        gone: GoneSubscriptions,
    ) -> None:
        self._ctx = ctx
        self._breaker = breaker
        self._sender = sender
        self._recorder = recorder
        self._gone = gone

    async def run(
        self, job: Job, endpoint: str, language: str | None, slot_free: Callable[[str], None]
    ) -> None:
        """Send ``job`` and record the outcome; ``slot_free(endpoint)`` is called once the send is over."""
        clock = self._ctx.clock
        try:
            if not self._drop_unrenderable(job, language):
                return  # every delivery of the job was set aside
            if not self._breaker.allow(endpoint):
                wait = timedelta(seconds=max(0.05, self._breaker.seconds_until_retry(endpoint)))
                await self._release_later([d.id for d in job.deliveries], clock() + wait)
                return
            started = clock()
            result = await self._sender.send(job, language)
            finished = clock()
            if not result.endpoint_untried:
                healthy = result.ok or result.refused or not endpoint_unhealthy(result.status_code)
                self._breaker.record(endpoint, healthy=healthy)
        except Exception as exc:  # a bug in a channel must not kill the loop; the attempt is logged as failed
            log.exception("dispatch_job_crashed", subscription=job.subscription.id)
            started = finished = clock()
            result = SendResult(None, 0.0, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            slot_free(endpoint)
        verdict = self._recorder.record(job, result, started, finished)
        if verdict is Verdict.GONE:
            reason = f"endpoint answered 410 Gone on {finished:%Y-%m-%d %H:%M:%S} UTC"
            self._ctx.spawn(self._gone.disable(job.subscription, reason))

    def _drop_unrenderable(self, job: Job, language: str | None) -> bool:
        """A digest carries many alerts: one whose stored payload cannot be rendered is settled dead alone
        (with the reason) and the digest goes out with the others. False when none is left to send."""
        if job.digest_key is None or len(job.deliveries) < 2:
            return True
        keep: list[ClaimedDelivery] = []
        for d in job.deliveries:
            try:
                self._sender.check_renderable(Job(job.subscription, [d]), language)
            except TlpRefused:
                keep.append(d)  # a refusal is the whole digest's verdict, taken when it is sent
            except Exception as exc:  # the payload itself is poison: only this delivery is set aside
                reason = f"payload cannot be rendered: {type(exc).__name__}: {exc}"[:500]
                log.error(
                    "delivery_unrenderable", delivery=d.id, subscription=job.subscription.id, error=reason
                )
                self._recorder.settle_unsent([d], self._ctx.clock(), reason)
            else:
                keep.append(d)
        job.deliveries = keep
        return bool(keep)

    async def _release_later(self, ids: list[str], at: datetime) -> None:
        ctx = self._ctx

        async def work() -> None:
            async with ctx.writes.hold(), ctx.sessions() as session:
                await outbox.release(session=session, ids=ids, next_attempt_at=at)
                await session.commit()

        await ctx.retry_db("release", work)
        ctx.counters["deferred_open_circuit"] += len(ids)
