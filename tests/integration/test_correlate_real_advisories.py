"""Real advisories against a hospital inventory written by hand from the advisories' own names and versions.

The CISA ICS medical CSAF advisories, the CVE 5 records and the KEV catalogue in ../shared/data are read with
ewarn's own ingest parsers and merged by indicator key as ingest does (KEV only for the CVEs those advisories
and records name). A CSAF advisory is one indicator (``vulnerability:<tracking id>``) carrying its CVEs; a CVE 5
record and a KEV entry share the CVE's key. Each asset below copies a product name and version from those
files, or sits just outside a range they give; the test asserts exactly which (asset, advisory) pairs alert,
with which CVEs, which are only "possibly affected", and how the alert explains it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ewarn.correlate.engine import build_alert, match
from ewarn.correlate.index import AssetIndex
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.exploited import enrich_all, is_advisory
from ewarn.ingest.merge import merge
from ewarn.ingest.records import FeedContext
from ewarn.ingest.sources.cve5 import parse_cve_records
from ewarn.ingest.sources.kev import parse_kev
from ewarn.models import Alert, Asset, AssetKind, ClinicalCriticality, Indicator, NetworkExposure

NOW = datetime(2025, 8, 6, tzinfo=UTC)
HOSPITAL, CLINIC = "st-elsewhere", "clinic-north"


def device(id_: str, vendor: str, product: str, version: str | None, **fields: Any) -> Asset:
    return Asset(
        id=id_,
        provider_id=fields.pop("provider", HOSPITAL),
        kind=AssetKind.MEDICAL_DEVICE,
        name=fields.pop("name", id_),
        vendor=vendor,
        product=product,
        version=version,
        **fields,
    )


def software(id_: str, vendor: str | None, product: str | None, version: str | None, **fields: Any) -> Asset:
    return Asset(
        id=id_,
        provider_id=fields.pop("provider", HOSPITAL),
        kind=AssetKind.SOFTWARE,
        name=fields.pop("name", id_),
        vendor=vendor,
        product=product,
        version=version,
        **fields,
    )


INVENTORY = [
    # ICSMA-21-152-01 (Hillrom; the inventory uses the Welch Allyn brand): "< 1.52", "< 1.8.4 Service Pack 01"
    device("csm-1.51", "Welch Allyn", "Connex Spot Monitor", "1.51", name="Ward 4 spot monitors"),
    device("csm-1.52", "Welch Allyn", "Connex Spot Monitor", "1.52"),
    device("central-1.8.4", "Hillrom", "Welch Allyn Connex Central Station", "1.8.4", name="Central station"),
    # ICSMA-20-296-02 (B. Braun): "<= U61 |<= L81", "A10 | A11"
    device(
        "spacecom-U61",
        "B. Braun Melsungen AG",
        "SpaceCom",
        "U61",
        name="Infusion SpaceCom",
        clinical_criticality=ClinicalCriticality.LIFE_SUSTAINING,
        network_exposure=NetworkExposure.INTERNAL,
    ),
    device("spacecom-L82", "B. Braun Melsungen AG", "SpaceCom", "L82"),
    device("compactplus-A11", "B. Braun", "Data module compactplus", "A11"),
    device("compactplus-A12", "B. Braun", "Data module compactplus", "A12"),
    # ICSMA-19-080-01 (Medtronic): product_version "24950 | 24952"
    device("carelink-24950", "Medtronic", "MyCareLink Monitor", "24950"),
    device("carelink-24951", "Medtronic", "MyCareLink Monitor", "24951"),
    # ICSMA-24-060-01 (MicroDicom): "<=2023.3_Build_9342"
    software("microdicom-2023.3", "MicroDicom", "DICOM Viewer", "2023.3 Build 9342", name="Radiology viewer"),
    software("microdicom-2024.1", "MicroDicom", "DICOM Viewer", "2024.1"),
    # ICSMA-22-174-01 (OFFIS DCMTK): "< 3.6.7"; the clinic's VEX says it is not affected by CVE-2022-2119
    software("dcmtk-3.6.6", "OFFIS", "DCMTK", "3.6.6", name="PACS gateway"),
    software("dcmtk-3.6.7", "OFFIS", "DCMTK", "3.6.7"),
    software("dcmtk-clinic", "OFFIS e.V.", "DCMTK", "3.6.6", provider=CLINIC, not_affected=["CVE-2022-2119"]),
    # ICSMA-18-037-02 (GE Healthcare): "vers:all/*" for Optima 520 and MR360, "< 1.003" for Discovery NM530c
    device("optima-520", "GE Healthcare", "Optima 520", None, name="CT room 2"),
    device("optima-mr360", "GE Healthcare", "Optima MR360", "SV20.1", name="MRI 1"),
    device("nm530c-1.003", "GE Healthcare", "Discovery NM530c", "1.003"),
    # ICSMA-17-215-01 (Siemens): only SPECT Workplaces is known_affected; PET/CT is listed, not affected
    device("spect", "Siemens Healthineers", "SPECT Workplaces/Symbia.net Windows XP-Based", None),
    device("petct", "Siemens Healthineers", "PET/CT Systems Windows XP-Based", None),
    # ICSMA-20-049-01 (Spacelabs, BlueKeep) and CVE-2019-0708 (Microsoft), KEV-listed
    device(
        "xtr",
        "Spacelabs",
        "Xhibit Telemetry Receiver (XTR) Model number 96280",
        "1.0.2",
        name="Telemetry",
        clinical_criticality=ClinicalCriticality.LIFE_SUSTAINING,
        network_exposure=NetworkExposure.INTERNET,
    ),
    software("win7", "Microsoft", "Windows", "7 for x64-based Systems Service Pack 1", name="Modality PC"),
    software("win10", "Microsoft", "Windows", "10 Version 1809"),
    # CVE-2023-30563 (vendor "Becton Dickinson & Co", product with mojibake "BD Alarisâ„¢ Systems Manager")
    software(
        "alaris-12.1.1",
        "Becton, Dickinson and Company",
        "Alaris Systems Manager",
        "12.1.1",
        name="Pump server",
    ),
    software("alaris-12.3.1", "BD", "Alaris Systems Manager", "12.3.1"),
    # CVE-2024-1709 (ConnectWise ScreenConnect "<= 23.9.7"), KEV-listed
    software("screenconnect-23.9.7", "ConnectWise", "ScreenConnect", "23.9.7", name="Vendor remote access"),
    software("screenconnect-23.9.8", "ConnectWise", "ScreenConnect", "23.9.8"),
    # CVE-2021-44228 (Log4Shell: affected from 2.0-beta9 with 'changes' back to unaffected at 2.3.1, 2.12.2,
    # 2.15.0), KEV-listed with the product only
    software("log4j-2.14.1", "Apache Software Foundation", "Log4j2", "2.14.1", name="EHR integration engine"),
    software("log4j-2.12.2", "Apache Software Foundation", "Log4j2", "2.12.2"),
    # CVE-2023-34362 (MOVEit Transfer: CPEs and ranges in CISA's ADP container), KEV-listed
    software(
        "moveit-2022.0.3",
        None,
        None,
        None,
        cpe="cpe:2.3:a:progress:moveit_transfer:2022.0.3:*:*:*:*:*:*:*",
        name="File transfer",
    ),
    software(
        "moveit-2023.0.2", None, None, None, cpe="cpe:2.3:a:progress:moveit_transfer:2023.0.2:*:*:*:*:*:*:*"
    ),
]

BRAUN_CVES = [
    "CVE-2020-16238",
    "CVE-2020-25150",
    "CVE-2020-25152",
    "CVE-2020-25154",
    "CVE-2020-25156",
    "CVE-2020-25158",
    "CVE-2020-25160",
    "CVE-2020-25162",
    "CVE-2020-25164",
    "CVE-2020-25166",
    "CVE-2020-25168",
]
HILLROM = ("ICSMA-21-152-01", ["CVE-2021-27408", "CVE-2021-27410"])
DCMTK = ("ICSMA-22-174-01", ["CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"])
SIEMENS = ("ICSMA-17-215-01", ["CVE-2008-4250", "CVE-2017-7269"])
# asset → (advisory, the CVEs of it that hit the asset): one alert per (asset, advisory)
EXPECTED_FLAGS: dict[str, tuple[str, list[str]]] = {
    "csm-1.51": HILLROM,
    "central-1.8.4": HILLROM,
    "spacecom-U61": ("ICSMA-20-296-02", BRAUN_CVES),
    "compactplus-A11": ("ICSMA-20-296-02", BRAUN_CVES),
    "carelink-24950": ("ICSMA-19-080-01", ["CVE-2019-6538", "CVE-2019-6540"]),
    "microdicom-2023.3": ("ICSMA-24-060-01", ["CVE-2024-22100", "CVE-2024-25578"]),
    "dcmtk-3.6.6": DCMTK,
    "dcmtk-clinic": ("ICSMA-22-174-01", ["CVE-2022-2120", "CVE-2022-2121"]),  # its VEX rules out 2119
    "optima-520": ("ICSMA-18-037-02", ["CVE-2010-5306"]),
    "optima-mr360": ("ICSMA-18-037-02", ["CVE-2010-5307"]),
    "spect": SIEMENS,
    "petct": SIEMENS,  # listed in the product tree, in no product_status: possibly affected
    "xtr": ("ICSMA-20-049-01", ["CVE-2019-0708"]),
    "win7": ("CVE-2019-0708", ["CVE-2019-0708"]),
    "alaris-12.1.1": ("CVE-2023-30563", ["CVE-2023-30563"]),
    "screenconnect-23.9.7": ("CVE-2024-1709", ["CVE-2024-1709"]),
    "moveit-2022.0.3": ("CVE-2023-34362", ["CVE-2023-34362"]),
    "log4j-2.14.1": ("CVE-2021-44228", ["CVE-2021-44228"]),
}
POSSIBLY_AFFECTED = {"petct"}


def _read(path: Path) -> bytes:
    return path.read_bytes()


def load_indicators(data: Path) -> dict[str, Indicator]:
    """CSAF, then CVE 5, then KEV (for the same CVEs), merged by key in that order as ingest would."""
    merged: dict[str, Indicator] = {}

    def take(found: list[Indicator]) -> None:
        for indicator in found:
            merged[indicator.key] = merge(merged.get(indicator.key), indicator, now=NOW)

    csaf = FeedContext(feed_id="cisa-csaf", feed_kind="csaf", now=NOW)
    for path in sorted((data / "csaf" / "cisa-icsma").glob("*.json")):
        result = parse_csaf(_read(path), csaf)
        assert result.rejections == []
        take(result.indicators)
    cve = FeedContext(feed_id="cvelist", feed_kind="cve5", now=NOW)
    for path in sorted((data / "cve").glob("CVE-*.json")):
        result = parse_cve_records(_read(path), cve)
        assert result.rejections == []
        take(result.indicators)
    named = {cve for indicator in merged.values() for cve in indicator.cves}
    catalogue = json.loads(_read(data / "kev" / "known_exploited_vulnerabilities_2025-08-05.json"))
    others = frozenset(e["cveID"] for e in catalogue["vulnerabilities"] if e["cveID"] not in named)
    kev = parse_kev(
        _read(data / "kev" / "known_exploited_vulnerabilities_2025-08-05.json"),
        FeedContext(feed_id="cisa-kev", feed_kind="kev", now=NOW),
        seen=others,
    )
    take(kev.indicators)
    # ingest gives each advisory the KEV status of the CVEs it names, whichever came first
    merged.update(enrich_all([i for i in merged.values() if is_advisory(i)], merged))
    return merged


@pytest.fixture(scope="module")
def alerts(shared_data: Path) -> dict[tuple[str, str], Alert]:
    """(asset id, advisory) → the alert the correlator raises."""
    index = AssetIndex.build(INVENTORY)
    out: dict[tuple[str, str], Alert] = {}
    for indicator in load_indicators(shared_data).values():
        for found in match(indicator, index):
            alert = build_alert(indicator, found, now=NOW)
            key = (alert.asset_id, indicator.value)
            assert key not in out
            out[key] = alert
    return out


def test_exactly_the_affected_assets_are_flagged(alerts: dict[tuple[str, str], Alert]) -> None:
    flagged = {asset: (advisory, sorted(alert.cves)) for (asset, advisory), alert in alerts.items()}
    assert flagged == EXPECTED_FLAGS
    assert {asset for (asset, _), a in alerts.items() if a.possibly_affected} == POSSIBLY_AFFECTED
    unflagged = {a.id for a in INVENTORY} - {asset for asset, _ in alerts}
    assert unflagged == {
        "csm-1.52",
        "spacecom-L82",
        "compactplus-A12",
        "carelink-24951",
        "microdicom-2024.1",
        "dcmtk-3.6.7",
        "nm530c-1.003",
        "win10",
        "alaris-12.3.1",
        "screenconnect-23.9.8",
        "moveit-2023.0.2",
        "log4j-2.12.2",
    }


def test_one_alert_lists_the_cves_worst_first_and_names_only_its_document(
    alerts: dict[tuple[str, str], Alert],
) -> None:
    braun = alerts[("spacecom-U61", "ICSMA-20-296-02")]
    scores = [c.cvss_score or 0.0 for c in braun.cve_details]
    assert scores == sorted(scores, reverse=True) and len(scores) == len(BRAUN_CVES)
    assert braun.cves == [c.id for c in braun.cve_details]
    assert (braun.advisory, braun.source_feeds) == ("ICSMA-20-296-02", ["cisa-csaf"])
    # the Spacelabs telemetry receiver and the Windows PC share CVE-2019-0708, not their documents
    telemetry, windows = alerts[("xtr", "ICSMA-20-049-01")], alerts[("win7", "CVE-2019-0708")]
    assert (telemetry.advisory, telemetry.source_feeds) == ("ICSMA-20-049-01", ["cisa-csaf"])
    assert windows.source_feeds == ["cisa-kev", "cvelist"]


@pytest.mark.parametrize(
    ("asset_id", "advisory", "reason"),
    [
        pytest.param(
            "csm-1.51",
            "ICSMA-21-152-01",
            "Welch Allyn Connex Spot Monitor firmware 1.51 on your device 'Ward 4 spot monitors' is "
            "within the affected range < 1.52 of ICSMA-21-152-01 (CVE-2021-27408, CVE-2021-27410). "
            "A fix is available.",
            id="brand-alias-csaf-free-text-range",
        ),
        pytest.param(
            "spacecom-U61",
            "ICSMA-20-296-02",
            "B. Braun Melsungen AG SpaceCom firmware U61 on your device 'Infusion SpaceCom' is within the "
            f"affected range <= U61 of ICSMA-20-296-02 ({', '.join(BRAUN_CVES)}). A fix is available.",
            id="product-line-range",
        ),
        pytest.param(
            "optima-520",
            "ICSMA-18-037-02",
            "GE Healthcare Optima 520 on your device 'CT room 2' is affected in all versions by "
            "ICSMA-18-037-02 (CVE-2010-5306). A fix is available.",
            id="all-versions",
        ),
        pytest.param(
            "microdicom-2023.3",
            "ICSMA-24-060-01",
            "MicroDicom DICOM Viewer version 2023.3 Build 9342 on your software 'Radiology viewer' is "
            "within the affected range <= 2023.3_Build_9342 of ICSMA-24-060-01 (CVE-2024-22100, "
            "CVE-2024-25578). A fix is available.",
            id="build-number-range-fix-named-in-mitigation",
        ),
        pytest.param(
            "alaris-12.1.1",
            "CVE-2023-30563",
            "Becton, Dickinson and Company Alaris Systems Manager version 12.1.1 on your software "
            "'Pump server' is within the affected range <= 12.3 of CVE-2023-30563.",
            id="mojibake-vendor-alias-cve5",
        ),
        pytest.param(
            "moveit-2022.0.3",
            "CVE-2023-34362",
            "progress moveit_transfer version 2022.0.3 on your software 'File transfer' is within the "
            "affected range >= 2022.0.0, < 2022.0.5 of CVE-2023-34362.",
            id="cpe-from-adp",
        ),
        pytest.param(
            "xtr",
            "ICSMA-20-049-01",
            "Spacelabs Xhibit Telemetry Receiver (XTR) Model number 96280 firmware 1.0.2 on your device "
            "'Telemetry' is within the affected range = 1.0.2 of ICSMA-20-049-01 (CVE-2019-0708). "
            "A fix is available.",
            id="exact-version",
        ),
        pytest.param(
            "log4j-2.14.1",
            "CVE-2021-44228",
            "Apache Software Foundation Log4j2 version 2.14.1 on your software 'EHR integration engine' is "
            "within the affected range >= 2.13.0, < 2.15.0 of CVE-2021-44228.",
            id="cve5-changes-and-kev-product-only",
        ),
        pytest.param(
            "petct",
            "ICSMA-17-215-01",
            "Possibly affected — listed in the advisory, status not stated: Siemens Healthineers PET/CT Systems "
            "Windows XP-Based on your device 'petct' is listed in ICSMA-17-215-01 (CVE-2008-4250, "
            "CVE-2017-7269) without saying whether it is affected. Check it.",
            id="listed-in-the-tree-without-status",
        ),
    ],
)
def test_explanations(
    alerts: dict[tuple[str, str], Alert], asset_id: str, advisory: str, reason: str
) -> None:
    assert alerts[(asset_id, advisory)].reason == reason


def test_kev_marks_known_exploited_and_lifts_severity(alerts: dict[tuple[str, str], Alert]) -> None:
    # KEV and CVE 5 describe one CVE and share its key; a CSAF advisory is its own document and carries the
    # KEV status of the CVEs it names: the Spacelabs advisory (CVE-2019-0708, like the Windows PC) and the
    # Siemens one (CVE-2017-7269 listed, CVE-2008-4250 not).
    exploited = sorted(asset for (asset, _), a in alerts.items() if a.known_exploited)
    assert exploited == [
        "log4j-2.14.1",
        "moveit-2022.0.3",
        "petct",
        "screenconnect-23.9.7",
        "spect",
        "win7",
        "xtr",
    ]
    telemetry = alerts[("xtr", "ICSMA-20-049-01")]
    assert (telemetry.severity.value, telemetry.labels) == ("critical", ["exploit", "ransomware"])
    windows = alerts[("win7", "CVE-2019-0708")]
    assert windows.labels == ["exploit", "ransomware"]
    plain = alerts[("alaris-12.1.1", "CVE-2023-30563")]  # same criticality, CVSS 6.5, not exploited
    assert windows.score > plain.score
    ranked = sorted(alerts.values(), key=lambda a: -a.score)
    assert ranked[0].asset_id == "xtr"  # life-sustaining and internet-exposed: first for the same threat
