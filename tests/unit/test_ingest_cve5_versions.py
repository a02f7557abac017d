"""CVE 5 records: version entries, ``changes`` and ``defaultStatus`` become affected and not-affected ranges."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ewarn.correlate.versions import Decision, decide
from ewarn.ingest.records import FeedContext
from ewarn.ingest.sources.cve5 import cve_record_indicator
from ewarn.models.indicator import ProductStatus, RangeKind, VersionRange

CTX = FeedContext(feed_id="cvelist", feed_kind="cve5", now=datetime(2026, 1, 1, tzinfo=UTC))


def _record(shared_data: Path, cve: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((shared_data / "cve" / f"{cve}.json").read_text(encoding="utf-8"))
    return record


def _by_status(record: dict[str, Any]) -> dict[ProductStatus, list[VersionRange]]:
    info = cve_record_indicator(record, CTX).vulnerability
    assert info is not None
    out: dict[ProductStatus, list[VersionRange]] = {}
    for product in info.affected:
        out.setdefault(product.status, []).extend(product.versions)
    return out


def test_default_unaffected_keeps_only_the_affected_entry(shared_data: Path) -> None:
    """CVE-2023-30563 as BD wrote it: 0 … <= 12.3 affected, everything else unaffected."""
    ranges = _by_status(_record(shared_data, "CVE-2023-30563"))
    assert list(ranges) == [ProductStatus.AFFECTED]
    assert [(vr.kind, vr.gte, vr.lte) for vr in ranges[ProductStatus.AFFECTED]] == [
        (RangeKind.INTERVAL, None, "12.3")
    ]


@pytest.mark.parametrize(
    ("version", "affected", "unaffected"),
    [
        pytest.param("12.1.1", Decision.AFFECTED, Decision.AFFECTED, id="in-the-unaffected-entry"),
        pytest.param("12.3", Decision.AFFECTED, Decision.AFFECTED, id="on-its-bound"),
        pytest.param("12.4", Decision.AFFECTED, Decision.NOT_AFFECTED, id="outside-every-entry"),
    ],
)
def test_default_affected_covers_the_versions_no_entry_names(
    shared_data: Path, version: str, affected: Decision, unaffected: Decision
) -> None:
    """The same record written the other way round (default affected, the entry unaffected): every version is
    affected except those the unaffected entry names, which the correlator applies as not affected."""
    record = copy.deepcopy(_record(shared_data, "CVE-2023-30563"))
    for item in record["containers"]["cna"]["affected"]:
        item["defaultStatus"] = "affected"
        for entry in item["versions"]:
            entry["status"] = "unaffected"
    ranges = _by_status(record)
    assert set(ranges) == {ProductStatus.AFFECTED, ProductStatus.NOT_AFFECTED}
    assert decide(ranges[ProductStatus.AFFECTED], version)[0] is affected
    assert decide(ranges[ProductStatus.NOT_AFFECTED], version)[0] is unaffected


@pytest.mark.parametrize(
    ("version", "status"),
    [
        pytest.param("2.0-beta9", "affected", id="first-affected"),
        pytest.param("2.3.0", "affected", id="before-first-change"),
        pytest.param("2.3.1", "unaffected", id="first-change-equal"),
        pytest.param("2.12.1", "affected", id="affected-again"),
        pytest.param("2.12.2", "unaffected", id="second-fix"),
        pytest.param("2.14.1", "affected", id="third-run"),
        pytest.param("2.15.0", "unaffected", id="fixed"),
        pytest.param("2.17.1", "unaffected", id="later"),
    ],
)
def test_log4shell_changes_decide_every_version(shared_data: Path, version: str, status: str) -> None:
    """CVE-2021-44228: one entry from 2.0-beta9 with ``changes`` switching status at each fix."""
    ranges = _by_status(_record(shared_data, "CVE-2021-44228"))
    found = decide(ranges.get(ProductStatus.AFFECTED, []), version)[0] is Decision.AFFECTED
    fixed = decide(ranges.get(ProductStatus.NOT_AFFECTED, []), version)[0] is Decision.AFFECTED
    assert ("affected" if found and not fixed else "unaffected") == status


@pytest.mark.parametrize(
    ("version", "decision"),
    [
        pytest.param("7 for x64-based Systems Service Pack 1", Decision.AFFECTED, id="the-label-itself"),
        pytest.param("7 SP1", Decision.UNKNOWN, id="same-release-other-words"),
        pytest.param("7", Decision.UNKNOWN, id="release-alone"),
        pytest.param("V7 Professional", Decision.UNKNOWN, id="labelled-release"),
        pytest.param("2008 R2 SP1", Decision.UNKNOWN, id="server-2008-r2"),
        pytest.param("2008 for x64-based Systems Service Pack 2", Decision.AFFECTED, id="server-2008-label"),
        pytest.param("10 Version 1809", Decision.NOT_AFFECTED, id="another-release"),
        pytest.param("2012 R2", Decision.NOT_AFFECTED, id="another-server-release"),
        pytest.param("6.1.7601", Decision.NOT_AFFECTED, id="build-number-not-a-label"),
    ],
)
def test_cna_labels_with_words_never_silently_outside_their_release(
    shared_data: Path, version: str, decision: Decision
) -> None:
    """CVE-2019-0708 (BlueKeep) labels each affected Windows edition with words ("7 for x64-based Systems
    Service Pack 1", "2008 R2 for Itanium-Based Systems Service Pack 1 (Core installation)"): compared as a
    whole they placed "7 SP1" outside; an asset version with the label's leading release is possibly affected."""
    ranges = _by_status(_record(shared_data, "CVE-2019-0708"))[ProductStatus.AFFECTED]
    assert all(vr.exact for vr in ranges)  # the CNA's labels, kept whole
    verdict, part = decide(ranges, version)
    assert verdict is decision
    assert (part is None) is (decision is Decision.NOT_AFFECTED)
