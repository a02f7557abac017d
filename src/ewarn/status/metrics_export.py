"""Export this process's metrics: database gauges sampled on demand or periodically, the text exposition, and
the unauthenticated port a role process serves on ``EWARN_METRICS__PORT`` (loopback by default).

The database gauges (outbox depth, quarantined records, feed freshness) are the same seen from every process
of one deployment; dashboards and alert rules aggregate them with ``max``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.logging import get_logger
from ewarn.models.common import utcnow
from ewarn.models.subscription import Channel
from ewarn.settings import MetricsSettings
from ewarn.status.metrics import (
    FEED_INTERVAL,
    FEED_LAST_SUCCESS_AGE,
    OUTBOX_DEPTH,
    QUARANTINE_KINDS,
    QUARANTINED,
    REGISTRY,
)
from ewarn.store.db import SessionFactory, as_utc
from ewarn.store.tables import DeliveryRow, FeedRow, QuarantineRow

log = get_logger(__name__)


async def sample_database(session: AsyncSession) -> None:
    """Refresh the gauges read from the database (outbox depth, quarantine, feed freshness)."""
    pending = dict(
        (
            await session.execute(
                select(DeliveryRow.channel, func.count())
                .where(DeliveryRow.status == "pending")
                .group_by(DeliveryRow.channel)
            )
        ).all()
    )
    for channel in {c.value for c in Channel} | set(pending):
        OUTBOX_DEPTH.labels(channel=str(channel)).set(int(pending.get(channel, 0)))
    by_kind = dict(
        (await session.execute(select(QuarantineRow.kind, func.count()).group_by(QuarantineRow.kind))).all()
    )
    for kind in {*QUARANTINE_KINDS, *by_kind}:  # the stages' kinds always, at 0 when none is set aside
        QUARANTINED.labels(kind=str(kind)).set(int(by_kind.get(kind, 0)))
    now = utcnow()
    feeds = (
        await session.execute(
            select(FeedRow.id, FeedRow.last_success_at, FeedRow.created_at, FeedRow.interval_seconds).where(
                FeedRow.enabled.is_(True)
            )
        )
    ).all()
    FEED_LAST_SUCCESS_AGE.clear()  # a feed removed or disabled is no longer stale
    FEED_INTERVAL.clear()
    for feed_id, last_success, created, interval in feeds:
        since = as_utc(last_success) or as_utc(created) or now
        FEED_LAST_SUCCESS_AGE.labels(feed=feed_id).set(max(0.0, (now - since).total_seconds()))
        FEED_INTERVAL.labels(feed=feed_id).set(float(interval))


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process's registry and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def _sample_forever(sessions: SessionFactory, interval: float) -> None:
    while True:
        try:
            async with sessions() as session:
                await sample_database(session)
        except Exception as exc:  # a failed sample leaves the last values; the role itself goes on
            log.warning("metrics_sample_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def exporting(settings: MetricsSettings, sessions: SessionFactory) -> AsyncIterator[int | None]:
    """Serve this registry on ``settings.host:port`` (unauthenticated; loopback by default) and refresh the
    database gauges every ``sample_seconds`` while inside; yields the bound port, or None when off."""
    if settings.port is None:
        yield None
        return
    server, thread = start_http_server(settings.port, addr=settings.host, registry=REGISTRY)
    bound = int(server.server_address[1])
    log.info("metrics_listening", host=settings.host, port=bound)
    sampler = asyncio.create_task(_sample_forever(sessions, settings.sample_seconds))
    try:
        yield bound
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
