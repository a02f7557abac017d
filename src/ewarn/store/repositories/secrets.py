"""Stored secrets (subscription signing secrets, feed credentials): the session's key ring, and re-sealing.

A session finds its ``SecretBox`` in ``session.info["secret_box"]`` (set by whoever built the session factory)
or, failing that, from the settings (``EWARN_SECRETS__KEYS``, else the key file beside a SQLite database).
``reseal_all`` re-encrypts every stored secret with the newest key: plaintext left from before secrets were
encrypted, and values sealed under an older key. It works in batches, each its own transaction, changes a row only
if nobody changed it meanwhile, and does nothing to a value already under the newest key: safe to re-run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.crypto.keyring import secret_box_for
from ewarn.crypto.secretbox import SecretBox, SecretUnreadable
from ewarn.settings import load_settings
from ewarn.store.tables import FeedRow, SubscriptionRow

SESSION_INFO_KEY = "secret_box"
BATCH = 200


def box_of(session: AsyncSession) -> SecretBox:
    """The key ring of this session's database."""
    box = session.info.get(SESSION_INFO_KEY)
    if isinstance(box, SecretBox):
        return box
    bind = session.get_bind()  # the sync engine (or connection) behind the async session
    url = bind.engine.url.render_as_string(hide_password=False)
    box = secret_box_for(keys=load_settings().secrets.keys, database_url=url)
    session.info[SESSION_INFO_KEY] = box
    return box


@dataclass
class ResealReport:
    """What a re-sealing pass did; ``unreadable`` names rows no configured key opens."""

    examined: int = 0
    resealed: int = 0
    unreadable: list[str] = field(default_factory=list)


SessionOpener = Callable[[], Any]  # an async_sessionmaker: ``async with opener() as session``


async def reseal_all(
    *, sessions: SessionOpener, box: SecretBox | None = None, batch: int = BATCH
) -> ResealReport:
    """Seal every stored secret under the newest key (see module docstring)."""
    report = ResealReport()
    await _reseal_subscriptions(sessions, box, batch, report)
    await _reseal_feeds(sessions, box, batch, report)
    return report


async def _in_batches(
    sessions: SessionOpener,
    box: SecretBox | None,
    batch: int,
    page: Callable[[AsyncSession, str, int], Awaitable[list[Any]]],
    one: Callable[[AsyncSession, SecretBox, Any], Awaitable[None]],
) -> None:
    after = ""
    while True:
        async with sessions() as session:
            rows = await page(session, after, batch)
            if not rows:
                return
            ring = box or box_of(session)
            for row in rows:
                await one(session, ring, row)
            await session.commit()
        after = rows[-1].id


async def _reseal_subscriptions(
    sessions: SessionOpener, box: SecretBox | None, batch: int, report: ResealReport
) -> None:
    async def page(session: AsyncSession, after: str, size: int) -> list[Any]:
        stmt = (
            select(SubscriptionRow.id, SubscriptionRow.secret, SubscriptionRow.previous_secret)
            .where(SubscriptionRow.id > after)
            .order_by(SubscriptionRow.id)
            .limit(size)
        )
        return list((await session.execute(stmt)).all())

    async def one(session: AsyncSession, ring: SecretBox, row: Any) -> None:
        report.examined += 1
        for column in ("secret", "previous_secret"):
            stored = getattr(row, column)
            if not stored:
                continue
            name = f"subscription {row.id} ({column})"
            try:
                fresh = ring.reseal(stored, row=name)
            except SecretUnreadable:
                report.unreadable.append(name)
                continue
            if fresh is None:
                continue
            col = getattr(SubscriptionRow, column)
            result = await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.id == row.id, col == stored)
                .values({column: fresh})
            )
            report.resealed += int(getattr(result, "rowcount", 0) or 0)

    await _in_batches(sessions, box, batch, page, one)


async def _reseal_feeds(
    sessions: SessionOpener, box: SecretBox | None, batch: int, report: ResealReport
) -> None:
    async def page(session: AsyncSession, after: str, size: int) -> list[Any]:
        stmt = select(FeedRow).where(FeedRow.id > after).order_by(FeedRow.id).limit(size)
        return list((await session.scalars(stmt)).all())

    async def one(session: AsyncSession, ring: SecretBox, row: Any) -> None:
        report.examined += 1
        name = f"feed {row.id} (credentials)"
        try:
            fresh = ring.reseal_json(row.credentials, row=name)
        except SecretUnreadable:
            report.unreadable.append(name)
            return
        if fresh is not None:
            row.credentials = fresh  # the session flushes it with the batch's commit
            report.resealed += 1

    await _in_batches(sessions, box, batch, page, one)
