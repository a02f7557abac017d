"""The ingest stage: read feeds page by page, merge, publish, and only then move the cursor."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.errors import ConfigurationError, EwarnError
from ewarn.ingest import repository
from ewarn.ingest.fetch import Fetcher, FetchError, feed_ssl_context, is_http
from ewarn.ingest.locations import credential_origins, existing_path, redact
from ewarn.ingest.models import IngestReport
from ewarn.ingest.records import FeedContext
from ewarn.ingest.rejections import store_rejections
from ewarn.ingest.sources import payload_parser, source_for
from ewarn.ingest.sources.base import FeedSpec, Page, SourceContext
from ewarn.logging import get_logger
from ewarn.models.common import TLP, utcnow
from ewarn.models.indicator import IndicatorType, Rejection
from ewarn.netguard import Resolver, SsrfGuard, SystemResolver
from ewarn.settings import IngestSettings, Settings
from ewarn.sightings.relay import SightingRelay
from ewarn.status.metrics import count_feed_page
from ewarn.store.db import SessionFactory

log = get_logger(__name__)

MAX_REPORTED_REJECTIONS = 1000


class IngestService:
    """Polls feeds and ingests pushed documents into the ``indicators`` table and topic."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        bus: Bus,
        topics: Topics,
        settings: Settings,
        http: httpx.AsyncClient,
        resolver: Resolver | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._topics = topics
        self._settings = settings
        self._fetcher = build_fetcher(settings.ingest, http, resolver=resolver)
        self._stopping = asyncio.Event()
        self._feed_locks: dict[str, asyncio.Lock] = {}
        # pages with vulnerabilities take turns: an advisory and the KEV entry of one of its CVEs stored at
        # once must each see the other committed (see ``ewarn.ingest.exploited``)
        self._vulnerability_turn = asyncio.Lock()
        self._relay: SightingRelay | None = None  # created on the first bundle holding STIX sightings

    @property
    def fetcher(self) -> Fetcher:
        return self._fetcher

    # --- one-shot --------------------------------------------------------------------------------------

    async def ingest_bytes(
        self,
        *,
        payload: bytes,
        kind: str,
        feed_id: str = "manual",
        name: str | None = None,
        default_tlp: TLP = TLP.CLEAR,
    ) -> IngestReport:
        """Parse one document of ``kind`` (a pushed STIX bundle or CSAF advisory, a file) and ingest it."""
        parser = payload_parser(kind)
        ctx = FeedContext(feed_id=feed_id, feed_kind=kind, default_tlp=default_tlp)
        report = IngestReport(feed_id=feed_id, kind=kind)
        if len(payload) > self._fetcher.max_bytes:
            rejection = ctx.reject(
                name or "payload",
                f"payload of {len(payload)} bytes exceeds the cap of {self._fetcher.max_bytes}",
            )
            await self._apply(None, Page(rejections=[rejection], read=1), report)
            return report
        parsed = await asyncio.to_thread(parser.parse, payload, ctx)
        await self._apply(None, Page.of(parsed), report)
        log.info("ingested", feed=feed_id, kind=kind, name=name, **_counts(report))
        return report

    async def ingest_location(
        self,
        location: str,
        *,
        kind: str = "stix_bundle",
        feed_id: str = "manual",
        default_tlp: TLP = TLP.CLEAR,
        config: dict[str, Any] | None = None,
    ) -> IngestReport:
        """Ingest everything at a file path or URL once, without a stored feed or cursor."""
        fetcher = self._fetcher
        if not is_http(location):
            path = await asyncio.to_thread(existing_path, location)
            if path is None:
                raise ConfigurationError(f"no such file: {location}")
            # The operator named this file: its folder may be read even outside the configured file root.
            location, fetcher = str(path), fetcher.also_reading(path)
        spec = FeedSpec(
            id=feed_id, kind=kind, location=location, config=config or {}, default_tlp=default_tlp
        )
        return await self._run(spec, persisted=False, fetcher=fetcher)

    # --- feeds -----------------------------------------------------------------------------------------

    async def poll_feed(
        self, feed_id: str, *, on_page: Callable[[IngestReport], None] | None = None
    ) -> IngestReport:
        """Poll one stored feed from its cursor to the end; a failure is recorded in its health.

        ``on_page`` sees the report so far after each stored page (CLI progress)."""
        lock = self._feed_locks.setdefault(feed_id, asyncio.Lock())
        async with lock:
            async with self._sessions() as session:
                spec = await repository.get_feed_spec(session=session, feed_id=feed_id)
            if spec is None:
                raise ConfigurationError(f"no feed {feed_id!r}")
            return await self._run(spec, persisted=True, on_page=on_page)

    async def _run(
        self,
        spec: FeedSpec,
        *,
        persisted: bool,
        fetcher: Fetcher | None = None,
        on_page: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        report = IngestReport(feed_id=spec.id, kind=spec.kind)
        source = source_for(spec.kind)
        ctx = SourceContext(
            fetcher=(fetcher or self._fetcher).for_location(
                spec.location, credential_origins=credential_origins(spec)
            ),
            request_timeout=self._settings.ingest.request_timeout_seconds,
        )
        pages: AsyncIterator[Page] = source.pages(spec, ctx)
        try:
            async for page in pages:
                await self._apply(spec.id if persisted else None, page, report)
                if on_page is not None:
                    on_page(report)
                if self._stopping.is_set():
                    break
        except (FetchError, EwarnError, OSError, ValueError) as exc:
            await self._fail(spec, exc, report, persisted=persisted)
        else:
            if persisted:
                async with self._sessions() as session, session.begin():
                    await repository.clear_feed_error(session=session, feed_id=spec.id)
        finally:
            await _aclose(pages)
        log.info("feed_polled", feed=spec.id, kind=spec.kind, **_counts(report))
        return report

    async def _fail(self, spec: FeedSpec, exc: Exception, report: IngestReport, *, persisted: bool) -> None:
        reason = exc.reason if isinstance(exc, FetchError) else f"{type(exc).__name__}: {exc}"
        where = exc.location if isinstance(exc, FetchError) else spec.location
        report.error = reason
        rejection = spec.context().reject(redact(where), reason)
        log.warning("feed_failed", feed=spec.id, kind=spec.kind, error=reason[:500])
        now = utcnow()
        async with self._sessions() as session, session.begin():
            await store_rejections(session=session, rejections=[rejection], now=now)
            if persisted:
                await repository.record_feed_error(session=session, feed_id=spec.id, error=reason, now=now)
        _count_rejections(report, [rejection])

    async def _apply(self, feed_id: str | None, page: Page, report: IngestReport) -> None:
        """Store and publish one page, then its cursor, in one transaction: all of it or none of it."""
        now = utcnow()
        indicators = page.indicators  # the merge stamps ``ingested_at``
        turn: contextlib.AbstractAsyncContextManager[Any] = (
            self._vulnerability_turn
            if any(i.type is IndicatorType.VULNERABILITY for i in indicators)
            else contextlib.nullcontext()
        )
        async with turn, self._sessions() as session, session.begin():
            merged = await repository.read_page(session=session, indicators=indicators, now=now)
            news = merged.news
            # The news go to the bus while the page is written: both are waits on other servers, so they
            # overlap. The commit still comes only after every acknowledgement (at-least-once), and a failed
            # publish or write rolls the whole page back (nothing stored).
            publishing = asyncio.ensure_future(self._publish(merged)) if news else None
            try:
                await repository.write_page(session=session, page=merged, now=now)
                await store_rejections(session=session, rejections=page.rejections, now=now)
                if feed_id is not None:
                    await repository.save_progress(
                        session=session,
                        feed_id=feed_id,
                        cursor=page.cursor,
                        etag=page.etag,
                        last_modified=page.last_modified,
                        accepted=len(page.indicators),
                        rejected=len(page.rejections),
                        now=now,
                        skipped=page.skipped,
                        counts=page.counts,
                    )
            except BaseException:
                if publishing is not None:
                    publishing.cancel()  # published or not, nothing is stored: at-least-once holds either way
                    await asyncio.gather(publishing, return_exceptions=True)
                raise
            if publishing is not None:
                await publishing
        if page.sightings:
            await self._relay_sightings(page, report)
        report.pages += 1
        report.read += page.read
        report.skipped += page.skipped
        for reason, count in page.counts.items():
            report.counts[reason] = report.counts.get(reason, 0) + count
        report.accepted += len(page.indicators)
        report.published += len(news)
        _count_rejections(report, page.rejections)
        count_feed_page(
            report.feed_id,
            read=page.read,
            accepted=len(page.indicators),
            rejected=len(page.rejections),
            skipped=page.skipped,
        )

    async def _publish(self, merged: repository.MergedPage) -> None:
        """The page's news on the indicators topic, in the JSON text they are stored in."""
        await self._bus.publish_many(
            self._topics.indicators,
            [(item.key, merged.encoded[item.key].encode("utf-8")) for item in merged.news],
            headers={"ewarn-stage": b"ingest"},
        )

    async def _relay_sightings(self, page: Page, report: IngestReport) -> None:
        """A bundle's STIX sightings go to the sighting relay (reported as the feed); refusals are rejections."""
        if self._relay is None:
            self._relay = SightingRelay(
                sessions=self._sessions, bus=self._bus, topics=self._topics, settings=self._settings.sightings
            )
        accepted, refused = await self._relay.submit_from_feed(feed_id=report.feed_id, bundles=page.sightings)
        ctx = FeedContext(feed_id=report.feed_id, feed_kind=report.kind)
        rejections = [ctx.reject("sighting", f"sighting relay: {why}") for why in refused]
        if rejections:
            async with self._sessions() as session, session.begin():
                await store_rejections(session=session, rejections=rejections, now=utcnow())
            _count_rejections(report, rejections)
        if accepted:
            report.counts["sightings relayed"] = report.counts.get("sightings relayed", 0) + accepted

    # --- scheduler -------------------------------------------------------------------------------------

    async def run_scheduler(self) -> None:
        """Poll each enabled feed on its own interval (with jitter), a few at once, until ``stop``."""
        self._stopping.clear()
        limit = asyncio.Semaphore(max(1, self._settings.ingest.max_concurrent_feeds))
        due: dict[str, float] = {}
        running: dict[str, asyncio.Task[None]] = {}
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                async with self._sessions() as session:
                    feeds = await repository.list_feeds(session=session, enabled_only=True)
                now = loop.time()
                for feed in feeds:
                    if feed.id in running:
                        continue
                    if due.setdefault(feed.id, now) <= now:
                        due[feed.id] = now + self._jittered(feed.interval_seconds)
                        task = asyncio.create_task(self._poll_bounded(feed.id, limit))
                        running[feed.id] = task
                        task.add_done_callback(_forget(running, feed.id))
                next_due = min((t for fid, t in due.items() if fid not in running), default=now + 5.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=max(0.05, min(5.0, next_due - now)))
        finally:
            for task in list(running.values()):
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    def _jittered(self, interval: float) -> float:
        fraction = self._settings.ingest.poll_jitter_fraction
        return float(interval) * (1.0 + random.uniform(-fraction, fraction))

    async def _poll_bounded(self, feed_id: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                await self.poll_feed(feed_id)
            except Exception as exc:  # one broken feed must not stop the scheduler
                log.error("feed_poll_crashed", feed=feed_id, error=f"{type(exc).__name__}: {exc}"[:500])
                async with self._sessions() as session, session.begin():
                    await repository.record_feed_error(
                        session=session, feed_id=feed_id, error=f"{type(exc).__name__}: {exc}", now=utcnow()
                    )

    async def run(self) -> None:
        """The ingest role (``ewarn run ingest``): poll the feeds until ``stop``."""
        try:
            await self.run_scheduler()
        finally:
            await self._fetcher.aclose()

    def stop(self) -> None:
        """Finish the pages in flight and return from ``run_scheduler``."""
        self._stopping.set()


def _forget(running: dict[str, asyncio.Task[None]], feed_id: str) -> Callable[[asyncio.Task[None]], None]:
    def done(_task: asyncio.Task[None]) -> None:
        running.pop(feed_id, None)

    return done


def build_fetcher(
    settings: IngestSettings, http: httpx.AsyncClient, *, resolver: Resolver | None = None
) -> Fetcher:
    """The feed fetcher the settings describe: SSRF guard with the operator's allowed networks, file root,
    redirects; with a CA bundle it gets its own client (TLS verification stays on either way)."""
    context = feed_ssl_context(settings.ca_bundle)
    if context is not None:
        http = httpx.AsyncClient(
            verify=context, follow_redirects=False, headers={"User-Agent": "ewarn-ingest"}
        )
    return Fetcher(
        http,
        guard=SsrfGuard(resolver=resolver or SystemResolver(), allowed_networks=settings.allowed_networks),
        file_roots=[settings.file_root] if settings.file_root else [],
        max_redirects=settings.max_redirects,
        timeout=settings.request_timeout_seconds,
        max_bytes=settings.max_payload_bytes,
        owns_client=context is not None,
        ca_bundle=settings.ca_bundle,
    )


def _count_rejections(report: IngestReport, rejections: list[Rejection]) -> None:
    report.rejected += len(rejections)
    room = MAX_REPORTED_REJECTIONS - len(report.rejections)
    if room > 0:
        report.rejections.extend(rejections[:room])


def _counts(report: IngestReport) -> dict[str, int]:
    return {
        "read": report.read,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "skipped": report.skipped,
        "published": report.published,
    }


async def _aclose(pages: AsyncIterator[Page]) -> None:
    close = getattr(pages, "aclose", None)
    if close is not None:
        await close()


def ingest_service_for(runtime: Any) -> IngestService:
    """The runtime's ingest service (``runtime.services["ingest"]``), created on first use with its own
    HTTP client (kept at ``runtime.services["ingest_http"]`` so whoever closes the runtime can close it)."""
    service = runtime.services.get("ingest")
    if service is None:
        http = httpx.AsyncClient(
            timeout=runtime.settings.ingest.request_timeout_seconds,
            headers={"User-Agent": "ewarn-ingest"},
            follow_redirects=False,
        )
        service = IngestService(
            sessions=runtime.sessions,
            bus=runtime.bus,
            topics=runtime.topics,
            settings=runtime.settings,
            http=http,
        )
        runtime.services["ingest_http"] = http
        runtime.services["ingest"] = service
    if not isinstance(service, IngestService):
        raise ConfigurationError("runtime.services['ingest'] is not an IngestService")
    return service
