"""Feeds and indicators in the database (keyword-only, session first); rejections: ``ewarn.ingest.rejections``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, delete, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.crypto.secretbox import SecretBox
from ewarn.ingest import exploited
from ewarn.ingest.merge import is_news, merge_all
from ewarn.ingest.models import Feed, FeedHealth, FeedIn, FeedPatch
from ewarn.ingest.sources.base import FeedSpec
from ewarn.models.common import TLP, utcnow
from ewarn.models.indicator import Indicator, IndicatorType
from ewarn.store.db import EncodedJson, as_utc, upsert
from ewarn.store.repositories.secrets import box_of
from ewarn.store.tables import FeedRow, IndicatorRow

_KEY_CHUNK = 500


# --- feeds -------------------------------------------------------------------------------------------------


def _feed_from_row(row: FeedRow) -> Feed:
    return Feed(
        id=row.id,
        kind=row.kind,
        name=row.name,
        location=row.location,
        config=dict(row.config or {}),
        has_credentials=bool(row.credentials),
        interval_seconds=row.interval_seconds,
        default_tlp=TLP(row.default_tlp),
        enabled=row.enabled,
        cursor=dict(row.cursor or {}),
        created_at=as_utc(row.created_at) or utcnow(),
    )


def spec_from_row(row: FeedRow, box: SecretBox) -> FeedSpec:
    """The feed as the poller needs it, credentials decrypted (``SecretUnreadable`` names the feed)."""
    return FeedSpec(
        id=row.id,
        kind=row.kind,
        location=row.location,
        name=row.name,
        config=dict(row.config or {}),
        credentials=box.open_json(row.credentials, row=f"feed {row.id} (credentials)"),
        default_tlp=TLP(row.default_tlp),
        cursor=dict(row.cursor or {}),
        etag=row.etag,
        last_modified=row.last_modified,
    )


async def create_feed(*, session: AsyncSession, feed: FeedIn) -> Feed:
    """Create a feed; ``ValueError`` when the id is taken."""
    if await session.get(FeedRow, feed.id) is not None:
        raise ValueError(f"feed {feed.id!r} already exists")
    row = FeedRow(
        id=feed.id,
        kind=feed.kind,
        name=feed.name or feed.id,
        location=feed.location,
        config=feed.config,
        credentials=box_of(session).seal_json(feed.credentials),
        interval_seconds=feed.interval_seconds,
        default_tlp=feed.default_tlp.value,
        enabled=feed.enabled,
        cursor={},
        accepted_total=0,
        rejected_total=0,
        skipped_total=0,
        counts={},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _feed_from_row(row)


async def get_feed(*, session: AsyncSession, feed_id: str) -> Feed | None:
    row = await session.get(FeedRow, feed_id, populate_existing=True)
    return _feed_from_row(row) if row else None


async def get_feed_spec(*, session: AsyncSession, feed_id: str) -> FeedSpec | None:
    """The feed with its credentials and cursor, for the poller only."""
    row = await session.get(FeedRow, feed_id, populate_existing=True)
    return spec_from_row(row, box_of(session)) if row else None


async def list_feeds(
    *, session: AsyncSession, enabled_only: bool = False, after: str | None = None, limit: int | None = None
) -> list[Feed]:
    """By id; ``after``: the last id of the previous page."""
    stmt = select(FeedRow).order_by(FeedRow.id).limit(limit)
    if enabled_only:
        stmt = stmt.where(FeedRow.enabled.is_(True))
    if after is not None:
        stmt = stmt.where(FeedRow.id > after)
    return [_feed_from_row(row) for row in (await session.scalars(stmt)).all()]


async def update_feed(*, session: AsyncSession, feed_id: str, patch: FeedPatch) -> Feed | None:
    row = await session.get(FeedRow, feed_id)
    if row is None:
        return None
    changes = patch.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if name == "default_tlp" and value is not None:
            value = TLP(value).value
        if name == "credentials" and value is not None:
            value = box_of(session).seal_json(value)
        if value is not None:
            setattr(row, name, value)
    if "location" in changes:  # a new location starts from scratch
        row.cursor, row.etag, row.last_modified = {}, None, None
    await session.flush()
    return _feed_from_row(row)


async def delete_feed(*, session: AsyncSession, feed_id: str) -> bool:
    result = await session.execute(delete(FeedRow).where(FeedRow.id == feed_id))
    return bool(getattr(result, "rowcount", 0))


async def feed_health(
    *, session: AsyncSession, feed_id: str, now: datetime | None = None
) -> FeedHealth | None:
    """Last success, last error, totals and lag of one feed."""
    row = await session.get(FeedRow, feed_id, populate_existing=True)
    if row is None:
        return None
    now = now or utcnow()
    last_success = as_utc(row.last_success_at)
    lag = (now - last_success).total_seconds() if last_success else None
    return FeedHealth(
        feed_id=row.id,
        kind=row.kind,
        enabled=row.enabled,
        last_polled_at=as_utc(row.last_polled_at),
        last_success_at=last_success,
        last_error=row.last_error,
        last_error_at=as_utc(row.last_error_at),
        accepted_total=row.accepted_total,
        rejected_total=row.rejected_total,
        skipped_total=row.skipped_total or 0,
        counts=dict(row.counts or {}),
        interval_seconds=row.interval_seconds,
        lag_seconds=lag,
        overdue=lag is None or lag > 2 * row.interval_seconds,
    )


async def save_progress(
    *,
    session: AsyncSession,
    feed_id: str,
    cursor: dict[str, Any] | None,
    etag: str | None,
    last_modified: str | None,
    accepted: int,
    rejected: int,
    now: datetime,
    skipped: int = 0,
    counts: Mapping[str, int] | None = None,
) -> None:
    """Store a page's cursor and counters; call only after its indicators are stored and published."""
    row = await session.get(FeedRow, feed_id)
    if row is None:
        return
    if cursor is not None:
        row.cursor = cursor
    if etag is not None:
        row.etag = etag
    if last_modified is not None:
        row.last_modified = last_modified
    row.accepted_total = (row.accepted_total or 0) + accepted
    row.rejected_total = (row.rejected_total or 0) + rejected
    if skipped:
        row.skipped_total = (row.skipped_total or 0) + skipped
    if counts:
        total = Counter(row.counts or {})
        total.update(counts)
        row.counts = dict(total)  # a new dict: the JSON column is not mutation-tracked
    row.last_polled_at = now
    row.last_success_at = now


async def reset_feed_cursor(*, session: AsyncSession, feed_id: str) -> bool:
    """Forget where the feed's polls got to (cursor, ETag, Last-Modified): the next poll reads it all again."""
    row = await session.get(FeedRow, feed_id)
    if row is None:
        return False
    row.cursor = {}
    row.etag = None
    row.last_modified = None
    return True


async def record_feed_error(*, session: AsyncSession, feed_id: str, error: str, now: datetime) -> None:
    row = await session.get(FeedRow, feed_id)
    if row is None:
        return
    row.last_error = error[:4000]
    row.last_error_at = now
    row.last_polled_at = now


async def clear_feed_error(*, session: AsyncSession, feed_id: str) -> None:
    row = await session.get(FeedRow, feed_id)
    if row is not None:
        row.last_error = None


# --- indicators --------------------------------------------------------------------------------------------


async def load_indicators(*, session: AsyncSession, keys: Sequence[str]) -> dict[str, Indicator]:
    """Stored indicators by key; stored JSON text goes to pydantic as it is (no dict in between)."""
    found: dict[str, Indicator] = {}
    unique = list(dict.fromkeys(keys))
    stored_json = type_coerce(IndicatorRow.data, Text)
    for start in range(0, len(unique), _KEY_CHUNK):
        chunk = unique[start : start + _KEY_CHUNK]
        rows = await session.execute(select(IndicatorRow.key, stored_json).where(IndicatorRow.key.in_(chunk)))
        for key, data in rows:  # SQLite hands back the text; asyncpg decodes JSON itself
            found[key] = (
                Indicator.model_validate_json(data)
                if isinstance(data, str)
                else Indicator.model_validate(data)
            )
    return found


@dataclass(frozen=True)
class MergedPage:
    """A page merged into the ``indicators`` table: every merged indicator, the news (changed for the
    correlator), and each one's JSON as stored, serialised once: the news go to the bus in the same text."""

    merged: list[Indicator]
    news: list[Indicator]
    encoded: dict[str, str]


async def merge_indicators(
    *, session: AsyncSession, indicators: Sequence[Indicator], now: datetime
) -> tuple[list[Indicator], list[Indicator]]:
    """Merge a page into the ``indicators`` table by key; returns (merged, the ones that changed)."""
    page = await merge_page(session=session, indicators=indicators, now=now)
    return page.merged, page.news


async def merge_page(*, session: AsyncSession, indicators: Sequence[Indicator], now: datetime) -> MergedPage:
    """Merge a page into the ``indicators`` table by key: one read of what is stored, one upsert per 500.

    Advisories carry the KEV status of their CVEs, and stored advisories naming a CVE this page newly marks
    known exploited come back enriched among the merged and the news (see ``ewarn.ingest.exploited``).
    """
    page = await read_page(session=session, indicators=indicators, now=now)
    await write_page(session=session, page=page, now=now)
    return page


async def read_page(*, session: AsyncSession, indicators: Sequence[Indicator], now: datetime) -> MergedPage:
    """The first half of ``merge_page``: read what is stored and merge the page into it, writing nothing yet
    (the ingest stage publishes the news while ``write_page`` stores them, and commits after both)."""
    if not indicators:
        return MergedPage([], [], {})
    if any(i.type is IndicatorType.VULNERABILITY for i in indicators):
        await exploited.take_turn(session=session)
    stored = await load_indicators(session=session, keys=[i.key for i in indicators])
    merged = merge_all(stored, indicators, now=now)
    merged, before = await _with_kev_status(session=session, stored=stored, merged=merged, now=now)
    news = [item for key, item in merged.items() if is_news(before.get(key), item)]
    encoded = {key: item.model_dump_json() for key, item in merged.items()}
    return MergedPage(list(merged.values()), news, encoded)


async def write_page(*, session: AsyncSession, page: MergedPage, now: datetime) -> None:
    """The second half of ``merge_page``: upsert the merged indicators as ``read_page`` encoded them."""
    if not page.merged:
        return
    rows = [
        {
            "key": item.key,
            "type": item.type.value,
            "data": EncodedJson(page.encoded[item.key]),
            "tlp": item.tlp.value,
            "revoked": item.revoked,
            "valid_until": item.valid_until,
            "first_seen": item.first_seen or now,
            "last_seen": item.last_seen or now,
        }
        for item in page.merged
    ]
    for start in range(0, len(rows), _KEY_CHUNK):
        await upsert(
            session,
            IndicatorRow,
            rows[start : start + _KEY_CHUNK],
            conflict=["key"],
            update=["type", "data", "tlp", "revoked", "valid_until", "last_seen"],
        )
    await exploited.save_advisory_cves(session=session, advisories=page.merged)


async def _with_kev_status(
    *, session: AsyncSession, stored: dict[str, Indicator], merged: dict[str, Indicator], now: datetime
) -> tuple[dict[str, Indicator], dict[str, Indicator]]:
    """The merged page with its advisories enriched, plus the stored advisories a new KEV status changes;
    and what was stored before for each of them (to tell news)."""
    flipped = exploited.newly_exploited(stored, merged)
    reopened: dict[str, Indicator] = {}
    if flipped:
        naming = await exploited.advisories_naming(session=session, cves=flipped)
        reopened = {key: item for key, item in naming.items() if key not in merged}
    advisories = [i for i in (*merged.values(), *reopened.values()) if exploited.is_advisory(i)]
    if not advisories:
        return merged, stored
    wanted = {exploited.cve_key(cve) for a in advisories for cve in exploited.advisory_cves(a)}
    cves = await exploited.load_by_keys(session=session, keys=wanted - merged.keys())
    cves.update({key: merged[key] for key in wanted & merged.keys()})  # this page's word is the newest
    out = dict(merged)
    for key, item in exploited.enrich_all(advisories, cves).items():
        if key in merged:
            out[key] = item
        elif item != reopened[key]:
            out[key] = item.model_copy(update={"ingested_at": now})
    return out, {**reopened, **stored}


async def get_indicator(*, session: AsyncSession, key: str) -> Indicator | None:
    row = await session.get(IndicatorRow, key, populate_existing=True)
    return Indicator.model_validate(row.data) if row else None


async def count_indicators(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(IndicatorRow)) or 0)
