"""A hospital's building, power, safety and security equipment against real CISA ICS advisories, end to end.

The embedded default (SQLite, in-process bus) runs every stage; the hospital registers its inventory through the
API like a SOC would: equipment of every category as JSON, serial gateways from a CSV file, the UPS room and two
cameras from a CycloneDX hardware BOM, medical devices beside them, and a vendor's CSAF VEX saying one gateway is
not affected. Real advisories from ``../shared/data/csaf/cisa-icsa-hospital-infrastructure/`` (and one medical
advisory) go through the real ingest path. Each asset copies a maker, model and firmware an operator would read
off the equipment, chosen against one class of advisory text (model families with wildcards, several models in
one name, a model number in the version field, versions inside the product name, ranges with builds and
cumulative updates, brands written with their owners, mojibake, a product listed without a status); the near
misses sit on the fixed version, on a sibling model, or behind ``known_not_affected``. The test asserts exactly
which (asset, advisory) pairs alert, which are "possibly affected", and that nothing else does.

The corpus holds no ``known_not_affected`` or ``fixed`` product status (checked below), so that near miss comes
from the operator's VEX import, as it would in a hospital.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.pipeline import Harness, Tenant, harness
from tests.support.receivers import WebhookReceiver

from ewarn.inventory.validate import asset_from_mapping
from ewarn.models.asset import EquipmentCategory
from ewarn.models.provider import Provider
from ewarn.status.equipment import equipment_by_category
from ewarn.status.report import build_status
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.assets import delete_assets, save_assets
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.tables import AlertRow

pytestmark = pytest.mark.timeout(300)

ICS = Path("csaf") / "cisa-icsa-hospital-infrastructure"
MEDICAL = Path("csaf") / "cisa-icsma"

# advisory (tracking id) → file in the shared data, ingested in this order
ADVISORIES = {
    "ICSA-22-193-01": ICS / "icsa-22-193-01.json",  # Dahua IPC-HDBW2XXX: "< 2.820.0000000.48.R.220614"
    "ICSA-17-124-02": ICS
    / "icsa-17-124-02.json",  # Dahua: model numbers ("DH-NVR1XXX,") in the version field
    "ICSA-21-077-01": ICS
    / "icsa-21-077-01.json",  # Exacq Technologies, Johnson Controls Inc.: "<= v20.12.02.0"
    "ICSA-20-170-01": ICS / "icsa-20-170-01.json",  # exacqVision Web Service "<= 20.06.3.0"
    "ICSA-22-242-11": ICS / "icsa-22-242-11.json",  # Sensormatic ..., Johnson Controls Inc.: "< 6.8.9 CU01"
    "ICSA-20-070-04": ICS / "icsa-20-070-04.json",  # Kantech, Johnson Controls Inc.: EntraPass "< 8.10"
    "ICSA-22-284-03": ICS / "icsa-22-284-03.json",  # Sensormatic ..., a subsidiary of Johnson Controls Inc.
    "ICSA-22-165-01": ICS / "icsa-22-165-01.json",  # "All Metasys ADS/ADX/OAS" "10 | 11"
    "ICSA-22-125-01": ICS / "icsa-22-125-01.json",  # "Metasys ADS/ADX/OAS Servers" "10 | 11"
    "ICSA-22-277-01": ICS / "icsa-22-277-01.json",  # Metasys ADX Server "12.0"
    "ICSA-18-333-02": ICS / "icsa-18-333-02.json",  # "Niagara 4.4u2" "< 4.4.93.40.2", "Niagara 4.6" ...
    "ICSA-20-224-03": ICS / "icsa-20-224-03.json",  # Niagara "4.6.96.28 | 4.7.109.20 | ..."
    "ICSA-21-348-02": ICS
    / "icsa-21-348-02.json",  # Schneider Electric "AP7xxxx and AP8xxx with NMC2" "<= 6.9.6"
    "ICSA-24-165-05": ICS / "icsa-24-165-05.json",  # SITOP UPS1600 ... (6EP4136-3AB00-2AY0) "<V2.5.4"
    "ICSA-24-137-12": ICS / "icsa-24-137-12.json",  # "Cerberus PRO UL Compact Panel FC922/924" "<MP4"
    "ICSA-20-051-03": ICS / "icsa-20-051-03.json",  # Honeywell NOTI-FIRE-NET Web Server (NWS-3) "<= 3.50"
    "ICSA-20-105-06": ICS / "icsa-20-105-06.json",  # APOGEE PXC Series (BACnet) "< 3.5.3", no product status
    "ICSA-17-320-01": ICS / "icsa-17-320-01.json",  # Moxa NPort 5110 "2.4", "2.7", "2.6", "2.2"
    "ICSA-17-143-01": ICS / "icsa-17-143-01.json",  # Moxa OnCell G3110-HSDPA "<= 1.2 build 09123015 "
    "ICSA-24-151-01": ICS / "icsa-24-151-01.json",  # LenelS2 NetBox "<5.6.2"
    "ICSA-22-109-01": ICS / "icsa-22-109-01.json",  # Interlogix, Carrier Global Corporation: Hills ComNav
    "ICSA-19-155-03": ICS / "icsa-19-155-03.json",  # GeutebrÃ¼ck "EFD-22xx" "<= 1.12.0.25"
    "ICSA-17-045-02": ICS / "icsa-17-045-02.json",  # GeutebrÃ¼ck "G-Cam/EFD-2250" "1.11.0.12"
    "ICSA-20-219-03": ICS / "icsa-20-219-03.json",  # "G-Code EFD-22xx" "<= 1.12.0.25 | 1.12.13.2 | 1.12.14.5"
    "ICSA-20-021-01": ICS / "icsa-20-021-01.json",  # Honeywell MAXPRO NVR XE "< NVR 5.6 Build 595 T2-Patch"
    "ICSMA-20-296-02": MEDICAL / "icsma-20-296-02.json",  # B. Braun SpaceCom "<= U61 |<= L81"
}


def equipment(
    name: str, vendor: str, product: str, version: str, category: str, **more: Any
) -> dict[str, Any]:
    return {
        "kind": "infrastructure",
        "name": name,
        "vendor": vendor,
        "product": product,
        "version": version,
        "category": category,
        "network_exposure": more.pop("network_exposure", "internal"),
        **more,
    }


def device(name: str, vendor: str, product: str, version: str, **more: Any) -> dict[str, Any]:
    return {
        "kind": "medical_device",
        "name": name,
        "vendor": vendor,
        "product": product,
        "version": version,
        **more,
    }


# Registered as JSON through the API.
REGISTERED = [
    equipment("Entrance camera", "Dahua", "IPC-HDBW2431E-S", "2.800.0000000.16.R.210101", "video"),
    equipment("Car park camera", "Dahua", "IPC-HDBW2431E-S", "2.820.0000000.48.R.220614", "video"),
    equipment(
        "Lobby camera", "Dahua", "IPC-HDBW3441E", "2.800.0000000.16.R.210101", "cctv", care_dependency="none"
    ),
    equipment("Recorder hall B", "Dahua", "DH-NVR1104HS-S3", "3.216.0000000.1.R", "video"),
    equipment("NVR security office", "Honeywell", "MAXPRO NVR XE", "5.6 Build 590", "video"),
    equipment("NVR gatehouse", "Honeywell", "MAXPRO NVR XE", "5.6 Build 595 T2-Patch", "video"),
    equipment("VMS server", "Exacq", "exacqVision Web Service", "20.12.1.0", "video"),
    equipment(
        "Door controller ICU",
        "Sensormatic",
        "iSTAR Ultra",
        "6.8.6",
        "access_control",
        care_dependency="support",
        supports="ICU doors",
    ),
    equipment("Door controller admin", "Sensormatic", "iSTAR Ultra", "6.9.1", "access_control"),
    equipment("Badge system", "Kantech", "EntraPass Corporate Edition", "8.0", "access_control"),
    equipment("C-CURE server", "Johnson Controls", "C-CURE 9000", "2.80", "access_control"),
    equipment("Access server", "LenelS2", "NetBox", "5.6.1", "access_control"),
    equipment("BMS server", "Johnson Controls", "Metasys ADX Server", "11.0", "building_automation"),
    equipment("Niagara supervisor", "Tridium", "Niagara 4", "4.4.93.40.1", "hvac"),
    equipment("Niagara JACE", "Tridium", "Niagara 4", "4.4.93.40.2", "building_automation"),
    equipment(
        "AHU theatres",
        "Siemens",
        "APOGEE PXC Series (BACnet)",
        "3.5.2",
        "building_automation",
        care_dependency="life_sustaining",
        supports="air handling of operating theatres",
    ),
    equipment(
        "PDU theatre 3",
        "APC",
        "AP8959EU3",
        "6.9.6",
        "power",
        care_dependency="life_sustaining",
        supports="PDU feeding operating theatre 3",
    ),
    equipment("PDU theatre 4", "APC", "AP8959EU3", "7.1.0", "power", care_dependency="life_sustaining"),
    equipment("Fire panel A", "Siemens", "Cerberus PRO UL Compact Panel FC924", "MP3", "fire_safety"),
    equipment("Fire panel B", "Siemens", "Cerberus PRO UL Compact Panel FC901", "MP3", "fire_safety"),
    equipment("Fire network server", "Honeywell", "NOTI-FIRE-NET Web Server (NWS-3)", "3.50", "fire_safety"),
    equipment("Alarm communicator", "Interlogix", "Hills ComNav", "3002-18", "communication"),
    equipment(
        "Pharmacy robot", "Swisslog", "PillPick", "5.2", "pharmacy automation", care_dependency="treatment"
    ),
    equipment("Elevator controller", "KONE", "KCE", "4.1", "other"),
    device(
        "Infusion SpaceCom",
        "B. Braun",
        "SpaceCom",
        "U61",
        clinical_criticality="life_sustaining",
        network_exposure="internal",
    ),
    device("Infusion SpaceCom ward", "B. Braun", "SpaceCom", "L82"),
]

# Imported as a CSV file.
CSV = (
    "kind,name,vendor,product,version,category,care_dependency,supports,network_exposure\n"
    "infrastructure,Serial gateway lab,Moxa,NPort 5110,2.6,serial gateway,diagnostic,blood gas analysers,internal\n"
    "infrastructure,Serial gateway pharmacy,Moxa,NPort 5110,2.10,network_gateway,,,internal\n"
    "infrastructure,Serial gateway OR,Moxa,NPort 5110,2.7,network_gateway,,,internal\n"
    "infrastructure,Serial gateway stores,Moxa,NPort 5410,2.6,network_gateway,,,internal\n"
    "infrastructure,Cellular router,Moxa,OnCell G3110-HSDPA,1.2 Build 09123015,network_gateway,,,internet\n"
)

# Imported as a CycloneDX hardware BOM (what an HBOM tool exports for the UPS room and two cameras).
HBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "version": 1,
    "components": [
        {
            "type": "device",
            "bom-ref": "ups-icu-1",
            "name": "SITOP UPS1600 20 A Ethernet/ PROFINET (6EP4136-3AB00-2AY0)",
            "manufacturer": {"name": "Siemens"},
            "version": "V2.5.3",
            "properties": [
                {"name": "ewarn:name", "value": "UPS ICU-1"},
                {"name": "ewarn:category", "value": "UPS"},
                {"name": "ewarn:care_dependency", "value": "life-sustaining"},
                {"name": "ewarn:supports", "value": "UPS feeding ICU"},
                {"name": "serialNumber", "value": "S V-P1234567"},
            ],
        },
        {
            "type": "device",
            "bom-ref": "ups-icu-2",
            "name": "SITOP UPS1600 20 A Ethernet/ PROFINET (6EP4136-3AB00-2AY0)",
            "manufacturer": {"name": "Siemens"},
            "properties": [
                {"name": "ewarn:name", "value": "UPS ICU-2"},
                {"name": "ewarn:category", "value": "power"},
                {"name": "ewarn:care_dependency", "value": "life_sustaining"},
                {"name": "ewarn:supports", "value": "UPS feeding ICU"},
            ],
            "components": [{"type": "firmware", "name": "SITOP UPS1600 firmware", "version": "V2.5.4"}],
        },
        {
            "type": "hardware",
            "bom-ref": "cam-dock",
            "name": "G-Cam/EFD-2250",
            "manufacturer": {"name": "Geutebrück"},
            "version": "1.12.0.19",
            "properties": [
                {"name": "ewarn:name", "value": "Loading dock camera"},
                {"name": "ewarn:category", "value": "video"},
            ],
        },
    ],
}

HBOM_UPS = {
    "kind": "infrastructure",
    "vendor": "Siemens",
    "product": "SITOP UPS1600 20 A Ethernet/ PROFINET (6EP4136-3AB00-2AY0)",
    "category": "power",
}

# (asset, advisory) → "alert" or "possibly"; every other pair of this inventory and these advisories stays silent.
EXPECTED = {
    ("Entrance camera", "ICSA-22-193-01"): "alert",  # family wildcard IPC-HDBW2XXX, before the fixed build
    ("Recorder hall B", "ICSA-17-124-02"): "alert",  # model family DH-NVR1XXX written in the version field
    ("VMS server", "ICSA-21-077-01"): "alert",  # Exacq under Johnson Controls, "<= v20.12.02.0"
    ("Door controller ICU", "ICSA-22-242-11"): "alert",  # Sensormatic, "< 6.8.9 CU01"
    ("Badge system", "ICSA-20-070-04"): "alert",  # Kantech under Johnson Controls
    ("C-CURE server", "ICSA-22-284-03"): "alert",  # "Sensormatic ..., a subsidiary of Johnson Controls Inc."
    ("Access server", "ICSA-24-151-01"): "alert",
    (
        "BMS server",
        "ICSA-22-165-01",
    ): "alert",  # several models in one name: "All Metasys ADS/ADX/OAS" "10 | 11"
    (
        "BMS server",
        "ICSA-22-125-01",
    ): "alert",  # the same with the generic word: "Metasys ADS/ADX/OAS Servers"
    ("Niagara supervisor", "ICSA-18-333-02"): "alert",  # version in the name: "Niagara 4.4u2"
    ("AHU theatres", "ICSA-20-105-06"): "possibly",  # listed in the advisory without a product status
    ("PDU theatre 3", "ICSA-21-348-02"): "alert",  # APC under Schneider Electric, "AP8xxx with NMC2"
    ("UPS ICU-1", "ICSA-24-165-05"): "alert",  # product name with order number, "<V2.5.4"
    ("Fire panel A", "ICSA-24-137-12"): "alert",  # "FC922/924", "<MP4"
    ("Fire network server", "ICSA-20-051-03"): "alert",  # "<= 3.50" includes 3.50
    ("Alarm communicator", "ICSA-22-109-01"): "alert",  # Interlogix under Carrier, "< 3002-19"
    ("Serial gateway lab", "ICSA-17-320-01"): "alert",  # one of the listed versions
    ("Cellular router", "ICSA-17-143-01"): "alert",  # "<= 1.2 build 09123015"
    ("Loading dock camera", "ICSA-19-155-03"): "alert",  # mojibake maker, family "EFD-22xx"
    ("Loading dock camera", "ICSA-20-219-03"): "alert",  # "G-Code EFD-22xx", a range and exact builds
    ("NVR security office", "ICSA-20-021-01"): "alert",  # "< NVR 5.6 Build 595 T2-Patch"
    ("Infusion SpaceCom", "ICSMA-20-296-02"): "alert",  # the medical device beside the equipment
}

# The near misses, by why they must stay silent (asserted too: none of them may alert or be "possibly").
NEAR_MISSES = {
    ("Car park camera", "ICSA-22-193-01"): "fixed version",
    ("Lobby camera", "ICSA-22-193-01"): "sibling model (HDBW3xxx)",
    ("Lobby camera", "ICSA-17-124-02"): "sibling model",
    ("VMS server", "ICSA-20-170-01"): "above the range",
    ("Door controller admin", "ICSA-22-242-11"): "fixed version",
    ("BMS server", "ICSA-22-277-01"): "other version (12.0 only)",
    ("Niagara JACE", "ICSA-18-333-02"): "fixed version of the 4.4 line",
    ("Niagara supervisor", "ICSA-20-224-03"): "version not listed",
    ("PDU theatre 4", "ICSA-21-348-02"): "fixed version",
    ("UPS ICU-2", "ICSA-24-165-05"): "fixed version (from the nested firmware component)",
    ("Fire panel B", "ICSA-24-137-12"): "sibling model",
    ("Serial gateway pharmacy", "ICSA-17-320-01"): "version not listed",
    ("Serial gateway OR", "ICSA-17-320-01"): "known_not_affected (vendor VEX)",
    ("Serial gateway stores", "ICSA-17-320-01"): "sibling model",
    ("Loading dock camera", "ICSA-17-045-02"): "other exact version",
    ("NVR gatehouse", "ICSA-20-021-01"): "fixed version (the T2 patch)",
    ("Infusion SpaceCom ward", "ICSMA-20-296-02"): "fixed version",
}

CATEGORY_OF = {
    **{a["name"]: a.get("category") for a in REGISTERED},
    "Serial gateway lab": "network_gateway",
    "Serial gateway pharmacy": "network_gateway",
    "Serial gateway OR": "network_gateway",
    "Serial gateway stores": "network_gateway",
    "Cellular router": "network_gateway",
    "UPS ICU-1": "power",
    "UPS ICU-2": "power",
    "Loading dock camera": "video",
}
ORDER = [c.value for c in EquipmentCategory]
CATEGORY_WORDS = {"cctv": "video", "hvac": "building_automation", "pharmacy automation": "lab_automation"}


def category(asset_name: str) -> str | None:
    written = CATEGORY_OF[asset_name]
    return None if written is None else CATEGORY_WORDS.get(written, written)


def vendor_vex(advisory: dict[str, Any]) -> bytes:
    """The gateway maker's CSAF VEX: NPort 5110 firmware 2.7 is not affected by the advisory's CVEs."""
    cves = [v["cve"] for v in advisory["vulnerabilities"]]
    doc = {
        "document": {
            "category": "csaf_vex",
            "csaf_version": "2.0",
            "title": "NPort 5110 2.7 VEX",
            "publisher": {"category": "vendor", "name": "Moxa", "namespace": "https://www.moxa.com"},
            "tracking": {
                "id": "MOXA-VEX-NPORT5110-27",
                "status": "final",
                "version": "1",
                "initial_release_date": "2024-01-01T00:00:00Z",
                "current_release_date": "2024-01-01T00:00:00Z",
                "revision_history": [{"date": "2024-01-01T00:00:00Z", "number": "1", "summary": "first"}],
            },
        },
        "product_tree": {
            "branches": [
                {
                    "category": "vendor",
                    "name": "Moxa",
                    "branches": [
                        {
                            "category": "product_name",
                            "name": "NPort 5110",
                            "branches": [
                                {
                                    "category": "product_version",
                                    "name": "2.7",
                                    "product": {"name": "Moxa NPort 5110 2.7", "product_id": "NPORT5110-27"},
                                }
                            ],
                        }
                    ],
                }
            ]
        },
        "vulnerabilities": [
            {
                "cve": cve,
                "product_status": {"known_not_affected": ["NPORT5110-27"]},
                "flags": [{"label": "vulnerable_code_not_in_execute_path", "product_ids": ["NPORT5110-27"]}],
            }
            for cve in cves
        ],
    }
    return json.dumps(doc).encode()


@dataclass
class Outcome:
    pipe: Harness
    tenant: Tenant
    alerts: list[dict[str, Any]]
    everything: WebhookReceiver
    power_only: WebhookReceiver
    imports: dict[str, Any]
    status: Any
    assets: list[dict[str, Any]]


def advisory_of(alert: dict[str, Any]) -> str:
    return str(alert["advisory"]).upper()  # one alert per (asset, advisory): the CSAF tracking id


def verdicts(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (a["match"]["asset_name"], advisory_of(a)): "possibly" if a.get("possibly_affected") else "alert"
        for a in alerts
    }


@pytest.fixture(scope="module")
async def outcome(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> AsyncIterator[Outcome]:
    documents = {key: (shared_data / path).read_bytes() for key, path in ADVISORIES.items()}
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('infra') / 'ewarn.db'}"
    everything, power_only = WebhookReceiver(), WebhookReceiver()
    await everything.start()
    await power_only.start()
    try:
        async with harness(url) as pipe:
            yield await _run(pipe, documents, everything, power_only)
    finally:
        await everything.down()
        await power_only.down()


async def _run(
    pipe: Harness, documents: dict[str, bytes], everything: WebhookReceiver, power_only: WebhookReceiver
) -> Outcome:
    await pipe.add_csirt("cert-health")
    tenant = await pipe.add_tenant("st-hospital", csirt_id="cert-health")
    base = f"/api/v1/providers/{tenant.provider_id}/assets"
    await pipe.add_assets(tenant, REGISTERED)
    imports = {
        "csv": await pipe.call("POST", f"{base}/import?format=csv", auth=tenant.auth, content=CSV.encode()),
        "cyclonedx": await pipe.call(
            "POST", f"{base}/import?format=cyclonedx", auth=tenant.auth, content=json.dumps(HBOM).encode()
        ),
    }
    imports["csaf-vex"] = await pipe.call(
        "POST",
        f"{base}/import?format=csaf-vex",
        auth=tenant.auth,
        content=vendor_vex(json.loads(documents["ICSA-17-320-01"])),
    )
    sub = await pipe.subscribe_webhook(tenant, everything.url())
    everything.secrets = [sub["secret"]]
    sub = await pipe.subscribe_webhook(tenant, power_only.url(), asset_categories=["power"])
    power_only.secrets = [sub["secret"]]

    for key, payload in documents.items():
        report = await pipe.ingest(payload, kind="csaf", feed_id="cisa-csaf")
        assert report.rejected == 0, key
    await pipe.drained(timeout=60)
    alerts = await pipe.alerts(tenant.auth)
    await everything.wait_accepted(len(alerts), timeout=30)
    power = [a for a in alerts if a["match"].get("asset_category") == "power"]
    await power_only.wait_accepted(len(power), timeout=30)
    assets = (await pipe.call("GET", f"{base}?limit=1000", auth=tenant.auth))["items"]
    async with pipe.runtime.sessions() as session:
        status = await build_status(session=session)
    return Outcome(pipe, tenant, alerts, everything, power_only, imports, status, assets)


# --- the inventory went in whole --------------------------------------------------------------------------------


def test_every_import_applied_without_errors(outcome: Outcome) -> None:
    csv, hbom, vex = outcome.imports["csv"], outcome.imports["cyclonedx"], outcome.imports["csaf-vex"]
    assert (csv["imported"], csv["errors"]) == (5, [])
    assert (hbom["imported"], hbom["errors"]) == (3, [])
    assert (vex["updated"], vex["errors"]) == (1, [])
    by_name = {a["name"]: a for a in outcome.assets}
    assert set(by_name) == set(CATEGORY_OF)
    ups = by_name["UPS ICU-2"]
    assert (ups["kind"], ups["category"], ups["care_dependency"], ups["version"]) == (
        "infrastructure",
        "power",
        "life_sustaining",
        "V2.5.4",
    )
    assert by_name["Serial gateway OR"]["not_affected"]
    assert {category(n) for n in CATEGORY_OF if category(n)} == {
        "video",
        "access_control",
        "building_automation",
        "power",
        "fire_safety",
        "communication",
        "network_gateway",
        "lab_automation",
        "other",
    }


def test_the_corpus_states_no_not_affected_or_fixed_product(shared_data: Path) -> None:
    """Why the known_not_affected near miss comes from a VEX import: the ICS corpus has none of its own."""
    statuses: Counter[str] = Counter()
    for path in (shared_data / ICS).glob("*.json"):
        for vuln in json.loads(path.read_bytes()).get("vulnerabilities", []):
            statuses.update((vuln.get("product_status") or {}).keys())
    assert statuses["known_affected"] > 0
    assert statuses["known_not_affected"] == statuses["fixed"] == 0


# --- exactly these pairs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "verdict"), [pytest.param(p, v, id=f"{p[0]}-{p[1]}") for p, v in EXPECTED.items()]
)
def test_expected_pair(outcome: Outcome, pair: tuple[str, str], verdict: str) -> None:
    found = verdicts(outcome.alerts)
    assert found.get(pair) == verdict, f"{pair}: expected {verdict}, got {found.get(pair)}"


@pytest.mark.parametrize(
    ("pair", "why"), [pytest.param(p, w, id=f"{p[0]}-{p[1]}") for p, w in NEAR_MISSES.items()]
)
def test_near_miss_stays_silent(outcome: Outcome, pair: tuple[str, str], why: str) -> None:
    assert pair not in verdicts(outcome.alerts), f"{pair} alerted although {why}"


def test_no_other_pair_alerts(outcome: Outcome) -> None:
    unexpected = {pair: v for pair, v in verdicts(outcome.alerts).items() if pair not in EXPECTED}
    assert unexpected == {}
    assert len(outcome.alerts) == len({(a["match"]["asset_name"], advisory_of(a)) for a in outcome.alerts})


# --- what the alerts say and where they go ----------------------------------------------------------------------


def test_alerts_name_the_equipment_and_its_category(outcome: Outcome) -> None:
    for alert in outcome.alerts:
        name = alert["match"]["asset_name"]
        assert alert["match"]["asset_category"] == category(name)
        assert f"'{name}'" in alert["reason"]
    by_name = {a["match"]["asset_name"]: a for a in outcome.alerts if a["advisory"] != "ICSA-22-125-01"}
    ups = by_name["UPS ICU-1"]
    assert ups["match"]["asset_kind"] == "infrastructure"
    assert "firmware V2.5.3 on your equipment 'UPS ICU-1' is within the affected range" in ups["reason"]
    ahu = by_name["AHU theatres"]
    assert ahu["reason"].startswith("Possibly affected") and "ICSA-20-105-06" in ahu["reason"]
    assert '"DH-NVR1XXX"' in by_name["Recorder hall B"]["reason"]  # the model the advisory wrote as a version
    pump = next(a for a in outcome.alerts if a["match"]["asset_name"] == "Infusion SpaceCom")
    assert pump["match"]["asset_category"] is None


def test_webhooks_carry_the_category_and_the_power_subscription_only_power(outcome: Outcome) -> None:
    delivered = [r.json()["data"] for r in outcome.everything.accepted]
    assert sorted(d["id"] for d in delivered) == sorted(a["id"] for a in outcome.alerts)
    assert {d["match"]["asset_name"]: d["match"]["asset_category"] for d in delivered} == {
        a["match"]["asset_name"]: category(a["match"]["asset_name"]) for a in outcome.alerts
    }
    power = {r.json()["data"]["match"]["asset_name"] for r in outcome.power_only.accepted}
    assert (
        power == {name for name, _ in EXPECTED if category(name) == "power"} == {"PDU theatre 3", "UPS ICU-1"}
    )
    assert all(r.verified for r in outcome.power_only.requests)


def test_status_page_names_each_category(outcome: Outcome) -> None:
    """One line per category with live equipment: its assets and the open alerts stored for them."""
    assets = Counter(c for n in CATEGORY_OF if (c := category(n)))
    alerts = Counter(c for a in outcome.alerts if (c := category(a["match"]["asset_name"])))
    lines = [(line.category, line.assets, line.open_alerts) for line in outcome.status.equipment]
    assert lines == [(c, assets[c], alerts[c]) for c in ORDER if assets[c]]
    assert alerts["power"] == 2  # PDU theatre 3 and UPS ICU-1; every pair is asserted above


async def test_api_names_every_invalid_equipment_field_and_keeps_a_registration_idempotent(
    outcome: Outcome,
) -> None:
    url = f"/api/v1/providers/{outcome.tenant.provider_id}/assets"
    bad = {"kind": "infrastructure", "name": "Mystery box", "supports": "ICU", "category": "toaster"}
    resp = await outcome.pipe.api.post(url, json=bad, headers=outcome.tenant.auth)
    assert resp.status_code == 422
    refused = {tuple(e["loc"]): e["msg"] for e in resp.json()["errors"]}
    assert "'power'" in refused[("body", "AssetIn", "category")]  # the request names the allowed categories
    resp = await outcome.pipe.api.post(url, json={**bad, "category": "other"}, headers=outcome.tenant.auth)
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"vendor", "product", "care_dependency"}
    again = await outcome.pipe.api.post(url, json=REGISTERED[0], headers=outcome.tenant.auth)
    assert again.status_code == 200  # the same equipment again: unchanged, no new asset
    assert again.json()["name"] == "Entrance camera" and again.json()["category"] == "video"


async def test_status_counts_equipment_in_the_database(sessions: SessionFactory) -> None:
    """The per-category counts are grouped in SQL on SQLite and PostgreSQL: deleted equipment and closed alerts
    do not count, other kinds never appear."""
    now = datetime.now(UTC)
    rows = [
        asset_from_mapping({**REGISTERED[0]}, provider_id="st-status"),  # video
        asset_from_mapping({**REGISTERED[2]}, provider_id="st-status"),  # video ("cctv")
        asset_from_mapping({**HBOM_UPS, "name": "UPS A"}, provider_id="st-status"),
        asset_from_mapping({**HBOM_UPS, "name": "UPS B"}, provider_id="st-status"),
        asset_from_mapping(REGISTERED[-1], provider_id="st-status"),  # a medical device
    ]
    async with sessions() as session:
        await upsert_provider(
            session=session, provider=Provider(id="st-status", name="St Status", country="DE")
        )
        await save_assets(session=session, provider_id="st-status", assets=rows)
        await delete_assets(session=session, provider_id="st-status", asset_ids=[rows[3].id])
        for i, (asset, status) in enumerate(
            [
                (rows[0], "new"),
                (rows[0], "resolved"),
                (rows[2], "acknowledged"),
                (rows[3], "new"),
                (rows[4], "new"),
            ]
        ):
            session.add(
                AlertRow(
                    id=f"alr_{i}",
                    provider_id="st-status",
                    indicator_key=f"vulnerability:X-{i}",
                    asset_id=asset.id,
                    revision=1,
                    severity="high",
                    score=60.0,
                    status=status,
                    data={},
                    matched_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.commit()
        lines = await equipment_by_category(session=session)
    assert [(x.category, x.assets, x.open_alerts) for x in lines] == [("power", 1, 1), ("video", 2, 1)]
