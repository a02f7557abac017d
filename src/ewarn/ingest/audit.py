"""Audit rows of ingest work: a pushed document or an on-demand feed poll, with its counts.

Written in a transaction of its own once the work is done (a poll commits page by page, a push in one go), so
the row says what was actually stored. The summary holds counts and the error, never a credential:
``record_audit`` redacts secret-looking names and values, and feed credentials are not passed to it at all.
"""

from __future__ import annotations

from typing import Any

from ewarn.ingest.models import IngestReport
from ewarn.models.provider import Principal
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.audit import AuditActor, record_audit


def report_summary(report: IngestReport) -> dict[str, Any]:
    """The counts of an ingest report, as the audit row keeps them."""
    summary: dict[str, Any] = {
        "kind": report.kind,
        "read": report.read,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "published": report.published,
        "pages": report.pages,
        "skipped": report.skipped,
    }
    if report.error:
        summary["error"] = report.error
    return summary


async def audit_ingest(
    sessions: SessionFactory,
    actor: Principal | AuditActor,
    action: str,
    report: IngestReport,
    **detail: Any,
) -> None:
    """Record ``action`` ("push", "poll") on the report's feed with its counts and ``detail``."""
    async with sessions() as session:
        await record_audit(session, actor, action, "feed", [report.feed_id], report_summary(report) | detail)
        await session.commit()
