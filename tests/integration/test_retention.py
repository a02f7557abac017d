"""Retention on SQLite and PostgreSQL: old finished rows go, young ones and anything still needed stay."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.processes import child_environment, ewarn_command
from tests.support.receivers import add_provider

from ewarn.models.common import utcnow
from ewarn.retention.prune import ADVISORY_LOCK_KEY, TARGET_NAMES, prune_once, retention_totals
from ewarn.settings import RetentionSettings
from ewarn.status.report import build_status
from ewarn.store.db import SessionFactory, create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.tables import (
    AlertEventRow,
    AlertRow,
    AuditLogRow,
    DeliveryAttemptRow,
    DeliveryRow,
    HeartbeatRow,
    IndicatorCveRow,
    IndicatorRow,
    QuarantineRow,
    RejectionRow,
    SubscriptionRow,
)

NOW = utcnow()
OLD = NOW - timedelta(days=400)  # older than every default age
YOUNG = NOW - timedelta(hours=1)


def _delivery(did: str, sub: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "id": did,
        "alert_id": "al_1",
        "alert_revision": 1,
        "subscription_id": sub,
        "provider_id": "st-elsewhere",
        "channel": "webhook",
        "status": status,
        "attempts": 1,
        "attempts_before_replay": 0,
        "payload": {"id": "al_1"},
        "created_at": at,
        "next_attempt_at": at if status == "pending" else None,
        "delivered_at": at if status == "delivered" else None,
    }


def _alert(aid: str, indicator: str, revision: int) -> dict[str, Any]:
    return {
        "id": aid,
        "provider_id": "st-elsewhere",
        "indicator_key": indicator,
        "asset_id": "ast_1",
        "revision": revision,
        "severity": "high",
        "score": 0.8,
        "status": "resolved",
        "data": {},
        "matched_at": OLD,
        "created_at": OLD,
        "updated_at": OLD,
    }


def _indicator(
    key: str, *, valid_until: datetime | None, revoked: bool, last_seen: datetime
) -> dict[str, Any]:
    return {
        "key": key,
        "type": "ipv4",
        "data": {},
        "tlp": "clear",
        "revoked": revoked,
        "valid_until": valid_until,
        "first_seen": OLD,
        "last_seen": last_seen,
    }


def _quarantine(kind: str, key: str, at: datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "stage": "dispatch",
        "reason": "bad",
        "excerpt": "x",
        "occurrences": 1,
        "first_seen_at": at,
        "last_seen_at": at,
    }


def _heartbeat(iid: str, at: datetime) -> dict[str, Any]:
    return {
        "instance_id": iid,
        "role": "dispatch",
        "host": "h",
        "pid": 1,
        "started_at": at,
        "last_beat_at": at,
        "stats": {},
    }


# What each row is and whether a pass with the default ages must keep it.
KEPT = {
    "deliveries": {
        "old-delivered-1": False,
        "old-delivered-2": False,
        "old-delivered-3": False,
        "old-skipped": False,
        "old-dead": False,
        "young-delivered": True,
        "young-dead": True,
        "old-pending": True,  # undelivered: kept whatever its age
    },
    "alert_events": {"al_1@1": False, "al_1@2": True, "al_2@1": True},  # al_1@2 is current; al_2@1 young
    "indicators": {
        "ipv4:198.51.100.1": False,  # expired long ago, no alert names it
        "ipv4:198.51.100.2": True,  # expired long ago, but an alert names it
        "ipv4:198.51.100.3": False,  # revoked long ago
        "ipv4:198.51.100.4": True,  # never expires
        "ipv4:198.51.100.5": True,  # expired an hour ago
    },
    "rejections": {"rej-old": False, "rej-young": True},
    "heartbeats": {"hb-old": False, "hb-young": True},
    "quarantine": {"asset:old": False, "alert:al_1@1": False, "alert:al_1@2": True, "asset:young": True},
    "audit_log": {"cli:old-operator": False, "cli:young-operator": True},
}


def _audit(actor: str, at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "actor_role": "cli",
        "actor_name": "",
        "action": "create",
        "resource": "feed",
        "target_ids": ["kev"],
        "provider_id": None,
        "summary": {},
    }


async def _seed(sessions: SessionFactory) -> None:
    await add_provider(sessions)
    sub_id = "sub_1"
    ages = {"old": OLD, "young": YOUNG}
    rows = [_delivery(did, sub_id, did.split("-")[1], ages[did.split("-")[0]]) for did in KEPT["deliveries"]]
    async with sessions() as session:
        # A plain row: the subscription's own rules (secrets, targets) are not what retention is about.
        await session.execute(
            insert(SubscriptionRow).values(
                id=sub_id,
                provider_id="st-elsewhere",
                channel="webhook",
                target="https://hooks.example.org/x",
                created_at=OLD,
            )
        )
        await session.execute(insert(DeliveryRow), rows)
        await session.execute(
            insert(DeliveryAttemptRow),
            [
                {
                    "delivery_id": r["id"],
                    "attempt": 1,
                    "at": r["created_at"],
                    "ok": r["status"] == "delivered",
                }
                for r in rows
            ],
        )
        await session.execute(
            insert(AlertRow), [_alert("al_1", "ipv4:198.51.100.2", 2), _alert("al_2", "ipv4:198.51.100.9", 1)]
        )
        await session.execute(
            insert(AlertEventRow),
            [
                {"provider_id": "st-elsewhere", "alert_id": "al_1", "revision": 1, "created_at": OLD},
                {"provider_id": "st-elsewhere", "alert_id": "al_1", "revision": 2, "created_at": OLD},
                {"provider_id": "st-elsewhere", "alert_id": "al_2", "revision": 1, "created_at": YOUNG},
            ],
        )
        await session.execute(
            insert(IndicatorRow),
            [
                _indicator("ipv4:198.51.100.1", valid_until=OLD, revoked=False, last_seen=OLD),
                _indicator("ipv4:198.51.100.2", valid_until=OLD, revoked=False, last_seen=OLD),
                _indicator("ipv4:198.51.100.3", valid_until=None, revoked=True, last_seen=OLD),
                _indicator("ipv4:198.51.100.4", valid_until=None, revoked=False, last_seen=OLD),
                _indicator("ipv4:198.51.100.5", valid_until=YOUNG, revoked=False, last_seen=OLD),
            ],
        )
        await session.execute(
            insert(IndicatorCveRow), [{"indicator_key": "ipv4:198.51.100.1", "cve": "CVE-2019-0708"}]
        )
        await session.execute(
            insert(RejectionRow),
            [
                {
                    "id": rid,
                    "feed_id": "f",
                    "feed_kind": "csv",
                    "record": "r",
                    "reason": "bad",
                    "rejected_at": at,
                }
                for rid, at in (("rej-old", OLD), ("rej-young", YOUNG))
            ],
        )
        await session.execute(
            insert(HeartbeatRow), [_heartbeat("hb-old", OLD), _heartbeat("hb-young", YOUNG)]
        )
        await session.execute(
            insert(QuarantineRow),
            [
                _quarantine("asset", "old", OLD),
                _quarantine("alert", "al_1@1", OLD),
                _quarantine("alert", "al_1@2", OLD),
                _quarantine("asset", "young", YOUNG),
            ],
        )
        await session.execute(
            insert(AuditLogRow), [_audit("cli:old-operator", OLD), _audit("cli:young-operator", YOUNG)]
        )
        await session.commit()


async def _present(sessions: SessionFactory) -> dict[str, set[str]]:
    async with sessions() as session:
        events = await session.execute(select(AlertEventRow.alert_id, AlertEventRow.revision))
        held = await session.execute(select(QuarantineRow.kind, QuarantineRow.key))
        return {
            "deliveries": set(await session.scalars(select(DeliveryRow.id))),
            "alert_events": {f"{a}@{r}" for a, r in events},
            "indicators": set(await session.scalars(select(IndicatorRow.key))),
            "rejections": set(await session.scalars(select(RejectionRow.id))),
            "heartbeats": set(
                await session.scalars(
                    select(HeartbeatRow.instance_id).where(HeartbeatRow.role != "retention")
                )
            ),
            "quarantine": {f"{k}:{v}" for k, v in held},
            "audit_log": set(await session.scalars(select(AuditLogRow.actor))),
            "attempts_of": set(await session.scalars(select(DeliveryAttemptRow.delivery_id))),
            "cves_of": set(await session.scalars(select(IndicatorCveRow.indicator_key))),
        }


def _engine(sessions: SessionFactory) -> AsyncEngine:
    engine: AsyncEngine = sessions.kw["bind"]
    return engine


async def test_old_finished_rows_go_and_needed_rows_stay(sessions: SessionFactory) -> None:
    await _seed(sessions)
    report = await prune_once(engine=_engine(sessions), settings=RetentionSettings(), now=NOW)
    present = await _present(sessions)
    for table, rows in KEPT.items():
        assert present[table] == {k for k, kept in rows.items() if kept}, table
    assert present["attempts_of"] == present["deliveries"], "attempts leave with their delivery"
    assert present["cves_of"] == set(), "the CVE index of a pruned advisory leaves with it"
    assert report.pruned == {
        "deliveries_delivered": 4,
        "deliveries_dead": 1,
        "alert_events": 1,
        "rejections": 1,
        "indicators": 2,
        "heartbeats": 1,
        "quarantine": 2,
        "audit_log": 1,
    }


async def test_second_pass_prunes_nothing_and_totals_add_up(sessions: SessionFactory) -> None:
    await _seed(sessions)
    first = await prune_once(engine=_engine(sessions), settings=RetentionSettings(), now=NOW)
    second = await prune_once(engine=_engine(sessions), settings=RetentionSettings(), now=NOW)
    assert first.total == 13 and second.total == 0
    async with sessions() as session:
        totals = await retention_totals(conn_or_session=session)
        status = await build_status(session=session)
    assert totals is not None and totals.passes == 2
    assert totals.total == first.pruned and totals.last_run == dict.fromkeys(TARGET_NAMES, 0)
    assert status.retention is not None
    assert (status.retention.total, status.retention.last_run) == (13, 0)
    assert status.retention.total_by_table["audit_log"] == 1, "audit rows counted like the other tables"
    assert all(r.role != "retention" for r in status.roles), "the totals row is not a role"


@pytest.mark.parametrize(
    ("batch_size", "expected_batches"),
    [pytest.param(1, [1, 2, 3, 4], id="one-per-batch"), pytest.param(3, [3, 4], id="three-per-batch")],
)
async def test_batches_are_bounded(
    sessions: SessionFactory, batch_size: int, expected_batches: list[int]
) -> None:
    await _seed(sessions)
    seen: list[int] = []

    def progress(table: str, done: int, candidates: int) -> None:
        if table == "deliveries_delivered":
            assert candidates == 4
            seen.append(done)

    settings = RetentionSettings(batch_size=batch_size)
    await prune_once(engine=_engine(sessions), settings=settings, now=NOW, progress=progress)
    assert seen == [0, *expected_batches]
    steps = [b - a for a, b in itertools.pairwise(seen)]
    assert max(steps) <= batch_size


async def test_age_zero_keeps_a_table_forever(sessions: SessionFactory) -> None:
    await _seed(sessions)
    settings = RetentionSettings(delivered_days=0, dead_days=0)
    report = await prune_once(engine=_engine(sessions), settings=settings, now=NOW)
    assert report.pruned["deliveries_delivered"] == report.pruned["deliveries_dead"] == 0
    assert (await _present(sessions))["deliveries"] == set(KEPT["deliveries"])


@pytest.mark.parametrize(
    ("audit_days", "kept"),
    [
        pytest.param(0, {"cli:old-operator", "cli:young-operator"}, id="zero-keeps-the-trail-forever"),
        pytest.param(500, {"cli:old-operator", "cli:young-operator"}, id="longer-than-the-oldest-row"),
        pytest.param(30 / 1440, set(), id="thirty-minutes"),
    ],
)
async def test_audit_age_is_configurable(sessions: SessionFactory, audit_days: float, kept: set[str]) -> None:
    await _seed(sessions)
    report = await prune_once(
        engine=_engine(sessions), settings=RetentionSettings(audit_days=audit_days), now=NOW
    )
    assert (await _present(sessions))["audit_log"] == kept
    assert report.pruned["audit_log"] == 2 - len(kept)


async def test_young_rows_stay_under_a_short_age(sessions: SessionFactory) -> None:
    """With a 30-minute age the one-hour-old delivered row goes too, the pending one still stays."""
    await _seed(sessions)
    settings = RetentionSettings(delivered_days=30 / 1440)
    await prune_once(engine=_engine(sessions), settings=settings, now=NOW)
    assert (await _present(sessions))["deliveries"] == {"young-dead", "old-pending"}


async def test_one_pruner_at_a_time_on_postgresql(pg_sessions: SessionFactory) -> None:
    """While another process holds the pruning lock a pass skips; once released, the next one prunes."""
    await _seed(pg_sessions)
    engine = _engine(pg_sessions)
    async with engine.connect() as holder:
        assert await holder.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        skipped = await prune_once(engine=engine, settings=RetentionSettings(), now=NOW)
        assert skipped.skipped and skipped.total == 0
        assert (await _present(pg_sessions))["deliveries"] == set(KEPT["deliveries"])
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
    ran = await prune_once(engine=engine, settings=RetentionSettings(), now=NOW)
    assert not ran.skipped and ran.total == 13


async def test_prune_command_runs_one_pass_and_prints_the_counts(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ewarn.db'}"
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        await _seed(session_factory(engine))
    finally:
        await engine.dispose()
    env = child_environment({"EWARN_DATABASE_URL": url, "EWARN_RETENTION__DEAD_DAYS": "0"})
    done = await asyncio.to_thread(
        subprocess.run,
        [*ewarn_command(), "prune"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = dict(line.split("\t")[:2] for line in done.stdout.splitlines())
    assert counts["deliveries_delivered"] == "4"
    assert counts["deliveries_dead"] == "0", "EWARN_RETENTION__DEAD_DAYS=0 keeps dead rows"
    assert counts["audit_log"] == "1"
    assert counts["total"] == "12"
