"""Every real file in ../shared/data, for each feed kind, through the real IngestService and database.

Expected counts and sample values are read from the files here with simple independent methods (json, regex,
line counts), never from ewarn's own output.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.ingest import rejections as rejection_store
from ewarn.ingest import repository
from ewarn.ingest.service import IngestService
from ewarn.models.common import TLP
from ewarn.models.indicator import Indicator
from ewarn.settings import Settings
from ewarn.store.db import SessionFactory

TOPICS = Topics(prefix="t")
_VALUE = re.compile(
    r"(ipv4-addr|ipv6-addr|domain-name|url|email-addr):value\s*(?:=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'"
    r"|hashes\.'?(MD5|SHA-1|SHA-256|SHA-512|SHA1|SHA256)'?\s*=\s*'([0-9A-Fa-f]+)'",
    re.IGNORECASE,
)


@pytest.fixture
async def service(sqlite_sessions: SessionFactory, memory_bus: MemoryBus) -> AsyncIterator[IngestService]:
    async with httpx.AsyncClient() as http:
        yield IngestService(
            sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=Settings(), http=http
        )


def published(bus: MemoryBus) -> dict[str, Indicator]:
    return {r.key or "": Indicator.model_validate_json(r.value) for r in bus.records(TOPICS.indicators)}


# --- STIX -------------------------------------------------------------------------------------------------


def _stix_files(root: Path) -> list[Path]:
    stix = root / "stix"
    files = sorted((stix / "feeds2stix-dogesec").glob("*.json"))
    files += sorted((stix / "oasis-stix2-json-schemas" / "examples").rglob("*.json"))
    return files


def _values_in_patterns(objects: list[dict[str, Any]]) -> int:
    """Observables in indicator patterns by regex (per indicator, duplicates counted once)."""
    total = 0
    for obj in objects:
        if obj.get("type") == "indicator":
            total += len({m.group(0) for m in _VALUE.finditer(obj.get("pattern", ""))})
    return total


async def test_every_stix_bundle(shared_data: Path, service: IngestService, memory_bus: MemoryBus) -> None:
    files = _stix_files(shared_data)
    assert len(files) >= 12
    for path in files:
        objects = json.loads(path.read_bytes())["objects"]
        indicators = sum(1 for o in objects if o.get("type") == "indicator")
        vulnerabilities = [o for o in objects if o.get("type") == "vulnerability"]
        report = await service.ingest_location(str(path), feed_id=path.stem[:60])
        assert report.read == indicators + len(vulnerabilities), path.name
        observables = report.accepted - len(vulnerabilities)
        value_rejections = sum(1 for r in report.rejections if ":value" in r.record or ":hashes" in r.record)
        assert observables + value_rejections == _values_in_patterns(objects), path.name
    keys = published(memory_bus)
    # sample values read by hand from the files
    assert "url:https://cloudaxis.cc/gsmft/yueu/fkvqld/tvqqwh/ushu/22.exe" in keys  # vxvault_bundle.json
    assert "ipv4:1.0.164.165" in keys  # cinsscore_bundle.json
    assert "sha1:16b297fe392a082c653ed159106253c76c2e6b66" in keys  # cobaltstrike, first of an OR-chain
    assert "ipv4:223.166.0.0/15" in keys  # apt1.json, a CIDR
    assert "domain:www.webserver.dynssl.com" in keys  # poisonivy.json, OR-chain with IPs
    assert "vulnerability:CVE-2012-0158" in keys  # poisonivy.json vulnerability object
    assert keys["ipv4:1.0.164.165"].tlp is TLP.CLEAR  # marked with the TLP 2.0 CLEAR id


async def test_poisonivy_bad_domain_value_is_rejected_by_name(
    shared_data: Path, service: IngestService
) -> None:
    path = shared_data / "stix/oasis-stix2-json-schemas/examples/threat-reports/poisonivy.json"
    report = await service.ingest_location(str(path), feed_id="poisonivy")
    # the file really contains "domain autuo.xicp.net" (with a space) in a domain-name pattern
    bad = [r for r in report.rejections if "autuo.xicp.net" in (r.excerpt or "")]
    assert len(bad) == 1 and "indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40" in bad[0].reason


async def test_replaying_a_bundle_adds_nothing(
    shared_data: Path, service: IngestService, memory_bus: MemoryBus, sqlite_sessions: SessionFactory
) -> None:
    path = shared_data / "stix/oasis-stix2-json-schemas/examples/threat-reports/poisonivy.json"
    first = await service.ingest_location(str(path), feed_id="pi")
    async with sqlite_sessions() as session:
        indicators = await repository.count_indicators(session=session)
        rejections = await rejection_store.count_rejections(session=session)
    size = memory_bus.size(TOPICS.indicators)
    second = await service.ingest_location(str(path), feed_id="pi")
    async with sqlite_sessions() as session:
        assert await repository.count_indicators(session=session) == indicators
        assert await rejection_store.count_rejections(session=session) == rejections
    assert second.accepted == first.accepted > 0
    assert second.published == 0 and memory_bus.size(TOPICS.indicators) == size


# --- IOC lists ----------------------------------------------------------------------------------------------


def _data_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


async def test_ioc_list_feodo_csv(shared_data: Path, service: IngestService, memory_bus: MemoryBus) -> None:
    path = shared_data / "iocfeeds/abusech-feodo/feodotracker_ipblocklist_2024-04-04.csv"
    rows = _data_lines(path)[1:]  # minus the header row
    config = {
        "columns": {"dst_ip": "ipv4"},
        "seen_column": "first_seen_utc",
        "label_columns": ["malware"],
        "labels": ["c2", "botnet"],
    }
    report = await service.ingest_location(str(path), kind="ioc_list", feed_id="feodo", config=config)
    assert (report.read, report.accepted, report.rejected) == (len(rows), len(rows), 0)
    assert len(rows) == 28  # the file's own footer says "END 28 entries"
    got = published(memory_bus)["ipv4:192.9.135.73"]  # first data row
    assert got.labels == ["c2", "botnet"]
    assert got.source.seen_at is not None and got.source.seen_at.isoformat() == "2023-05-23T17:51:44+00:00"
    assert "ipv4:172.233.221.61" in published(memory_bus)  # last data row


async def test_ioc_list_malwarebazaar_three_hashes_per_row(
    shared_data: Path, service: IngestService, memory_bus: MemoryBus
) -> None:
    path = shared_data / "iocfeeds/abusech-via-feeds2stix/abuse_ch_malwarebazaar_dump_20260226.csv"
    rows = _data_lines(path)
    config = {
        "header": "comment",
        "columns": {"sha256_hash": "sha256", "md5_hash": "md5", "sha1_hash": "sha1"},
        "seen_column": "first_seen_utc",
    }
    report = await service.ingest_location(str(path), kind="ioc_list", feed_id="bazaar", config=config)
    assert (report.read, report.accepted, report.rejected) == (len(rows), 3 * len(rows), 0)
    keys = published(memory_bus)
    assert "sha256:19d854caf81bc884c677bd941abc50b33716e188fa723991820b0ffa3ea7e93e" in keys
    assert "md5:9363fa2625198beb1fcce0ef07f558ff" in keys


async def test_ioc_list_sslbl_commented_header(
    shared_data: Path, service: IngestService, memory_bus: MemoryBus
) -> None:
    path = shared_data / "iocfeeds/abusech-via-feeds2stix/abuse_ch_sslblacklist_sslblacklist_1.csv"
    rows = _data_lines(path)
    config = {"header": "comment", "columns": {"SHA1": "sha1"}, "label_columns": ["Listingreason"]}
    report = await service.ingest_location(str(path), kind="ioc_list", feed_id="sslbl", config=config)
    assert (report.read, report.accepted, report.rejected) == (len(rows), len(rows), 0)
    assert published(memory_bus)["sha1:854c68ab7ad70b6f95f76ec64b8a46c145997629"].labels == [
        "c2"
    ]  # AsyncRAT C&C


@pytest.mark.parametrize(
    "name",
    [
        "abusech-via-feeds2stix/cinsscore_cinsscore_sample.txt",
        "abusech-via-feeds2stix/ipsum_ipsum_level_8_sample.txt",
        "abusech-via-feeds2stix/vxvault_vxvault_sample.txt",
        "eset-hashlists/agrius_samples.sha1",
        "eset-hashlists/agrius_samples.sha256",
        "eset-hashlists/glupteba_samples.sha1",
        "eset-hashlists/glupteba_samples.sha256",
        "eset-hashlists/oceanlotus_samples.sha1",
        "eset-hashlists/oceanlotus_samples.sha256",
    ],
)
async def test_ioc_list_plain_text(
    shared_data: Path, service: IngestService, memory_bus: MemoryBus, name: str
) -> None:
    path = shared_data / "iocfeeds" / name
    lines = _data_lines(path)
    report = await service.ingest_location(str(path), kind="ioc_list", feed_id="txt")
    assert (report.read, report.accepted, report.rejected) == (len(lines), len(lines), 0)
    first = lines[0].strip()
    expected_type = {".sha1": "sha1", ".sha256": "sha256"}.get(path.suffix)
    key = next(k for k in published(memory_bus) if k.endswith(first.lower()) or first.lower() in k)
    if expected_type:
        assert key == f"{expected_type}:{first.lower()}"


# --- MISP event exports -------------------------------------------------------------------------------------


def _misp_expected(path: Path) -> tuple[int, int]:
    """(to_ids attributes, indicators they should give) counted straight from the export."""
    document = json.loads(path.read_bytes())
    items = document.get("response", [document])
    attributes = []
    for item in items:
        event = item["Event"]
        attributes += event.get("Attribute", [])
        attributes += [a for o in event.get("Object", []) for a in o.get("Attribute", [])]
    chosen = [a for a in attributes if a.get("to_ids") and not a.get("deleted")]
    per_type = {"domain|ip": 2, "regkey": 0}
    return len(chosen), sum(per_type.get(a["type"], 1) for a in chosen)


@pytest.mark.parametrize(
    "name",
    [
        "eset-malware-ioc-events/backdoordiplomacy_misp.event_2021-06-10_backdoordiplomacy.json",
        "eset-malware-ioc-events/glupteba_glupteba.misp-event.json",
        "eset-malware-ioc-events/sednit_2018-11-20_Zebrocy.json",
        "redblue232-crowdsec-misp-feed/6a10e5d8-f1cd-42b0-8240-a4650efd83d6.json",
        "redblue232-crowdsec-misp-feed/8f09de10-6867-45c6-814d-3d91a33d3af7.json",
        "redblue232-crowdsec-misp-feed/d177856e-6e46-44ee-8eb5-83ef1c7452c7.json",
    ],
)
async def test_misp_event_exports(shared_data: Path, service: IngestService, name: str) -> None:
    path = shared_data / "misp" / name
    chosen, expected = _misp_expected(path)
    report = await service.ingest_location(str(path), kind="misp", feed_id="misp")
    assert report.read == chosen
    assert report.accepted == expected


async def test_misp_distribution_and_tags(
    shared_data: Path, service: IngestService, memory_bus: MemoryBus, sqlite_sessions: SessionFactory
) -> None:
    path = shared_data / "misp/eset-malware-ioc-events/glupteba_glupteba.misp-event.json"
    event = json.loads(path.read_bytes())["response"][0]["Event"]
    assert event["distribution"] == "0"  # "your organisation only" in the file itself
    await service.ingest_location(str(path), kind="misp", feed_id="glupteba")
    first_ip = next(a["value"] for a in event["Attribute"] if a["type"] == "ip-dst")
    assert published(memory_bus)[f"ipv4:{first_ip}"].tlp is TLP.AMBER_STRICT
    regkey = next(a for a in event["Attribute"] if a["type"] == "regkey")
    async with sqlite_sessions() as session:
        stored = await rejection_store.list_rejections(session=session, feed_id="glupteba")
    assert [r.record for r in stored] == [regkey["uuid"]]


# --- KEV ------------------------------------------------------------------------------------------


async def test_kev_catalogue(shared_data: Path, service: IngestService, memory_bus: MemoryBus) -> None:
    path = shared_data / "kev/known_exploited_vulnerabilities_2025-08-05.json"
    catalogue = json.loads(path.read_bytes())
    report = await service.ingest_location(str(path), kind="kev", feed_id="kev")
    assert report.accepted == len(catalogue["vulnerabilities"]) == catalogue["count"] == 1394
    first = catalogue["vulnerabilities"][0]
    got = published(memory_bus)[f"vulnerability:{first['cveID']}"]
    assert got.vulnerability is not None and got.vulnerability.known_exploited
    assert got.vulnerability.kev_date_added == first["dateAdded"]
    ransomware = next(v for v in catalogue["vulnerabilities"] if v["knownRansomwareCampaignUse"] == "Known")
    assert published(memory_bus)[f"vulnerability:{ransomware['cveID']}"].labels == ["ransomware", "exploit"]


async def test_kev_flag_merges_into_cve_record(
    shared_data: Path, service: IngestService, sqlite_sessions: SessionFactory
) -> None:
    await service.ingest_location(str(shared_data / "cve/CVE-2024-1709.json"), kind="cve5", feed_id="cve")
    path = shared_data / "kev/known_exploited_vulnerabilities_2025-08-05.json"
    await service.ingest_location(str(path), kind="kev", feed_id="kev")
    async with sqlite_sessions() as session:
        merged = await repository.get_indicator(session=session, key="vulnerability:CVE-2024-1709")
    assert merged is not None and merged.vulnerability is not None
    assert merged.vulnerability.known_exploited  # from KEV
    assert merged.vulnerability.cvss_score == 10.0  # from the CVE record's CISA-ADP metric
    assert merged.sources == ["cve", "kev"]


# --- CVE JSON 5 -----------------------------------------------------------------------------------


async def test_cve5_records(shared_data: Path, service: IngestService, memory_bus: MemoryBus) -> None:
    files = sorted((shared_data / "cve").glob("CVE-*.json"))
    assert len(files) == 7
    for path in files:
        report = await service.ingest_location(str(path), kind="cve5", feed_id="cve")
        assert (report.accepted, report.rejected) == (1, 0), path.name
    keys = published(memory_bus)
    assert {f"vulnerability:{p.stem}" for p in files} <= set(keys)
    alaris = keys["vulnerability:CVE-2023-30563"].vulnerability
    assert alaris is not None
    product = alaris.affected[0]
    # the file: vendor "Becton Dickinson & Co", product "BD Alarisâ„¢ Systems Manager",
    # version "0" lessThanOrEqual "12.3"
    assert (product.vendor, product.product) == ("Becton Dickinson & Co", "BD Alaris Systems Manager")
    assert (product.versions[0].lte, product.versions[0].gte) == ("12.3", None)
    log4j = keys["vulnerability:CVE-2021-44228"].vulnerability
    assert log4j is not None and log4j.cvss_score == 10.0
    moveit = keys["vulnerability:CVE-2023-34362"].vulnerability
    assert moveit is not None  # CNA says n/a; products come from the CISA ADP container with CPEs
    assert any(p.cpe and "moveit_transfer" in p.cpe for p in moveit.affected)


# --- CSAF -----------------------------------------------------------------------------------------


def _csaf_files(root: Path) -> list[Path]:
    folder = root / "csaf"
    files = sorted((folder / "cisa-icsma").glob("*.json"))
    return files + [
        p for p in sorted((folder / "oasis-spec-examples").glob("*.json")) if "schema" not in p.name
    ]


async def test_csaf_documents(shared_data: Path, service: IngestService, memory_bus: MemoryBus) -> None:
    files = _csaf_files(shared_data)
    assert len(files) == 11
    for path in files:
        document = json.loads(path.read_bytes())
        cves = {v["cve"] for v in document.get("vulnerabilities", []) if "cve" in v}
        report = await service.ingest_location(str(path), kind="csaf", feed_id="csaf")
        assert (report.accepted, report.rejected) == (1, 0), path.name  # one indicator per advisory
        tracking = document["document"]["tracking"]["id"]
        advisory = published(memory_bus)[f"vulnerability:{tracking}"]
        assert sorted(advisory.cves) == sorted(cves), path.name
    keys = published(memory_bus)
    dcmtk = keys["vulnerability:ICSMA-22-174-01"]  # OFFIS DCMTK < 3.6.7, three CVEs, CVSS 7.5 at worst
    assert dcmtk.vulnerability is not None and dcmtk.vulnerability.cvss_score == 7.5
    assert dcmtk.vulnerability.cve_details[0].id == "CVE-2022-2119"
    product = dcmtk.vulnerability.affected[0]
    assert (product.vendor, product.product, product.versions[0].lt) == ("OFFIS", "DCMTK", "3.6.7")
    assert product.cves == ["CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"]
    assert dcmtk.vulnerability.remediations and "3.6.7" in dcmtk.vulnerability.remediations[0]
    braun = keys["vulnerability:ICSMA-20-296-02"].vulnerability  # "<= U61 |<= L81"
    assert braun is not None
    spacecom = next(p for p in braun.affected if p.product == "SpaceCom")
    assert [(v.lte, v.raw) for v in spacecom.versions] == [
        ("U61", "<= U61 |<= L81"),
        ("L81", "<= U61 |<= L81"),
    ]
    evd = keys["vulnerability:2022-EVD-UC-07-001"].vulnerability  # OASIS VEX example: all three statuses
    assert evd is not None and evd.cves == ["CVE-2021-44228"]
    assert {p.status.value for p in evd.affected} == {"affected", "fixed", "not_affected"}


async def test_csaf_push_of_every_file_matches_location_ingest(
    shared_data: Path, service: IngestService
) -> None:
    for path in _csaf_files(shared_data):
        report = await service.ingest_bytes(payload=path.read_bytes(), kind="csaf", feed_id="push")
        assert report.rejected == 0 and report.accepted >= 1, path.name
