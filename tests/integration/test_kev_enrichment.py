"""A CSAF advisory carries the KEV status of its CVEs, whichever of the two ingest stores first.

Real data from ../shared/data: the CISA KEV catalogue of 2025-08-05 and the ICS medical advisories
ICSMA-20-049-01 (Spacelabs, BlueKeep CVE-2019-0708: KEV-listed, ransomware use known), ICSMA-17-215-01
(Siemens: CVE-2017-7269 KEV-listed, CVE-2008-4250 not) and ICSMA-22-174-01 (OFFIS DCMTK: no CVE in KEV).
The real ingest service stores and publishes on the in-process bus; the real correlate worker handles what was
published, in order, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import event, insert, select
from tests.support.correlate_seed import seed_inventory

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.correlate.worker import CorrelateWorker
from ewarn.ingest import repository
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.models import IngestReport
from ewarn.ingest.records import FeedContext
from ewarn.ingest.service import IngestService
from ewarn.ingest.sources.kev import parse_kev
from ewarn.models import Alert, Asset, AssetKind, ClinicalCriticality, Indicator, NetworkExposure
from ewarn.models.alert import Severity
from ewarn.settings import Settings
from ewarn.store.db import SessionFactory, create_engine
from ewarn.store.migrate import alembic_config
from ewarn.store.tables import IndicatorCveRow, IndicatorRow

TOPICS = Topics()
NOW = datetime(2026, 1, 5, tzinfo=UTC)
KEV = Path("kev") / "known_exploited_vulnerabilities_2025-08-05.json"
SPACELABS = Path("csaf") / "cisa-icsma" / "icsma-20-049-01.json"
SIEMENS = Path("csaf") / "cisa-icsma" / "icsma-17-215-01.json"
DCMTK = Path("csaf") / "cisa-icsma" / "icsma-22-174-01.json"
BLUEKEEP, IIS = "CVE-2019-0708", "CVE-2017-7269"

INVENTORY = [
    Asset(
        id="xtr",
        provider_id="st-elsewhere",
        kind=AssetKind.MEDICAL_DEVICE,
        name="Telemetry",
        vendor="Spacelabs",
        product="Xhibit Telemetry Receiver (XTR) Model number 96280",
        version="1.0.2",
        clinical_criticality=ClinicalCriticality.LIFE_SUSTAINING,
        network_exposure=NetworkExposure.INTERNET,
    ),
    Asset(
        id="spect",
        provider_id="st-elsewhere",
        kind=AssetKind.MEDICAL_DEVICE,
        name="SPECT",
        vendor="Siemens Healthineers",
        product="SPECT Workplaces/Symbia.net Windows XP-Based",
    ),
    Asset(
        id="pacs",
        provider_id="st-elsewhere",
        kind=AssetKind.SOFTWARE,
        name="PACS gateway",
        vendor="OFFIS",
        product="DCMTK",
        version="3.6.6",
    ),
]


def kev_entries(data: Path, *cves: str) -> bytes:
    """The real catalogue cut to ``cves`` (all of it without any)."""
    catalogue = json.loads((data / KEV).read_bytes())
    if not cves:
        return json.dumps(catalogue).encode()
    chosen = [v for v in catalogue["vulnerabilities"] if v["cveID"] in cves]
    assert len(chosen) == len(cves)
    return json.dumps({**catalogue, "count": len(chosen), "vulnerabilities": chosen}).encode()


def kev_entry(data: Path, cve: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = json.loads(kev_entries(data, cve))["vulnerabilities"]
    return entries[0]


class Rig:
    """Ingest, then let the correlator handle every indicator published since the last call, in order."""

    def __init__(self, sessions: SessionFactory, http: httpx.AsyncClient, data: Path) -> None:
        self.sessions, self.data, self.bus = sessions, data, MemoryBus()
        self.ingest_service = IngestService(
            sessions=sessions, bus=self.bus, topics=TOPICS, settings=Settings(), http=http
        )
        self.worker = CorrelateWorker(self.bus, sessions, TOPICS)
        self.handled = 0

    async def start(self) -> None:
        await seed_inventory(
            self.sessions,
            INVENTORY,
            now=NOW,
            providers=("st-elsewhere",),
            names={"st-elsewhere": "St Elsewhere"},
        )
        assert await self.worker.load_assets() == len(INVENTORY)

    async def ingest(self, payload: bytes, kind: str) -> IngestReport:
        feed = {"kev": "cisa-kev", "csaf": "cisa-csaf"}[kind]
        return await self.ingest_service.ingest_bytes(payload=payload, kind=kind, feed_id=feed)

    async def advisory(self, path: Path) -> IngestReport:
        return await self.ingest((self.data / path).read_bytes(), "csaf")

    def published_keys(self) -> list[str]:
        return [str(r.key) for r in self.bus.records(TOPICS.indicators)]

    async def correlate(self) -> dict[str, Alert]:
        """The alerts (by asset) the correlator publishes for what ingest published since the last call."""
        records = self.bus.records(TOPICS.indicators)[self.handled :]
        self.handled += len(records)
        out: dict[str, Alert] = {}
        for record in records:
            for alert in await self.worker.handle_indicator(Indicator.model_validate_json(record.value)):
                out[alert.asset_id] = alert
        return out

    async def stored(self, key: str) -> Indicator:
        async with self.sessions() as session:
            found = await repository.get_indicator(session=session, key=key)
        assert found is not None and found.vulnerability is not None
        return found


@pytest.fixture
async def rig(sessions: SessionFactory, shared_data: Path) -> AsyncIterator[Rig]:
    async with httpx.AsyncClient() as http:
        built = Rig(sessions, http, shared_data)
        await built.start()
        yield built


def flags(indicator: Indicator) -> tuple[bool, bool, str | None, dict[str, bool]]:
    vuln = indicator.vulnerability
    assert vuln is not None
    per_cve = {d.id: d.known_exploited for d in vuln.cve_details}
    return vuln.known_exploited, vuln.known_ransomware_use, vuln.kev_date_added, per_cve


async def test_kev_first_then_advisory_alerts_known_exploited(rig: Rig) -> None:
    kev = await rig.ingest(kev_entries(rig.data, BLUEKEEP, IIS), "kev")
    assert (kev.accepted, kev.published) == (2, 2)
    for path in (SPACELABS, SIEMENS):
        report = await rig.advisory(path)
        assert (report.accepted, report.published) == (1, 1)
    spacelabs = await rig.stored("vulnerability:ICSMA-20-049-01")
    bluekeep = kev_entry(rig.data, BLUEKEEP)
    assert flags(spacelabs) == (True, True, bluekeep["dateAdded"], {BLUEKEEP: True})
    assert spacelabs.labels == ["ransomware", "exploit"]
    siemens = await rig.stored("vulnerability:ICSMA-17-215-01")  # ransomware use unknown for IIS
    assert flags(siemens) == (
        True,
        False,
        kev_entry(rig.data, IIS)["dateAdded"],
        {IIS: True, "CVE-2008-4250": False},
    )
    alerts = await rig.correlate()
    telemetry = alerts["xtr"]
    assert (telemetry.revision, telemetry.known_exploited, telemetry.severity) == (1, True, Severity.CRITICAL)
    assert alerts["spect"].known_exploited


async def test_advisory_first_then_kev_revises_the_same_alert(rig: Rig) -> None:
    await rig.advisory(SPACELABS)
    first = (await rig.correlate())["xtr"]
    assert (first.revision, first.known_exploited, first.severity) == (1, False, Severity.HIGH)
    assert flags(await rig.stored("vulnerability:ICSMA-20-049-01"))[0] is False

    kev = await rig.ingest(kev_entries(rig.data, BLUEKEEP), "kev")
    # the KEV entry and the advisory it marks, republished in the same batch
    assert kev.published == 2
    assert rig.published_keys()[-2:] == ["vulnerability:CVE-2019-0708", "vulnerability:ICSMA-20-049-01"]
    revised = (await rig.correlate())["xtr"]
    assert revised.id == first.id
    assert (revised.revision, revised.known_exploited, revised.severity) == (2, True, Severity.CRITICAL)
    assert revised.score > first.score
    assert flags(await rig.stored("vulnerability:ICSMA-20-049-01"))[:2] == (True, True)

    # the same KEV again, then the same advisory again: nothing is news, no revision
    before = len(rig.published_keys())
    assert (await rig.ingest(kev_entries(rig.data, BLUEKEEP), "kev")).published == 0
    assert (await rig.advisory(SPACELABS)).published == 0
    assert len(rig.published_keys()) == before
    assert await rig.correlate() == {}
    assert flags(await rig.stored("vulnerability:ICSMA-20-049-01"))[:2] == (True, True)


@pytest.mark.parametrize(
    "kev_first", [pytest.param(True, id="kev-first"), pytest.param(False, id="csaf-first")]
)
async def test_advisory_without_a_kev_cve_stays_unflagged(rig: Rig, kev_first: bool) -> None:
    catalogue = kev_entries(rig.data)  # the whole catalogue: none of DCMTK's CVEs is in it
    if kev_first:
        await rig.ingest(catalogue, "kev")
    await rig.advisory(DCMTK)
    if not kev_first:
        await rig.ingest(catalogue, "kev")
    dcmtk = await rig.stored("vulnerability:ICSMA-22-174-01")
    assert flags(dcmtk) == (False, False, None, dict.fromkeys(dcmtk.cves, False))
    assert rig.published_keys().count("vulnerability:ICSMA-22-174-01") == 1
    alert = (await rig.correlate())["pacs"]
    assert (alert.revision, alert.known_exploited) == (1, False)


async def test_kev_batch_reads_advisories_once_not_per_cve(rig: Rig) -> None:
    for path in (SPACELABS, SIEMENS, DCMTK):
        await rig.advisory(path)
    async with rig.sessions() as session:
        engine = session.bind
        named = sorted((r.indicator_key, r.cve) for r in await session.scalars(select(IndicatorCveRow)))
    assert ("vulnerability:ICSMA-17-215-01", IIS) in named and len(named) == 6
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        kev = await rig.ingest(kev_entries(rig.data), "kev")  # the whole catalogue, ~1,400 entries
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert kev.accepted > 1000
    assert kev.published == kev.accepted + 2  # every entry, and the two advisories naming a KEV CVE
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM indicator" in s]
    by_cve = [s for s in reads if "FROM indicator_cves" in s]
    assert len(by_cve) == 1, by_cve  # the advisories naming any of the ~1,400 CVEs: one read
    # the batch by key (in chunks of 500, as before), the advisories by CVE, the CVEs they name
    assert len(reads) == 3 + 1 + 1, reads
    alerts = await rig.correlate()
    assert {a for a, alert in alerts.items() if alert.known_exploited} == {"xtr", "spect"}


class HeldBus(MemoryBus):
    """The in-process bus; while ``held`` is set, the next publish waits for ``release`` (a slow broker
    keeping the ingest transaction open)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        if self.held.is_set():
            self.held.clear()
            await self.release.wait()
        await super().publish_many(topic, items, headers)


async def _at_once(first: IngestService, second: IngestService, bus: HeldBus, data: Path) -> None:
    """The KEV entry's transaction is held open at publish while the advisory is ingested."""
    bus.held.set()
    kev = asyncio.create_task(
        first.ingest_bytes(payload=kev_entries(data, BLUEKEEP), kind="kev", feed_id="cisa-kev")
    )
    while bus.held.is_set():
        await asyncio.sleep(0.01)
    csaf = asyncio.create_task(
        second.ingest_bytes(payload=(data / SPACELABS).read_bytes(), kind="csaf", feed_id="cisa-csaf")
    )
    await asyncio.sleep(0.3)  # time enough for the advisory to be stored, were it not waiting its turn
    bus.release.set()
    await asyncio.gather(kev, csaf)


async def _stored_flag(sessions: SessionFactory) -> bool:
    async with sessions() as session:
        found = await repository.get_indicator(session=session, key="vulnerability:ICSMA-20-049-01")
    assert found is not None and found.vulnerability is not None
    return found.vulnerability.known_exploited


async def test_advisory_and_kev_at_once_in_one_process(sessions: SessionFactory, shared_data: Path) -> None:
    bus = HeldBus()
    async with httpx.AsyncClient() as http:
        service = IngestService(sessions=sessions, bus=bus, topics=TOPICS, settings=Settings(), http=http)
        await _at_once(service, service, bus, shared_data)
    assert await _stored_flag(sessions)


async def test_advisory_and_kev_at_once_in_two_processes(
    pg_sessions: SessionFactory, shared_data: Path
) -> None:
    # two ingest processes on one PostgreSQL: the transaction-level advisory lock makes them take turns
    bus = HeldBus()
    async with httpx.AsyncClient() as http:
        one, two = (
            IngestService(sessions=pg_sessions, bus=bus, topics=TOPICS, settings=Settings(), http=http)
            for _ in range(2)
        )
        await _at_once(one, two, bus, shared_data)
    assert await _stored_flag(pg_sessions)


async def test_migration_0007_indexes_advisories_stored_before_it(tmp_path: Path, shared_data: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")

    def upgrade(revision: str) -> Callable[[Any], None]:
        def run(connection: Any) -> None:
            cfg = alembic_config(str(engine.url))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        return run

    ctx = FeedContext(feed_id="cisa-csaf", feed_kind="csaf", now=NOW)
    parsed = [parse_csaf((shared_data / path).read_bytes(), ctx).indicators[0] for path in (SIEMENS, DCMTK)]
    kev = parse_kev(kev_entries(shared_data, IIS), FeedContext(feed_id="cisa-kev", feed_kind="kev", now=NOW))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade("0006"))
            for item in [*parsed, *kev.indicators]:
                await conn.execute(
                    insert(IndicatorRow).values(
                        key=item.key,
                        type=item.type.value,
                        data=item.model_dump(mode="json"),
                        tlp=item.tlp.value,
                        revoked=False,
                        first_seen=NOW,
                        last_seen=NOW,
                    )
                )
        async with engine.begin() as conn:
            await conn.run_sync(upgrade("head"))
            named = sorted(
                (await conn.execute(select(IndicatorCveRow.indicator_key, IndicatorCveRow.cve))).all()
            )
    finally:
        await engine.dispose()
    assert named == [
        ("vulnerability:ICSMA-17-215-01", "CVE-2008-4250"),
        ("vulnerability:ICSMA-17-215-01", IIS),
        ("vulnerability:ICSMA-22-174-01", "CVE-2022-2119"),
        ("vulnerability:ICSMA-22-174-01", "CVE-2022-2120"),
        ("vulnerability:ICSMA-22-174-01", "CVE-2022-2121"),
    ]
