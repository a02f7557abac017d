"""The status report as a stream: a fresh report whenever its figures change, and at least every few seconds.

Each check takes one short session (through the API's database gate) and gives it back; the operator's key is
re-read every time, so a revoked or expired key ends its stream within one check.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import utcnow
from ewarn.status.report import StatusReport, build_status
from ewarn.store.tables import ApiKeyRow

CHECK_SECONDS = 1.0  # how often the figures are read again
IDLE_SECONDS = 3.0  # a report goes out at least this often, so the page can tell the stream is alive


async def key_active(*, session: AsyncSession, key_id: str) -> bool:
    """Whether the key is still neither revoked nor expired."""
    now = utcnow()
    found = await session.scalar(
        select(ApiKeyRow.id).where(
            ApiKeyRow.id == key_id,
            ApiKeyRow.revoked.is_(False),
            or_(ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > now),
        )
    )
    return found is not None


def figures(report: StatusReport) -> str:
    """The report without what changes with the clock alone (its time, seconds since each heartbeat)."""
    body: dict[str, Any] = report.model_dump(mode="json", exclude={"generated_at"})
    for role in body.get("roles", []):
        role.pop("last_beat_seconds_ago", None)
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


async def status_reports(
    *,
    session_scope: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    key_id: str,
    busy: type[BaseException],
    check_seconds: float = CHECK_SECONDS,
    idle_seconds: float = IDLE_SECONDS,
) -> AsyncIterator[StatusReport]:
    """Reports as the figures change; ends when the key is no longer active. ``busy``: a skipped check."""
    last: str | None = None
    sent_at = 0.0
    while True:
        report: StatusReport | None = None
        try:
            async with session_scope() as session:
                if not await key_active(session=session, key_id=key_id):
                    return
                report = await build_status(session=session)
        except busy:
            report = None
        if report is not None:
            now = time.monotonic()
            current = figures(report)
            if current != last or now - sent_at >= idle_seconds:
                last, sent_at = current, now
                yield report
        await asyncio.sleep(check_seconds)
