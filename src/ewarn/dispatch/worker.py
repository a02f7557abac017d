"""The dispatch stage: alerts from the bus into the outbox, and the outbox out to webhooks and e-mail.

Two loops share one process:

- intake: a ``StageRunner`` on the alerts topic. Each batch becomes ``alert_events`` rows and one delivery per
  routed subscription, in one transaction; the runner commits the offsets only after it (at-least-once, and
  the deterministic ids make a redelivered batch a no-op).
- delivery: claims due deliveries under a lease, sends them with bounded concurrency, and records every
  attempt. Retries live in the outbox (``next_attempt_at``), never in the bus, so one slow endpoint holds up
  only its own deliveries.

Poison stays alone: an alert message the outbox cannot hold (a NUL character) is dead-lettered by the
runner; a batch the database refuses is stored record by record and the refused record quarantined; a
stored payload with text that cannot be encoded (a lone surrogate) is repaired before it is rendered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.bus.base import Bus, Record
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics
from ewarn.dispatch.breaker import CircuitBreaker
from ewarn.dispatch.email import EmailSender, TlpRefused, disabled_notice
from ewarn.dispatch.intake import plan_intake
from ewarn.dispatch.jobs import Job, email_for, endpoint_of, group_jobs, webhook_body
from ewarn.dispatch.result import SendResult
from ewarn.dispatch.retry import Verdict, classify, endpoint_unhealthy, parse_retry_after, plan_next
from ewarn.dispatch.scheduler import Slots
from ewarn.dispatch.ssrf import Resolver, SsrfGuard, SystemResolver
from ewarn.dispatch.webhook import WebhookSender
from ewarn.dispatch.writelock import PriorityWriteLock
from ewarn.errors import PoisonRecordError
from ewarn.logging import get_logger
from ewarn.models.alert import Alert
from ewarn.models.common import utcnow
from ewarn.models.delivery import DeliveryStatus
from ewarn.models.subscription import Channel, Subscription
from ewarn.settings import Settings
from ewarn.status.metrics import count_deliveries
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import deliveries as outbox
from ewarn.store.repositories import subscriptions as subs_repo
from ewarn.store.repositories.deliveries import AttemptOutcome, ClaimedDelivery
from ewarn.store.repositories.quarantine import Quarantined, quarantine
from ewarn.store.tables import AssetRow, ProviderRow
from ewarn.textsafe import needs_repair, repair

log = get_logger(__name__)

GROUP = "ewarn-dispatch"
_DB_ERRORS = (OperationalError, DBAPIError, OSError)
_RECORD_EVERY_SECONDS = 0.1


def refused_for_good(exc: BaseException) -> bool:
    """The database refuses a value itself (SQLSTATE class 22, a data exception): retrying cannot help."""
    if isinstance(exc, DataError | UnicodeEncodeError):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and str(sqlstate or "").startswith("22")


def _claimed(row: dict[str, Any], now: datetime) -> ClaimedDelivery:
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
        payload=row["payload"],
        digest_key=None,
        dispatched_at=now,
    )


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
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._cfg = settings.dispatch
        self._clock = clock or utcnow
        self._rand = rand
        self._guard = SsrfGuard(
            resolver=resolver or SystemResolver(), allowed_networks=self._cfg.allowed_networks
        )
        self._webhooks = WebhookSender(
            http=http,
            transport=transport,
            guard=self._guard,
            timeout_seconds=self._cfg.request_timeout_seconds,
            max_response_bytes=self._cfg.max_response_bytes,
        )
        self._email = email or EmailSender(settings.smtp)
        self._breaker = breaker or CircuitBreaker()
        # Longer than any send can take (each step has its own timeout), so a live lease is never stolen.
        self._lease = timedelta(seconds=4 * self._cfg.request_timeout_seconds + 30)
        self._runner = StageRunner(
            bus=bus,
            topics=[topics.alerts],
            group=GROUP,
            stage="dispatch",
            handler=self._on_record,
            dlq_topic=topics.dlq,
            after_batch=self._flush_intake,
        )
        self._buffer: list[tuple[Alert, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._writes = PriorityWriteLock()
        self._slots: Slots[tuple[Job, str | None]] = Slots(
            concurrency=self._cfg.concurrency,
            # One endpoint may take at most this many slots, so a slow receiver cannot starve the others.
            per_endpoint=per_endpoint_limit or max(1, self._cfg.concurrency // 2),
        )
        self._endpoint_of_sub: dict[str, str] = {}
        # Whether a claim may find due deliveries: False after one found fewer than it asked for, True again
        # when intake leaves rows behind, an endpoint passed over by the last claim has room, or a poll
        # interval has gone by (retries, digests, expired leases and other processes' rows come due with time).
        self._more_due = True
        self._passed_over: set[str] = set()  # endpoints the last claim or handoff left rows of in the outbox
        self._last_claim = 0.0  # loop time of the last claim
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: list[AttemptOutcome] = []
        self._outcomes_ready = asyncio.Event()
        self._intake_done = asyncio.Event()
        # Set once the delivery loop has returned: no job can start or record an outcome after that.
        self._deliveries_finished = False
        self.counters: Counter[str] = Counter()

    # --- lifecycle --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until ``stop()``: the batch in flight is committed, sends in flight finish and are recorded."""
        delivery = asyncio.create_task(self._delivery_loop(), name="dispatch-delivery")
        recorder = asyncio.create_task(self._recorder_loop(), name="dispatch-recorder")
        try:
            await self._runner.run()
        finally:
            self._intake_done.set()
            self.stop()
            try:
                await delivery
            finally:
                self._deliveries_finished = True
                self._outcomes_ready.set()
                await recorder

    def stop(self) -> None:
        self._runner.stop()
        self._stopping.set()
        self._wake.set()
        self._outcomes_ready.set()

    def stats(self) -> dict[str, Any]:
        """Counters for heartbeats and the status page."""
        return {
            **self.counters,
            "in_flight": self._slots.busy,
            "waiting": self._slots.waiting,
            "open_circuits": len(self._breaker.open_endpoints()),
            "dead_lettered_records": self._runner.stats.dead_lettered,
        }

    # --- intake -----------------------------------------------------------------------------------------

    async def _on_record(self, record: Record) -> None:
        # An undecodable alert raises ValidationError: the runner dead-letters that record and moves on.
        if b"\\u0000" in record.value:
            raise PoisonRecordError("the alert holds a NUL character, which the outbox cannot store")
        alert = Alert.model_validate_json(record.value)
        # The payload is stored as it was published (parsing the JSON again is cheaper than re-serialising).
        self._buffer.append((alert, orjson.loads(record.value)))

    async def _flush_intake(self) -> None:
        incoming, self._buffer = self._buffer, []
        if not incoming:
            return
        try:
            await self._retry_db("intake", lambda: self._store_intake(incoming), refusable=True)
        except Exception as exc:
            if not refused_for_good(exc):
                raise
            # the database refuses some value of the batch for good: store one by one, set the refused aside
            for one in incoming:
                try:
                    await self._retry_db("intake", self._store_one(one), refusable=True)
                except Exception as one_exc:
                    if not refused_for_good(one_exc):
                        raise
                    await self._quarantine_alert(one[0], one_exc)

    def _store_one(self, item: tuple[Alert, dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        return lambda: self._store_intake([item])

    async def _quarantine_alert(self, alert: Alert, exc: Exception) -> None:
        record = Quarantined(
            kind="alert",
            key=f"{alert.id}@{alert.revision}",
            stage="dispatch",
            reason=f"the outbox refused the alert: {type(exc).__name__}: {exc}",
            original=alert.model_dump(mode="json"),
            provider_id=alert.provider_id,
        )

        async def work() -> None:
            async with self._writes.hold(), self._sessions() as session:
                await quarantine(session=session, records=[record], now=self._clock())
                await session.commit()

        await self._retry_db("quarantine", work)
        self.counters["quarantined"] += 1
        log.error(
            "record_quarantined", stage="dispatch", kind="alert", key=record.key, reason=record.reason[:500]
        )

    async def _store_intake(self, incoming: Sequence[tuple[Alert, dict[str, Any]]]) -> None:
        alerts = [alert for alert, _ in incoming]
        now = self._clock()
        providers = {a.provider_id for a in alerts}
        # One session, under the write lock ahead of bookkeeping: routing reads and the outbox write share
        # the round trips, and every new alert waits for at most the write in progress.
        async with self._writes.hold(urgent=True), self._sessions() as session:
            subs = await subs_repo.live_subscriptions_of(session=session, provider_ids=providers)
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
            languages = await self._languages(session, email_providers) if email_providers else {}
            plan = plan_intake(
                alerts, subscriptions=by_provider, asset_tags=tags, now=now, payloads=[p for _, p in incoming]
            )
            handoff = self._lease_for_handoff(plan.deliveries, {s.id: s for s in subs}, now)
            await outbox.insert_alert_events(session=session, events=plan.events)
            inserted = await outbox.insert_deliveries(session=session, rows=plan.deliveries)
            await session.commit()
        self.counters["alerts"] += len(plan.events)
        self.counters["routed"] += plan.routed
        self.counters["skipped"] += plan.skipped
        # Only rows this insert created: a redelivered message's rows are whatever they already are.
        handed = set()
        for row, sub, endpoint in handoff:
            if row["id"] in inserted:
                job = Job(sub, [_claimed(row, now)])
                self._slots.add(endpoint, (job, languages.get(sub.provider_id)))
                handed.add(row["id"])
        self.counters["handed_over"] += len(handed)
        left = [
            row
            for row in plan.deliveries
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

    def _lease_for_handoff(
        self, rows: Sequence[dict[str, Any]], subs: dict[str, Subscription], now: datetime
    ) -> list[tuple[dict[str, Any], Subscription, str]]:
        """Lease new deliveries that can be sent now straight to this process, as a claim would.

        They are written already leased and go to the slots without a claim query and without reading their
        payload back; the row is the record if this process dies before sending (the lease runs out and any
        dispatcher claims it). Deliveries beyond the free read-ahead stay unleased for the claim loop.
        """
        if self._stopping.is_set():
            return []
        room = self._slots.room()
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
            endpoint = endpoint_of(sub, smtp_host=self._settings.smtp.host)
            self._endpoint_of_sub[sub.id] = endpoint
            if endpoint not in space:
                space[endpoint] = 0 if endpoint in open_circuits else self._slots.space(endpoint)
            if space[endpoint] <= 0:
                continue
            row["lease_until"] = lease_until
            row["dispatched_at"] = now
            picked.append((row, sub, endpoint))
            space[endpoint] -= 1
            room -= 1
        return picked

    async def _retry_db(
        self, what: str, work: Callable[[], Awaitable[None]], *, refusable: bool = False
    ) -> None:
        """Retry a database step until it succeeds; give up only when stopping (it is then redone later).

        ``refusable``: a value the database refuses for good is raised at once (the caller sets it aside).
        """
        attempt = 0
        while True:
            try:
                await work()
                return
            except _DB_ERRORS as exc:
                if refusable and refused_for_good(exc):
                    raise
                attempt += 1
                if self._stopping.is_set() and attempt > 3:
                    raise
                delay = min(5.0, 0.05 * 2**attempt) * (0.5 + self._rand() / 2)
                log.warning("dispatch_db_retry", step=what, attempt=attempt, error=str(exc)[:300])
                await asyncio.sleep(delay)

    # --- delivery loop ----------------------------------------------------------------------------------

    async def _delivery_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            self._wake.clear()
            if loop.time() - self._last_claim >= self._cfg.poll_interval_seconds:
                self._more_due = True  # retries and digests come due with time alone
            if self._more_due and self._slots.wants_more():
                try:
                    if await self._claim(self._slots.room()):
                        continue
                except _DB_ERRORS as exc:
                    log.warning("dispatch_claim_failed", error=str(exc)[:300])
            try:
                await asyncio.wait_for(self._wake.wait(), self._cfg.poll_interval_seconds)
            except TimeoutError:
                self._more_due = True  # retries and digests come due with time alone
        while self._tasks:  # jobs may start follow-up tasks (410: disable) while we wait
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._intake_done.wait()  # its last batch may still hand deliveries over
        waiting = [d.id for job, _ in self._slots.drain() for d in job.deliveries]
        if waiting:  # hand them back now rather than when their lease runs out
            async with self._writes.hold(), self._sessions() as session:
                await outbox.release(session=session, ids=waiting)
                await session.commit()

    def _held_back(self, blocked: set[str]) -> set[str]:
        """Subscriptions not to claim for now: their endpoint is in ``blocked``."""
        return {sub for sub, endpoint in self._endpoint_of_sub.items() if endpoint in blocked}

    async def _claim(self, limit: int) -> int:
        """Claim up to ``limit`` due deliveries into the slots and start what may start; return the count.

        A claim that finds fewer than ``limit`` rows means nothing more is due now: the loop then waits for new
        intake, a finished send, or the poll interval instead of asking the database again at once.
        """
        now = self._clock()
        lease_until = now + self._lease
        self._last_claim = asyncio.get_running_loop().time()
        # Endpoints with enough waiting here, or with an open circuit: their rows stay in the outbox for now.
        blocked = self._slots.full_endpoints() | set(self._breaker.open_endpoints())
        async with self._writes.hold(), self._sessions() as session:
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
            languages = await self._languages(session, email_providers) if email_providers else {}
        self.counters["claimed"] += len(claimed)
        if len(claimed) < limit:
            self._more_due = False
            self._passed_over = blocked
        if not claimed:
            return 0
        # a payload stored with text no encoder takes (a lone surrogate) is sent repaired, not failed
        claimed = [
            dataclasses.replace(d, payload=repair(d.payload)) if needs_repair(d.payload) else d
            for d in claimed
        ]
        jobs, orphans = group_jobs(claimed, subs)
        if orphans:
            self._settle_unsent(orphans, now, "subscription deleted")
        for job in jobs:
            endpoint = endpoint_of(job.subscription, smtp_host=self._settings.smtp.host)
            self._endpoint_of_sub[job.subscription.id] = endpoint
            if job.subscription.enabled:
                self._slots.add(endpoint, (job, languages.get(job.subscription.provider_id)))
            else:
                reason = f"subscription disabled: {job.subscription.disabled_reason or 'by its owner'}"
                self._settle_unsent(job.deliveries, now, reason)
        self._pump()
        return len(claimed)

    def _pump(self) -> None:
        """Start every waiting job that may start now; none once stopping (the loop hands those back)."""
        while not self._stopping.is_set() and (next_job := self._slots.take()) is not None:
            endpoint, (job, language) = next_job
            task = asyncio.create_task(self._run_job(job, endpoint, language))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _languages(session: AsyncSession, provider_ids: Collection[str]) -> dict[str, str]:
        rows = await session.execute(
            select(ProviderRow.id, ProviderRow.language).where(ProviderRow.id.in_(list(provider_ids)))
        )
        return {r.id: r.language for r in rows}

    def _settle_unsent(self, deliveries: Sequence[ClaimedDelivery], now: datetime, reason: str) -> None:
        """Dead-letter deliveries that cannot be sent now (replayable once the subscription is back)."""
        for d in deliveries:
            self._outcomes.append(
                AttemptOutcome(
                    delivery_id=d.id,
                    attempts=d.attempts,
                    attempted=False,
                    at=now,
                    ok=False,
                    status=DeliveryStatus.DEAD,
                    error=reason,
                )
            )
        self.counters["dead"] += len(deliveries)
        count_deliveries("dead", deliveries)
        self._outcomes_ready.set()

    # --- one job ----------------------------------------------------------------------------------------

    async def _run_job(self, job: Job, endpoint: str, language: str | None) -> None:
        try:
            if not self._drop_unrenderable(job, language):
                return  # every delivery of the job was set aside
            if not self._breaker.allow(endpoint):
                wait = timedelta(seconds=max(0.05, self._breaker.seconds_until_retry(endpoint)))
                await self._release_later([d.id for d in job.deliveries], self._clock() + wait)
                return
            started = self._clock()
            result = await self._send(job, language)
            finished = self._clock()
            healthy = result.ok or result.refused or not endpoint_unhealthy(result.status_code)
            self._breaker.record(endpoint, healthy=healthy)
        except Exception as exc:  # a bug in a channel must not kill the loop; the attempt is logged as failed
            log.exception("dispatch_job_crashed", subscription=job.subscription.id)
            started = finished = self._clock()
            result = SendResult(None, 0.0, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._finished(endpoint)
        self._record(job, result, started, finished)

    def _drop_unrenderable(self, job: Job, language: str | None) -> bool:
        """A digest carries many alerts: one whose stored payload cannot be rendered is settled dead alone
        (with the reason) and the digest goes out with the others. False when none is left to send."""
        if job.digest_key is None or len(job.deliveries) < 2:
            return True
        keep: list[ClaimedDelivery] = []
        for d in job.deliveries:
            single = Job(job.subscription, [d])
            try:
                if job.subscription.channel is Channel.EMAIL:
                    email_for(single, sender=self._settings.smtp.sender, language=language)
                else:
                    webhook_body(single)
            except TlpRefused:
                keep.append(d)  # a refusal is the whole digest's verdict, taken when it is sent
            except Exception as exc:  # the payload itself is poison: only this delivery is set aside
                reason = f"payload cannot be rendered: {type(exc).__name__}: {exc}"[:500]
                log.error(
                    "delivery_unrenderable", delivery=d.id, subscription=job.subscription.id, error=reason
                )
                self._settle_unsent([d], self._clock(), reason)
            else:
                keep.append(d)
        job.deliveries = keep
        return bool(keep)

    def _finished(self, endpoint: str) -> None:
        """A slot is free: a waiting job takes it; a claim may find more for this endpoint once it has room.

        Only an endpoint whose rows were left in the outbox (passed over while its read-ahead was full) makes a
        claim worth its query; everything else new comes by intake handoff, and time-based work by the poll.
        """
        self._slots.finished(endpoint)
        self._pump()
        if self._slots.is_full(endpoint):
            return
        if endpoint in self._passed_over:
            self._passed_over.discard(endpoint)
            self._more_due = True
        if self._more_due:
            self._wake.set()

    async def _release_later(self, ids: list[str], at: datetime) -> None:
        async def work() -> None:
            async with self._writes.hold(), self._sessions() as session:
                await outbox.release(session=session, ids=ids, next_attempt_at=at)
                await session.commit()

        await self._retry_db("release", work)
        self.counters["deferred_open_circuit"] += len(ids)

    async def _send(self, job: Job, language: str | None) -> SendResult:
        sub = job.subscription
        if sub.channel is Channel.EMAIL:
            return await self._send_email(job, language)
        secrets = subs_repo.signing_secrets(sub, now=self._clock())
        if not secrets:
            return SendResult(None, 0.0, "refused: the subscription has no signing secret", refused=True)
        body, content_type = webhook_body(job)
        return await self._webhooks.send(
            url=sub.target, msg_id=job.message_id, body=body, content_type=content_type, secrets=secrets
        )

    async def _send_email(self, job: Job, language: str | None) -> SendResult:
        began = time.perf_counter()
        try:
            message = email_for(job, sender=self._settings.smtp.sender, language=language)
        except TlpRefused as exc:
            return SendResult(None, 0.0, f"refused: {exc}", refused=True)
        try:
            await self._email.send(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            code = getattr(exc, "code", None)
            return SendResult(
                code if isinstance(code, int) else None,
                (time.perf_counter() - began) * 1000,
                f"smtp: {type(exc).__name__}: {exc}"[:300],
            )
        return SendResult(250, (time.perf_counter() - began) * 1000, None, ok=True)

    def _record(self, job: Job, result: SendResult, started: datetime, finished: datetime) -> None:
        if result.refused:
            verdict = Verdict.REFUSED
        elif result.ok:
            verdict = Verdict.DELIVERED
        else:
            verdict = classify(result.status_code)
            if verdict is Verdict.DELIVERED:  # e.g. an SMTP error carrying a 2xx-looking code
                verdict = Verdict.RETRY
        plan = plan_next(
            verdict=verdict,
            attempts_used=job.attempts_in_budget + 1,
            max_attempts=self._cfg.max_attempts,
            now=finished,
            retry_after=parse_retry_after(result.retry_after, now=finished),
            base=self._cfg.backoff_base_seconds,
            cap=self._cfg.backoff_max_seconds,
            rand=self._rand,
        )
        if verdict is Verdict.DELIVERED:
            status = DeliveryStatus.DELIVERED
        elif plan.final:
            status = DeliveryStatus.DEAD
        else:
            status = DeliveryStatus.PENDING
        for d in job.deliveries:
            self._outcomes.append(
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
            )
        self.counters[status.value] += len(job.deliveries)
        count_deliveries(status.value, job.deliveries, finished=finished)
        if not result.ok:
            self.counters["failed_attempts"] += 1
        self._outcomes_ready.set()
        if verdict is Verdict.GONE:
            reason = f"endpoint answered 410 Gone on {finished:%Y-%m-%d %H:%M:%S} UTC"
            task = asyncio.create_task(self._disable_gone(job.subscription, reason))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- 410 Gone -----------------------------------------------------------------------------------------

    async def _disable_gone(self, sub: Subscription, reason: str) -> None:
        """Disable the subscription, record why, and tell the provider's contacts by e-mail."""
        disabled = False

        async def work() -> None:
            nonlocal disabled
            async with self._writes.hold(), self._sessions() as session:
                disabled = await subs_repo.disable_subscription(
                    session=session, subscription_id=sub.id, reason=reason
                )
                await session.commit()

        await self._retry_db("disable", work)
        if not disabled:
            return
        self.counters["subscriptions_disabled"] += 1
        log.warning("subscription_disabled", subscription=sub.id, provider=sub.provider_id, reason=reason)
        async with self._sessions() as session:
            provider = await session.get(ProviderRow, sub.provider_id)
        contacts = list(provider.contacts or []) if provider else []
        if not contacts:
            return
        notice = disabled_notice(
            to=contacts,
            sender=self._settings.smtp.sender,
            language=provider.language if provider else None,
            provider_id=sub.provider_id,
            subscription_id=sub.id,
            target=sub.target,
            reason=reason,
        )
        try:
            await self._email.send(notice)
            self.counters["owner_notices"] += 1
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # The disable and its reason are recorded and shown by the API; the e-mail is a courtesy.
            self.counters["owner_notices_failed"] += 1
            log.warning(
                "owner_notice_failed", subscription=sub.id, error=f"{type(exc).__name__}: {exc}"[:300]
            )

    # --- recording --------------------------------------------------------------------------------------

    async def _recorder_loop(self) -> None:
        """Write outcomes in batches: whatever finished while the previous batch was being written."""
        while True:
            await self._outcomes_ready.wait()
            self._outcomes_ready.clear()
            batch, self._outcomes = self._outcomes, []
            if batch:

                async def work(batch: list[AttemptOutcome] = batch) -> None:
                    async with self._writes.hold(), self._sessions() as session:
                        await outbox.record_outcomes(session=session, outcomes=batch)
                        await session.commit()

                await self._retry_db("record", work)
                if not self._stopping.is_set():
                    # Gather outcomes for a while: fewer, larger writes leave the process to new alerts. A kill
                    # in between costs only a resend of those deliveries (same webhook-id) once leases expire.
                    await asyncio.sleep(_RECORD_EVERY_SECONDS)
            # Only the end of the delivery loop ends this one: while stopping, a claim in flight can still
            # start jobs whose outcomes must be written, or their deliveries stay leased after a clean stop.
            # Checked after a write too: the end's wake-up may have been used up by the batch just written.
            if self._deliveries_finished and not self._outcomes:
                return
