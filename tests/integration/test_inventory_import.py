"""Imports end to end on SQLite and PostgreSQL: real CycloneDX/CSAF files, idempotence, VEX, row errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.inventory import service
from ewarn.inventory.importers import ImportFormat, ImportRejected
from ewarn.inventory.models import AssetIn, ImportReport
from ewarn.models.asset import Asset, AssetChange, AssetKind
from ewarn.models.provider import Provider
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.assets import provider_assets
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.tables import AssetRow

A, B = "hosp-a", "hosp-b"
TOPICS = Topics(prefix="t")


class CommitCheckingBus(MemoryBus):
    """Records, for every publish, how many live asset rows another session can already see."""

    def __init__(self, sessions: SessionFactory) -> None:
        super().__init__()
        self.sessions = sessions
        self.visible_at_publish: list[int] = []

    async def publish_many(
        self, topic: str, items: Sequence[tuple[str | None, bytes]], headers: dict[str, bytes] | None = None
    ) -> None:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(AssetRow).where(AssetRow.deleted.is_(False))
            )
        self.visible_at_publish.append(int(count or 0))
        await super().publish_many(topic, items, headers)


@pytest.fixture
async def db(sessions: SessionFactory) -> SessionFactory:
    async with sessions() as session:
        for pid in (A, B):
            await upsert_provider(session=session, provider=Provider(id=pid, name=pid, country="DE"))
        await session.commit()
    return sessions


@pytest.fixture
def bus(db: SessionFactory) -> CommitCheckingBus:
    return CommitCheckingBus(db)


async def run_import(
    db: SessionFactory,
    bus: MemoryBus,
    data: bytes,
    fmt: ImportFormat,
    *,
    provider_id: str = A,
    device_id: str | None = None,
    progress: Any = None,
) -> ImportReport:
    async with db() as session:
        return await service.import_file(
            session=session,
            bus=bus,
            topics=TOPICS,
            provider_id=provider_id,
            data=data,
            fmt=fmt,
            device_id=device_id,
            progress=progress,
        )


async def assets_of(db: SessionFactory, provider_id: str = A) -> list[Asset]:
    async with db() as session:
        return await provider_assets(session=session, provider_id=provider_id)


def changes(bus: MemoryBus) -> list[AssetChange]:
    return [AssetChange.model_validate_json(r.value) for r in bus.records(TOPICS.assets)]


async def register(db: SessionFactory, bus: MemoryBus, **data: Any) -> Asset:
    async with db() as session:
        [saved] = await service.register_assets(
            session=session, bus=bus, topics=TOPICS, provider_id=A, items=[AssetIn.model_validate(data)]
        )
    return saved.asset


async def test_dropwizard_sbom_imports_every_component_once(
    db: SessionFactory, bus: CommitCheckingBus, shared_data: Path
) -> None:
    path = shared_data / "cyclonedx" / "SBOM__dropwizard-1.3.15__bom.json"
    components = json.loads(path.read_text())["components"]
    databind = next(c for c in components if c["name"] == "jackson-databind")

    report = await run_import(db, bus, path.read_bytes(), ImportFormat.CYCLONEDX)
    assert (report.imported, report.updated, report.unchanged, report.errors) == (len(components), 0, 0, [])
    stored = await assets_of(db)
    assert len(stored) == len(components)
    assert {a.kind for a in stored} == {AssetKind.SOFTWARE}
    [asset] = [a for a in stored if a.product == "jackson-databind"]
    assert (asset.purl, asset.version, asset.vendor) == (
        databind["purl"],
        databind["version"],
        databind["publisher"],
    )

    [change] = changes(bus)
    assert sorted(change.changed_asset_ids) == sorted(a.id for a in stored)
    assert bus.visible_at_publish == [len(components)]  # published only after the commit

    again = await run_import(db, bus, path.read_bytes(), ImportFormat.CYCLONEDX)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, len(components))
    assert len(await assets_of(db)) == len(components)
    assert len(changes(bus)) == 1  # nothing changed, nothing announced


async def test_sbom_for_a_device_makes_components_part_of_it(
    db: SessionFactory, bus: MemoryBus, shared_data: Path
) -> None:
    data = (shared_data / "cyclonedx" / "SBOM__laravel-7.12.0__bom.1.4.json").read_bytes()
    count = len(json.loads(data)["components"])
    pump = await register(
        db, bus, kind="medical_device", vendor="Example Medical", product="Pump X", name="pump 1"
    )
    other = await register(
        db, bus, kind="medical_device", vendor="Example Medical", product="Pump X", name="pump 2"
    )

    first = await run_import(db, bus, data, ImportFormat.CYCLONEDX, device_id=pump.id)
    second = await run_import(db, bus, data, ImportFormat.CYCLONEDX, device_id=other.id)
    assert first.imported == second.imported == count
    stored = await assets_of(db)
    assert (
        sum(a.parent_id == pump.id for a in stored) == sum(a.parent_id == other.id for a in stored) == count
    )

    async with db() as session:
        removed = await service.remove_asset(
            session=session, bus=bus, topics=TOPICS, provider_id=A, asset_id=pump.id
        )
    assert len(removed) == count + 1
    assert changes(bus)[-1].removed_asset_ids == removed
    assert {a.parent_id for a in await assets_of(db)} == {None, other.id}


async def test_a_new_sbom_for_a_device_replaces_the_old_one(
    db: SessionFactory, bus: MemoryBus, shared_data: Path
) -> None:
    doc = json.loads((shared_data / "cyclonedx" / "VEX__bom.json").read_text())
    pump = await register(db, bus, kind="medical_device", vendor="V", product="P", name="pump 1")
    by_hand = await register(db, bus, kind="software", purl="pkg:generic/vendor-agent@1", parent_id=pump.id)
    await run_import(db, bus, json.dumps(doc).encode(), ImportFormat.CYCLONEDX, device_id=pump.id)

    dropped, *kept = doc["components"]
    [dropped_id] = [a.id for a in await assets_of(db) if a.purl == dropped["purl"] and a.parent_id == pump.id]
    broken = {**doc, "components": [*kept, {"bom-ref": "nameless"}]}
    partial = await run_import(
        db, bus, json.dumps(broken).encode(), ImportFormat.CYCLONEDX, device_id=pump.id
    )
    assert (partial.unchanged, partial.removed, len(partial.errors)) == (len(kept), 0, 1)

    newer = {**doc, "components": kept}
    report = await run_import(db, bus, json.dumps(newer).encode(), ImportFormat.CYCLONEDX, device_id=pump.id)
    assert (report.imported, report.unchanged, report.removed) == (0, len(kept), 1)
    remaining = {a.purl for a in await assets_of(db) if a.parent_id == pump.id}
    assert remaining == {by_hand.purl} | {c["purl"] for c in kept}
    assert changes(bus)[-1].removed_asset_ids == [dropped_id]


@pytest.mark.parametrize(
    ("device", "fmt", "message"),
    [
        pytest.param(
            "ast_missing", ImportFormat.CYCLONEDX, "is not a software or medical-device", id="unknown"
        ),
        pytest.param(
            "network", ImportFormat.CYCLONEDX, "is not a software or medical-device", id="not-a-device"
        ),
        pytest.param("other-tenant", ImportFormat.CYCLONEDX_VEX, "is not a software", id="other-tenant"),
        pytest.param("pump", ImportFormat.CSV, "CSV rows name their own kind", id="csv"),
    ],
)
async def test_import_refused_for_a_bad_device(
    db: SessionFactory, bus: MemoryBus, device: str, fmt: ImportFormat, message: str
) -> None:
    ids = {
        "pump": (await register(db, bus, kind="medical_device", vendor="V", product="P", name="n")).id,
        "network": (await register(db, bus, kind="network", value="10.0.0.0/16")).id,
        "ast_missing": "ast_missing",
    }
    async with db() as session:
        [saved] = await service.register_assets(
            session=session,
            bus=bus,
            topics=TOPICS,
            provider_id=B,
            items=[AssetIn(kind=AssetKind.MEDICAL_DEVICE, vendor="V", product="P", name="n")],
        )
    ids["other-tenant"] = saved.asset.id
    with pytest.raises(ImportRejected, match=message):
        await run_import(db, bus, b'{"bomFormat": "CycloneDX"}', fmt, device_id=ids[device])


async def test_cyclonedx_vex_marks_the_referenced_component(
    db: SessionFactory, bus: MemoryBus, shared_data: Path
) -> None:
    bom = (shared_data / "cyclonedx" / "VEX__bom.json").read_bytes()
    vex_doc = json.loads((shared_data / "cyclonedx" / "VEX__vex.json").read_text())
    [vuln] = vex_doc["vulnerabilities"]
    [affects] = vuln["affects"]
    ref = affects["ref"].split("#", 1)[1]
    vex = (shared_data / "cyclonedx" / "VEX__vex.json").read_bytes()

    early = await run_import(db, bus, vex, ImportFormat.CYCLONEDX_VEX)
    assert [(e.row, e.reason) for e in early.errors] == [
        (f"{vuln['id']} {affects['ref']}", "no registered asset matches this ref")
    ]

    await run_import(db, bus, bom, ImportFormat.CYCLONEDX)
    report = await run_import(db, bus, vex, ImportFormat.CYCLONEDX_VEX)
    assert (report.imported, report.updated, report.unchanged, report.errors) == (0, 1, 0, [])
    marked = {a.bom_ref: a.not_affected for a in await assets_of(db)}
    assert marked[ref] == [vuln["id"]]
    assert [v for k, v in marked.items() if k != ref] == [[], []]
    assert changes(bus)[-1].changed_asset_ids == [next(a.id for a in await assets_of(db) if a.bom_ref == ref)]

    again = await run_import(db, bus, vex, ImportFormat.CYCLONEDX_VEX)
    assert (again.updated, again.unchanged) == (0, 1)
    reimported = await run_import(db, bus, bom, ImportFormat.CYCLONEDX)
    assert reimported.unchanged == 3  # the SBOM again neither duplicates nor clears the VEX mark
    assert {a.bom_ref: a.not_affected for a in await assets_of(db)}[ref] == [vuln["id"]]


async def test_vex_for_a_device_touches_only_its_components(
    db: SessionFactory, bus: MemoryBus, shared_data: Path
) -> None:
    bom = (shared_data / "cyclonedx" / "VEX__bom.json").read_bytes()
    vex = (shared_data / "cyclonedx" / "VEX__vex.json").read_bytes()
    pump = await register(db, bus, kind="medical_device", vendor="V", product="P", name="pump 1")
    await run_import(db, bus, bom, ImportFormat.CYCLONEDX, device_id=pump.id)
    await run_import(db, bus, bom, ImportFormat.CYCLONEDX)  # the same libraries, standalone

    report = await run_import(db, bus, vex, ImportFormat.CYCLONEDX_VEX, device_id=pump.id)
    assert report.updated == 1
    assert [(a.parent_id, a.product) for a in await assets_of(db) if a.not_affected] == [
        (pump.id, "jackson-databind")
    ]


async def test_csaf_vex_marks_matching_products(
    db: SessionFactory, bus: MemoryBus, shared_data: Path
) -> None:
    path = shared_data / "csaf" / "oasis-spec-examples" / "2022-evd-uc-07-001.json"
    cve = json.loads(path.read_text())["vulnerabilities"][0]["cve"]
    for version in ("4.2", "2.4", "2.0"):
        await register(db, bus, kind="software", vendor="Example Company", product="ABC", version=version)
    await register(db, bus, kind="network", value="10.0.0.0/16")

    report = await run_import(db, bus, path.read_bytes(), ImportFormat.CSAF_VEX)
    assert (report.updated, report.unchanged, report.errors) == (2, 1, [])
    marked = {a.version: a.not_affected for a in await assets_of(db) if a.kind is AssetKind.SOFTWARE}
    assert marked == {"4.2": [cve], "2.4": [], "2.0": [cve]}


async def test_csv_reports_bad_rows_and_imports_the_rest(db: SessionFactory, bus: MemoryBus) -> None:
    csv = (
        "kind,name,value,vendor,product,cpe,clinical_criticality,tags\n"
        "network,PACS DMZ,203.0.113.0/24,,,,,pacs;dmz\n"
        "network,typo,10.0.0.300,,,,,\n"
        "network,shifted,10.1.0.0/16,,,,,,extra\n"
        "domain,,Klinikum.Example,,,,,\n"
        "software,,,,,cpe:/a:x:y:1,,\n"
        "medical_device,ICU pump,,BD,Alaris 8015,,life-sustaining,\n"
        "medical_device,ICU pump 2,,BD,,,lifesaving,\n"
        "hostname,,pacs.klinikum.example,Philips,,,,\n"
    )
    report = await run_import(db, bus, csv.encode(), ImportFormat.CSV)
    assert report.imported == 3
    assert [e.row for e in report.errors] == [3, 4, 6, 8, 9]  # in file order
    reasons = {e.row: e.reason for e in report.errors}
    assert reasons[3].startswith("value: not an IPv4/IPv6 address")
    assert reasons[4] == "9 cells but 8 columns"
    assert reasons[6].startswith("cpe: CPE 2.2 URI binding")
    assert "clinical_criticality" in reasons[8] and "product" not in reasons[8]  # parsing fails first
    assert reasons[9] == "vendor: not used for kind hostname"
    by_kind = {a.kind: a for a in await assets_of(db)}
    assert by_kind[AssetKind.NETWORK].tags == ["dmz", "pacs"]
    assert by_kind[AssetKind.DOMAIN].value == "klinikum.example"

    again = await run_import(db, bus, csv.encode(), ImportFormat.CSV)
    assert (again.imported, again.unchanged, len(again.errors)) == (0, 3, 5)


async def test_progress_is_reported_per_chunk(db: SessionFactory, bus: MemoryBus) -> None:
    rows = service.WRITE_CHUNK * 2 + 1
    csv = "kind,value\n" + "".join(f"network,10.{i // 256}.{i % 256}.0/24\n" for i in range(rows))
    calls: list[tuple[int, int]] = []
    report = await run_import(
        db, bus, csv.encode(), ImportFormat.CSV, progress=lambda d, t: calls.append((d, t))
    )
    assert report.imported == rows
    assert calls == [(0, rows), (service.WRITE_CHUNK, rows), (service.WRITE_CHUNK * 2, rows), (rows, rows)]


async def test_register_is_all_or_nothing_and_checks_parents(db: SessionFactory, bus: MemoryBus) -> None:
    good = AssetIn(kind=AssetKind.NETWORK, value="10.0.0.0/16")
    bad = AssetIn(kind=AssetKind.NETWORK, value="nope")
    orphan = AssetIn(kind=AssetKind.SOFTWARE, purl="pkg:npm/x@1", parent_id="ast_nothing")
    async with db() as session:
        with pytest.raises(service.AssetInvalid) as caught:
            await service.register_assets(
                session=session, bus=bus, topics=TOPICS, provider_id=A, items=[good, bad]
            )
        assert [p.field for p in caught.value.problems] == ["[1].value"]
        with pytest.raises(service.AssetInvalid, match="parent_id"):
            await service.register_assets(
                session=session, bus=bus, topics=TOPICS, provider_id=A, items=[orphan]
            )
    assert await assets_of(db) == []
    assert changes(bus) == []
