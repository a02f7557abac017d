"""The claim/lease loop: due deliveries from the outbox (or handed over by intake) into bounded send slots.

Retries live in the outbox (``next_attempt_at``), never in the bus, so one slow endpoint holds up only its own
deliveries. A claim leases rows for longer than any send can take; a process that dies leaves its rows to
whichever dispatcher claims them after the lease runs out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ewarn.dispatch.breaker import CircuitBreaker
from ewarn.dispatch.context import DB_ERRORS, DispatchContext, provider_languages
from ewarn.dispatch.job_runner import JobRunner
from ewarn.dispatch.jobs import Job, endpoint_of, group_jobs
from ewarn.dispatch.outcomes import OutcomeRecorder
from ewarn.dispatch.scheduler import Slots
from ewarn.logging import get_logger
from ewarn.models.delivery import DeliveryStatus
from ewarn.models.subscription import Channel, Subscription
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories import subscriptions as subs_repo
from ewarn.store.repositories.deliveries import ClaimedDelivery

log = get_logger(__name__)

Handoff = list[tuple[dict[str, Any], Subscription, str]]


def _claimed(row: dict[str, Any], payload: dict[str, Any], now: datetime) -> ClaimedDelivery:
    """A delivery this process wrote already leased to itself, as a claim would have returned it."""
    return ClaimedDelivery(
        id=row["id"],
        alert_id=row["alert_id"],
        alert_revision=row["alert_revision"],
        subscription_id=row["subscription_id"],
        provider_id=row["provider_id"],
        channel=row["channel"],
        attempts=0,
        attempts_before_replay=0,
        payload=payload,
        digest_key=None,
        dispatched_at=now,
    )


class DeliveryLoop:
    """Claims due deliveries under a lease and starts their jobs with bounded concurrency."""

    def __init__(
        self,
        ctx: DispatchContext,
        *,
        breaker: CircuitBreaker,
        jobs: JobRunner,
        recorder: OutcomeRecorder,
        per_endpoint_limit: int | None,
    ) -> None:
        self._ctx = ctx
        self._breaker = breaker
        self._jobs = jobs
        self._recorder = recorder
        cfg = ctx.cfg
        # Longer than any send can take (each step has its own timeout), so a live lease is never stolen.
        self._lease = timedelta(seconds=4 * cfg.request_timeout_seconds + 30)
        self.slots: Slots[tuple[Job, str | None]] = Slots(
            concurrency=cfg.concurrency,
            # One endpoint may take at most this many slots, so a slow receiver cannot starve the others.
            per_endpoint=per_endpoint_limit or max(1, cfg.concurrency // 2),
        )
        self._wake = asyncio.Event()
        self._endpoint_of_sub: dict[str, str] = {}
        # Whether a claim may find due deliveries: False after one found fewer than it asked for, True again
        # when intake leaves rows behind, an endpoint passed over by the last claim has room, or a poll
        # interval has gone by (retries, digests, expired leases and other processes' rows come due with time).
        self._more_due = True
        self._passed_over: set[str] = set()  # endpoints the last claim or handoff left rows of in the outbox
        self._last_claim = 0.0  # loop time of the last claim

    def wake(self) -> None:
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------------------------

    async def run(self, intake_done: asyncio.Event) -> None:
        """Claim and start jobs until stopping; then wait for jobs in flight and hand back what waits."""
        ctx = self._ctx
        poll = ctx.cfg.poll_interval_seconds
        loop = asyncio.get_running_loop()
        while not ctx.stopping.is_set():
            self._wake.clear()
            if loop.time() - self._last_claim >= poll:
                self._more_due = True  # retries and digests come due with time alone
            if self._more_due and self.slots.wants_more():
                try:
                    if await self._claim(self.slots.room()):
                        continue
                except DB_ERRORS as exc:
                    log.warning("dispatch_claim_failed", error=str(exc)[:300])
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                self._more_due = True  # retries and digests come due with time alone
        while ctx.tasks:  # jobs may start follow-up tasks (410: disable) while we wait
            await asyncio.gather(*ctx.tasks, return_exceptions=True)
        await intake_done.wait()  # its last batch may still hand deliveries over
        waiting = [d.id for job, _ in self.slots.drain() for d in job.deliveries]
        if waiting:  # hand them back now rather than when their lease runs out
            async with ctx.writes.hold(), ctx.sessions() as session:
                await outbox.release(session=session, ids=waiting)
                await session.commit()

    def _held_back(self, blocked: set[str]) -> set[str]:
        """Subscriptions not to claim for now: their endpoint is in ``blocked``."""
        return {sub for sub, endpoint in self._endpoint_of_sub.items() if endpoint in blocked}

    def _endpoint(self, sub: Subscription) -> str:
        endpoint = endpoint_of(sub, smtp_host=self._ctx.settings.smtp.host)
        self._endpoint_of_sub[sub.id] = endpoint
        return endpoint

    async def _claim(self, limit: int) -> int:
        """Claim up to ``limit`` due deliveries into the slots and start what may start; return the count.

        A claim that finds fewer than ``limit`` rows means nothing more is due now: the loop then waits for new
        intake, a finished send, or the poll interval instead of asking the database again at once.
        """
        ctx = self._ctx
        now = ctx.clock()
        lease_until = now + self._lease
        self._last_claim = asyncio.get_running_loop().time()
        # Endpoints with enough waiting here, or with an open circuit: their rows stay in the outbox for now.
        blocked = self.slots.full_endpoints() | set(self._breaker.open_endpoints())
        async with ctx.writes.hold(), ctx.sessions() as session:
            claimed = await outbox.claim_due(
                session=session,
                now=now,
                lease_until=lease_until,
                limit=limit,
                exclude_subscriptions=self._held_back(blocked),
            )
            for sub_id, key in {(d.subscription_id, d.digest_key) for d in claimed if d.digest_key}:
                claimed += await outbox.claim_digest(
                    session=session, subscription_id=sub_id, digest_key=key, now=now, lease_until=lease_until
                )
            await session.commit()
            # Read fresh with every claim (same connection): a rotation or a disable applies to the next send.
            subs = await subs_repo.subscriptions_by_id(
                session=session, subscription_ids={d.subscription_id for d in claimed}
            )
            email_providers = {s.provider_id for s in subs.values() if s.channel is Channel.EMAIL}
            languages = await provider_languages(session, email_providers) if email_providers else {}
        ctx.counters["claimed"] += len(claimed)
        if len(claimed) < limit:
            self._more_due = False
            self._passed_over = blocked
        if not claimed:
            return 0
        # a payload stored with text no encoder takes (a lone surrogate) comes back repaired (claim_due)
        jobs, orphans = group_jobs(claimed, subs)
        if orphans:
            self._recorder.settle_unsent(orphans, now, "subscription deleted")
        for job in jobs:
            endpoint = self._endpoint(job.subscription)
            if job.subscription.enabled:
                self.slots.add(endpoint, (job, languages.get(job.subscription.provider_id)))
            else:
                reason = f"subscription disabled: {job.subscription.disabled_reason or 'by its owner'}"
                self._recorder.settle_unsent(job.deliveries, now, reason)
        self._pump()
        return len(claimed)

    def _pump(self) -> None:
        """Start every waiting job that may start now; none once stopping (the loop hands those back)."""
        while not self._ctx.stopping.is_set() and (next_job := self.slots.take()) is not None:
            endpoint, (job, language) = next_job
            self._ctx.spawn(self._jobs.run(job, endpoint, language, self._finished))

    def _finished(self, endpoint: str) -> None:
        """A slot is free: a waiting job takes it; a claim may find more for this endpoint once it has room.

        Only an endpoint whose rows were left in the outbox (passed over while its read-ahead was full) makes a
        claim worth its query; everything else new comes by intake handoff, and time-based work by the poll.
        """
        self.slots.finished(endpoint)
        self._pump()
        if self.slots.is_full(endpoint):
            return
        if endpoint in self._passed_over:
            self._passed_over.discard(endpoint)
            self._more_due = True
        if self._more_due:
            self._wake.set()

    # --- handoff from intake ----------------------------------------------------------------------------

    def lease_for_handoff(
        self, rows: Sequence[dict[str, Any]], subs: dict[str, Subscription], now: datetime
    ) -> Handoff:
        """Lease new deliveries that can be sent now straight to this process, as a claim would.

        They are written already leased and go to the slots without a claim query and without reading their
        payload back; the row is the record if this process dies before sending (the lease runs out and any
        dispatcher claims it). Deliveries beyond the free read-ahead stay unleased for the claim loop.
        """
        if self._ctx.stopping.is_set():
            return []
        room = self.slots.room()
        space: dict[str, int] = {}
        open_circuits = set(self._breaker.open_endpoints())
        lease_until = now + self._lease
        picked = []
        for row in rows:
            if room <= 0:
                break
            sub = subs.get(row["subscription_id"])
            if sub is None or row["status"] != DeliveryStatus.PENDING.value or row["digest_key"] is not None:
                continue
            endpoint = self._endpoint(sub)
            if endpoint not in space:
                space[endpoint] = 0 if endpoint in open_circuits else self.slots.space(endpoint)
            if space[endpoint] <= 0:
                continue
            row["lease_until"] = lease_until
            row["dispatched_at"] = now
            picked.append((row, sub, endpoint))
            space[endpoint] -= 1
            room -= 1
        return picked

    def take_handoff(
        self,
        *,
        handoff: Handoff,
        rows: Sequence[dict[str, Any]],
        payload_of: dict[str, dict[str, Any]],
        inserted: set[str],
        languages: dict[str, str],
        now: datetime,
    ) -> None:
        """After intake's commit: start the leased rows it created; wake a claim for the rows left behind."""
        # Only rows this insert created: a redelivered message's rows are whatever they already are.
        handed = set()
        for row, sub, endpoint in handoff:
            if row["id"] in inserted:
                job = Job(sub, [_claimed(row, payload_of[row["id"]], now)])
                self.slots.add(endpoint, (job, languages.get(sub.provider_id)))
                handed.add(row["id"])
        self._ctx.counters["handed_over"] += len(handed)
        left = [
            row
            for row in rows
            if row["id"] in inserted
            and row["id"] not in handed
            and row["status"] == DeliveryStatus.PENDING.value
            and row["digest_key"] is None
        ]
        if left:  # no room here now: a claim picks them up when there is
            self._passed_over.update(self._endpoint_of_sub.get(r["subscription_id"], "") for r in left)
            self._more_due = True
            self._wake.set()
        self._pump()
