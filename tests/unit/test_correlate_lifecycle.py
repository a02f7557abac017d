"""Revision rules: a new revision only on material change; the provider's verdict survives revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ewarn.correlate.lifecycle import next_revision, resolve
from ewarn.models import TLP, Alert, AlertStatus, IndicatorType, MatchDetail, Severity

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def alert(**fields: Any) -> Alert:
    base: dict[str, Any] = {
        "id": "alr_1",
        "revision": 1,
        "provider_id": "p",
        "indicator_key": "vulnerability:CVE-2024-1",
        "indicator_type": IndicatorType.VULNERABILITY,
        "asset_id": "a",
        "title": "t",
        "severity": Severity.HIGH,
        "score": 62.0,
        "reason": "BD Alaris Infusion Pump firmware 12.1.0 on your device 'ICU pumps' is within the affected "
        "range < 12.1.2 of ICSMA-20-296-02.",
        "match": MatchDetail(
            asset_id="a",
            asset_name="n",
            asset_kind="medical_device",
            field="vendor+product",
            asset_value="v",
            indicator_value="i",
        ),
        "tlp": TLP.CLEAR,
        "matched_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return Alert(**{**base, **fields})


@pytest.mark.parametrize(
    ("stored", "candidate", "revision", "status"),
    [
        pytest.param(None, {}, 1, AlertStatus.NEW, id="first-match-is-revision-1"),
        pytest.param({}, {"matched_at": T1}, None, None, id="re-ingest-unchanged-no-revision"),
        pytest.param({}, {"score": 64.5}, None, None, id="small-score-drift-no-revision"),
        pytest.param({}, {"score": 67.0}, 2, AlertStatus.NEW, id="score-change"),
        pytest.param(
            {}, {"score": 81.0, "severity": Severity.CRITICAL}, 2, AlertStatus.NEW, id="severity-change"
        ),
        pytest.param({}, {"known_exploited": True}, 2, AlertStatus.NEW, id="newly-known-exploited"),
        pytest.param({"known_exploited": True}, {"known_exploited": True}, None, None, id="still-exploited"),
        pytest.param({}, {"fix_available": True}, 2, AlertStatus.NEW, id="fix-available"),
        pytest.param(
            {"fix_available": True}, {"fix_available": False}, None, None, id="fix-not-un-announced"
        ),
        pytest.param(
            {"status": AlertStatus.RESOLVED, "revision": 3}, {}, 4, AlertStatus.NEW, id="matches-again"
        ),
        pytest.param(
            {"cves": ["CVE-2020-25150"]},
            {"cves": ["CVE-2020-25150", "CVE-2020-25158"]},
            2,
            AlertStatus.NEW,
            id="advisory-revision-adds-a-cve-that-hits",
        ),
        pytest.param(
            {"cves": ["CVE-2020-25150", "CVE-2020-25158"]},
            {"cves": ["CVE-2020-25150"]},
            None,
            None,
            id="fewer-cves-is-not-news",
        ),
        pytest.param(
            {"possibly_affected": True},
            {"possibly_affected": False},
            2,
            AlertStatus.NEW,
            id="confirmed-affected",
        ),
        pytest.param(
            {"possibly_affected": False},
            {"possibly_affected": True},
            None,
            None,
            id="no-downgrade-to-possibly",
        ),
        pytest.param(
            {"status": AlertStatus.FALSE_POSITIVE},
            {"known_exploited": True},
            2,
            AlertStatus.FALSE_POSITIVE,
            id="false-positive-persists",
        ),
        pytest.param(
            {"status": AlertStatus.ACCEPTED_RISK},
            {"fix_available": True},
            2,
            AlertStatus.ACCEPTED_RISK,
            id="accepted-risk-persists",
        ),
        pytest.param(
            {"status": AlertStatus.ACKNOWLEDGED, "revision": 2},
            {"score": 70.0},
            3,
            AlertStatus.ACKNOWLEDGED,
            id="acknowledged-persists",
        ),
        # issue 14: a material revision (severity up, newly exploited, new asset match) reopens the alert
        pytest.param(
            {"status": AlertStatus.ACKNOWLEDGED, "revision": 2},
            {"score": 90.0, "severity": Severity.CRITICAL},
            3,
            AlertStatus.NEW,
            id="acknowledged-reopened-by-severity-up",
        ),
        pytest.param(
            {"status": AlertStatus.IN_PROGRESS},
            {"known_exploited": True},
            2,
            AlertStatus.NEW,
            id="in-progress-reopened-by-exploitation",
        ),
        pytest.param(
            {"status": AlertStatus.IN_PROGRESS},
            {"score": 40.0, "severity": Severity.MEDIUM},
            2,
            AlertStatus.IN_PROGRESS,
            id="in-progress-kept-on-severity-down",
        ),
        pytest.param(
            {"status": AlertStatus.FALSE_POSITIVE, "possibly_affected": True},
            {"possibly_affected": False},
            2,
            AlertStatus.NEW,
            id="false-positive-reopened-by-confirmed-match",
        ),
    ],
)
def test_next_revision(
    stored: dict[str, Any] | None, candidate: dict[str, Any], revision: int | None, status: AlertStatus | None
) -> None:
    old = alert(**stored) if stored is not None else None
    new = next_revision(old, alert(**{"matched_at": T1, "created_at": T1, "updated_at": T1, **candidate}))
    if revision is None:
        assert new is None
        return
    assert new is not None
    assert (new.revision, new.status) == (revision, status)
    assert new.created_at == (T0 if old is not None else T1)  # the first sighting stays the creation time


def test_fix_available_sticks_once_announced() -> None:
    new = next_revision(alert(fix_available=True), alert(known_exploited=True, fix_available=False))
    assert new is not None and new.fix_available


@pytest.mark.parametrize(
    ("status", "resolved"),
    [
        pytest.param(AlertStatus.NEW, True, id="new"),
        pytest.param(AlertStatus.ACKNOWLEDGED, True, id="acknowledged"),
        pytest.param(AlertStatus.RESOLVED, False, id="already-resolved"),
        pytest.param(AlertStatus.FALSE_POSITIVE, False, id="false-positive-left-alone"),
        pytest.param(AlertStatus.ACCEPTED_RISK, False, id="accepted-risk-left-alone"),
    ],
)
def test_resolve(status: AlertStatus, resolved: bool) -> None:
    closed = resolve(alert(status=status, revision=2), why="the source revoked the indicator", now=T1)
    if not resolved:
        assert closed is None
        return
    assert closed is not None
    assert (closed.revision, closed.status, closed.updated_at) == (3, AlertStatus.RESOLVED, T1)
    assert closed.reason.endswith("of ICSMA-20-296-02. Resolved: the source revoked the indicator.")
