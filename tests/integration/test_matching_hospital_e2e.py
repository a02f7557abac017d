"""A hospital's whole inventory against real shared advisories, end to end: exactly these pairs, nothing silent.

The embedded default (SQLite, in-process bus) runs every stage. The hospital registers its inventory through
the API in every asset form: medical devices by manufacturer, model and firmware; software by vendor, product
and version; software known only by its PURL; software known only by its CPE; an SBOM imported with the
CycloneDX importer under a device (a real SBOM from ../shared/data and a small one an imaging vendor ships).
Real advisories of each kind go through the real ingest path: CISA CSAF documents from the medical corpus, the
original eight and the OASIS VEX example, CVE 5 records, and the KEV entries of those CVEs.

Each asset copies a maker, model and version from one advisory, chosen for one class of text: all versions,
a wildcard family (``5.x.x``), a ``>= | <=`` interval, a list of versions, a distribution date (→ possibly
affected), letter-led firmware (``<= C.00.04``), a vendor written as a parenthesised short form (``Becton,
Dickinson and Company (BD)``) or under its acquirer (``Hillrom and ELI, Baxter International Inc.``), a
product carrying its version family in its name (``Image Vault 3.x``), and a product listed without a status.
The near misses sit on a sibling model, on the fixed version, behind ``known_not_affected`` or the hospital's
own VEX statement. The test asserts exactly which (asset, advisory) pairs alert, which are only "possibly
affected", that one alert lists every CVE of its advisory that hits, and that nothing else alerts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.receivers import WebhookReceiver

pytestmark = pytest.mark.timeout(300)

CORPUS = Path("csaf") / "cisa-icsma-corpus"
ORIGINAL = Path("csaf") / "cisa-icsma"
OASIS = Path("csaf") / "oasis-spec-examples"

# (advisory id, feed kind, file): CVE 5 records go before the KEV entries of the same CVEs, as a feed would
ADVISORIES: list[tuple[str, str, Path]] = [
    ("ICSMA-21-313-01", "csaf", CORPUS / "icsma-21-313-01.json"),  # Philips MRI "5.x.x"
    ("ICSMA-21-175-01", "csaf", CORPUS / "icsma-21-175-01.json"),  # Philips XDS ">= 2.5 | <= 3.11"
    ("ICSMA-22-151-02", "csaf", CORPUS / "icsma-22-151-02.json"),  # BD Synapsys "4.20 | 4.20 SR1 | 4.30"
    ("ICSMA-18-107-01", "csaf", CORPUS / "icsma-18-107-01.json"),  # Abbott "distributed  < april 1, 2018"
    ("ICSMA-21-322-01", "csaf", CORPUS / "icsma-21-322-01.json"),  # Philips IntelliBridge "<= C.00.04"
    ("ICSMA-22-167-01", "csaf", CORPUS / "icsma-22-167-01.json"),  # "Hillrom and ELI, Baxter International"
    ("ICSMA-18-037-02", "csaf", ORIGINAL / "icsma-18-037-02.json"),  # GE: "vers:all/*", "Image Vault 3.x"
    ("ICSMA-17-215-01", "csaf", ORIGINAL / "icsma-17-215-01.json"),  # Siemens: PET/CT listed without status
    ("ICSMA-22-174-01", "csaf", ORIGINAL / "icsma-22-174-01.json"),  # OFFIS DCMTK "< 3.6.7", three CVEs
    ("ICSMA-24-060-01", "csaf", ORIGINAL / "icsma-24-060-01.json"),  # MicroDicom "<=2023.3_Build_9342"
    ("2022-EVD-UC-07-001", "csaf", OASIS / "2022-evd-uc-07-001.json"),  # affected, fixed, known_not_affected
    ("CVE-2024-1709", "cve5", Path("cve") / "CVE-2024-1709.json"),  # ConnectWise ScreenConnect "< 23.9.8"
    ("CVE-2023-34362", "cve5", Path("cve") / "CVE-2023-34362.json"),  # MOVEit Transfer, CPEs from CISA's ADP
]
KEV_FILE = Path("kev") / "known_exploited_vulnerabilities_2025-08-05.json"
# the KEV entries of the CVE 5 records above, and of a CVE the Siemens advisory names (ingested after it)
KEV_CVES = ("CVE-2024-1709", "CVE-2023-34362", "CVE-2017-7269")


def device(name: str, vendor: str, product: str, version: str | None, **more: Any) -> dict[str, Any]:
    return {
        "kind": "medical_device",
        "name": name,
        "vendor": vendor,
        "product": product,
        "version": version,
        **more,
    }


def software(name: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "software", "name": name, **fields}


REGISTERED = [
    # medical devices by manufacturer / model / firmware
    device("MRI east", "Philips", "MRI 1.5T", "5.2.1", clinical_criticality="diagnostic"),
    device("MRI west", "Philips", "MRI 3T", "6.0"),  # outside the 5.x.x family
    device("Defibrillator clinic", "Abbott", "Fortify Assura", "1.2", clinical_criticality="life_sustaining"),
    device(
        "Monitor hub ICU", "Philips", "IntelliBridge EC 40 Hub", "C.00.03", clinical_criticality="treatment"
    ),
    device("Monitor hub ward", "Philips", "IntelliBridge EC 40 Hub", "C.00.05"),  # above "<= C.00.04"
    device("Monitor hub OR", "Philips", "IntelliBridge EC 10 Hub", "C.00.03"),  # sibling model, not named
    device("ECG cardiology", "Welch Allyn", "ELI 380 Resting Electrocardiograph", "2.5.0"),
    device("CT room 2", "GE Healthcare", "Optima 520", None),
    device("CT room 3", "GE Healthcare", "Optima CT660", "1.0"),  # sibling model, not named
    device("SPECT workplace", "Siemens Healthineers", "SPECT Workplaces/Symbia.net Windows XP-Based", None),
    device("PET/CT", "Siemens Healthineers", "PET/CT Systems Windows XP-Based", None),
    # software by vendor / product / version
    software("XDS registry", vendor="Philips", product="Interoperability Solution XDS", version="3.5"),
    software("Urine analysis", vendor="BD", product="Synapsys", version="4.20 SR1"),
    software("Lab middleware", vendor="BD", product="Synapsys", version="4.21"),  # not in the list
    software("Ultrasound archive", vendor="GE Healthcare", product="Image Vault", version="3.2"),
    software(
        "Ultrasound archive new", vendor="GE Healthcare", product="Image Vault", version="5.0"
    ),  # not 3.x
    software("PACS router", vendor="OFFIS", product="DCMTK", version="3.6.7"),  # the fixed version
    software(
        "PACS gateway lab",
        vendor="OFFIS",
        product="DCMTK",
        version="3.6.6",
        not_affected=["CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"],  # the hospital's VEX: not affected
    ),
    software("Vendor remote access", vendor="ConnectWise", product="ScreenConnect", version="23.9.7"),
    software("Remote access new", vendor="ConnectWise", product="ScreenConnect", version="23.9.8"),  # fixed
    software("ABC server", vendor="Example Company", product="ABC", version="2.6"),
    software("ABC legacy", vendor="Example Company", product="ABC", version="2.5"),  # known_not_affected
    software("JKL server", vendor="Example Company", product="JKL", version="5.1"),  # fixed
    software("PACS gateway", vendor="OFFIS", product="DCMTK", version="3.6.6"),  # three CVEs, one alert
    # software known only by its PURL, only by its CPE
    software("ABC agent", purl="pkg:github/example-company/abc@3.0"),  # ">=2.9|<=4.1" known_affected
    software("File transfer", cpe="cpe:2.3:a:progress:moveit_transfer:2022.0.3:*:*:*:*:*:*:*"),
    software("File transfer new", cpe="cpe:2.3:a:progress:moveit_transfer:2023.0.2:*:*:*:*:*:*:*"),
    # the devices whose SBOMs are imported below
    device(
        "Imaging workstation", "Acme Imaging", "Reading Station", "7.1", clinical_criticality="diagnostic"
    ),
    device("EHR integration server", "Acme Health IT", "Integration Engine", "1.3.15"),
]

# What an imaging vendor's SBOM for its reading station lists (CycloneDX 1.5, the importer's real path).
VENDOR_SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "version": 1,
    "components": [
        {
            "type": "application",
            "bom-ref": "viewer",
            "publisher": "MicroDicom",
            "name": "DICOM Viewer",
            "version": "2023.3 Build 9342",
        },
        {
            "type": "library",
            "bom-ref": "dcmtk",
            "supplier": {"name": "OFFIS e.V."},
            "name": "DCMTK",
            "version": "3.6.7",
            "purl": "pkg:generic/offis/dcmtk@3.6.7",
        },
    ],
}

# (asset, advisory) → "alert" or "possibly", with the CVEs the one alert lists; every other pair stays silent.
EXPECTED: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("MRI east", "ICSMA-21-313-01"): ("alert", ["CVE-2021-26248", "CVE-2021-26262", "CVE-2021-42744"]),
    ("XDS registry", "ICSMA-21-175-01"): ("alert", ["CVE-2021-32966"]),  # one interval, not alternatives
    ("Urine analysis", "ICSMA-22-151-02"): ("alert", ["CVE-2022-30277"]),  # "(BD)" short form, in the list
    ("Defibrillator clinic", "ICSMA-18-107-01"): ("possibly", ["CVE-2017-12712", "CVE-2017-12714"]),  # date
    ("Monitor hub ICU", "ICSMA-21-322-01"): ("alert", ["CVE-2021-32993", "CVE-2021-33017"]),  # letter-led
    ("ECG cardiology", "ICSMA-22-167-01"): ("alert", ["CVE-2022-26388", "CVE-2022-26389"]),  # brand of Baxter
    ("CT room 2", "ICSMA-18-037-02"): ("alert", ["CVE-2010-5306"]),  # all versions
    ("Ultrasound archive", "ICSMA-18-037-02"): ("alert", ["CVE-2004-2777"]),  # "Image Vault 3.x" family
    ("SPECT workplace", "ICSMA-17-215-01"): ("alert", ["CVE-2008-4250", "CVE-2017-7269"]),
    ("PET/CT", "ICSMA-17-215-01"): ("possibly", ["CVE-2008-4250", "CVE-2017-7269"]),  # listed, no status
    ("PACS gateway", "ICSMA-22-174-01"): ("alert", ["CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"]),
    ("DICOM Viewer 2023.3 Build 9342", "ICSMA-24-060-01"): ("alert", ["CVE-2024-22100", "CVE-2024-25578"]),
    ("ABC server", "2022-EVD-UC-07-001"): ("alert", ["CVE-2021-44228"]),
    ("ABC agent", "2022-EVD-UC-07-001"): ("alert", ["CVE-2021-44228"]),  # vendor and product from the PURL
    ("Vendor remote access", "CVE-2024-1709"): ("alert", ["CVE-2024-1709"]),
    ("File transfer", "CVE-2023-34362"): ("alert", ["CVE-2023-34362"]),
}
NEAR_MISSES = {
    ("MRI west", "ICSMA-21-313-01"): "outside the 5.x.x family",
    ("Monitor hub ward", "ICSMA-21-322-01"): "above <= C.00.04",
    ("Monitor hub OR", "ICSMA-21-322-01"): "sibling model",
    ("CT room 3", "ICSMA-18-037-02"): "sibling model",
    ("Lab middleware", "ICSMA-22-151-02"): "version not in the list",
    ("Ultrasound archive new", "ICSMA-18-037-02"): "outside the 3.x family named in the product name",
    ("PACS router", "ICSMA-22-174-01"): "fixed version",
    ("PACS gateway lab", "ICSMA-22-174-01"): "the hospital's VEX",
    ("DCMTK 3.6.7", "ICSMA-22-174-01"): "fixed version inside the SBOM",
    ("Remote access new", "CVE-2024-1709"): "fixed version",
    ("File transfer new", "CVE-2023-34362"): "fixed version",
    ("ABC legacy", "2022-EVD-UC-07-001"): "known_not_affected",
    ("JKL server", "2022-EVD-UC-07-001"): "fixed",
}
KNOWN_EXPLOITED = {
    ("Vendor remote access", "CVE-2024-1709"),
    ("File transfer", "CVE-2023-34362"),
    # the advisory was alerted before KEV listed its CVE-2017-7269: ingest republishes it with the flag
    ("SPECT workplace", "ICSMA-17-215-01"),
    ("PET/CT", "ICSMA-17-215-01"),
}


@dataclass
class Outcome:
    tenant: Tenant
    alerts: list[dict[str, Any]]
    imports: dict[str, Any]
    receiver: WebhookReceiver


def advisory_of(alert: dict[str, Any]) -> str:
    return str(alert.get("advisory") or alert["indicator_key"].split(":", 1)[1]).upper()


def pairs(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, list[str]]]:
    return {
        (a["match"]["asset_name"], advisory_of(a)): (
            "possibly" if a["possibly_affected"] else "alert",
            sorted(a["cves"]),
        )
        for a in alerts
    }


def kev_subset(shared_data: Path) -> bytes:
    """The real KEV catalogue cut to ``KEV_CVES`` (the whole one names thousands)."""
    catalogue = json.loads((shared_data / KEV_FILE).read_bytes())
    chosen = [v for v in catalogue["vulnerabilities"] if v["cveID"] in KEV_CVES]
    assert len(chosen) == len(KEV_CVES)
    return json.dumps({**catalogue, "count": len(chosen), "vulnerabilities": chosen}).encode()


@pytest.fixture(scope="module")
async def outcome(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> AsyncIterator[Outcome]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hospital') / 'ewarn.db'}"
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        async with harness(url) as pipe:
            yield await _run(pipe, shared_data, receiver)
    finally:
        await receiver.down()


async def _run(pipe: Harness, shared_data: Path, receiver: WebhookReceiver) -> Outcome:
    await pipe.add_csirt("cert-health")
    tenant = await pipe.add_tenant("st-elsewhere", csirt_id="cert-health")
    base = f"/api/v1/providers/{tenant.provider_id}/assets"
    registered = {a["name"]: a["id"] for a in await pipe.add_assets(tenant, REGISTERED)}
    real_sbom = (shared_data / "cyclonedx" / "SBOM__dropwizard-1.3.15__bom.json").read_bytes()
    imports = {
        "vendor-sbom": await pipe.call(
            "POST",
            f"{base}/import?format=cyclonedx&device={registered['Imaging workstation']}",
            auth=tenant.auth,
            content=json.dumps(VENDOR_SBOM).encode(),
        ),
        "real-sbom": await pipe.call(
            "POST",
            f"{base}/import?format=cyclonedx&device={registered['EHR integration server']}",
            auth=tenant.auth,
            content=real_sbom,
        ),
    }
    sub = await pipe.subscribe_webhook(tenant, receiver.url())
    receiver.secrets = [sub["secret"]]
    for advisory, kind, path in ADVISORIES:
        report = await pipe.ingest((shared_data / path).read_bytes(), kind=kind, feed_id=f"shared-{kind}")
        assert (report.accepted, report.rejected) == (1, 0), advisory
    kev = await pipe.ingest(kev_subset(shared_data), kind="kev", feed_id="cisa-kev")
    assert (kev.accepted, kev.rejected) == (len(KEV_CVES), 0)
    await pipe.drained(timeout=60)
    alerts = await pipe.alerts(tenant.auth)
    await receiver.wait_accepted(len(alerts), timeout=30)
    return Outcome(tenant, alerts, imports, receiver)


def test_every_import_applied(outcome: Outcome) -> None:
    vendor, real = outcome.imports["vendor-sbom"], outcome.imports["real-sbom"]
    assert (vendor["imported"], vendor["errors"]) == (2, [])
    assert real["imported"] > 50 and real["errors"] == []


@pytest.mark.parametrize(
    ("pair", "expected"), [pytest.param(p, e, id=f"{p[0]}-{p[1]}") for p, e in EXPECTED.items()]
)
def test_expected_pair(outcome: Outcome, pair: tuple[str, str], expected: tuple[str, list[str]]) -> None:
    assert pairs(outcome.alerts).get(pair) == expected


@pytest.mark.parametrize(
    ("pair", "why"), [pytest.param(p, w, id=f"{p[0]}-{p[1]}") for p, w in NEAR_MISSES.items()]
)
def test_near_miss_stays_silent(outcome: Outcome, pair: tuple[str, str], why: str) -> None:
    assert pair not in pairs(outcome.alerts), f"{pair} alerted although {why}"


def test_no_other_pair_alerts_and_one_alert_per_asset_and_advisory(outcome: Outcome) -> None:
    assert {p: v for p, v in pairs(outcome.alerts).items() if p not in EXPECTED} == {}
    assert len(outcome.alerts) == len(EXPECTED)


def test_alerts_list_cves_worst_first_name_their_document_and_flag_review(outcome: Outcome) -> None:
    for alert in outcome.alerts:
        scores = [c["cvss_score"] or 0.0 for c in alert["cve_details"]]
        assert scores == sorted(scores, reverse=True)
        assert alert["cves"] == [c["id"] for c in alert["cve_details"]]
        assert alert["source_feeds"] == (
            ["shared-csaf"]
            if alert["advisory"].startswith(("ICSMA", "2022"))
            else ["cisa-kev", "shared-cve5"]
        )
        if alert["possibly_affected"]:
            assert alert["reason"].startswith("Possibly affected")
    exploited = {(a["match"]["asset_name"], advisory_of(a)) for a in outcome.alerts if a["known_exploited"]}
    assert exploited == KNOWN_EXPLOITED
    spect = next(a for a in outcome.alerts if a["match"]["asset_name"] == "SPECT workplace")
    assert spect["revision"] == 2  # first without the flag, then revised when KEV listed CVE-2017-7269
    defib = next(a for a in outcome.alerts if a["match"]["asset_name"] == "Defibrillator clinic")
    assert 'the advisory says "distributed  < april 1, 2018"' in defib["reason"]


def test_webhooks_carry_the_alert_shape(outcome: Outcome) -> None:
    bodies = {r.json()["data"]["id"]: r.json()["data"] for r in outcome.receiver.accepted}
    assert set(bodies) == {a["id"] for a in outcome.alerts}
    for alert in outcome.alerts:
        body = bodies[alert["id"]]
        assert (body["possibly_affected"], body["advisory"], body["cve_details"]) == (
            alert["possibly_affected"],
            alert["advisory"],
            alert["cve_details"],
        )
