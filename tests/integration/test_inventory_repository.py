"""The asset repository on SQLite and PostgreSQL: idempotent upserts, soft deletes, pages, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ewarn.inventory.validate import asset_from_mapping
from ewarn.models.asset import Asset, AssetKind
from ewarn.models.provider import Provider
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import assets as repo
from ewarn.store.repositories.assets import Outcome
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.tables import AssetRow

A, B = "hosp-a", "hosp-b"


@pytest.fixture
async def db(sessions: SessionFactory) -> SessionFactory:
    async with sessions() as session:
        for pid in (A, B):
            await upsert_provider(session=session, provider=Provider(id=pid, name=pid, country="DE"))
        await session.commit()
    return sessions


def make(provider_id: str = A, **data: Any) -> Asset:
    return asset_from_mapping(data, provider_id=provider_id)


def net(value: str, provider_id: str = A, **extra: Any) -> Asset:
    return make(provider_id, kind="network", value=value, **extra)


async def row_count(db: SessionFactory) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count()).select_from(AssetRow)) or 0)


async def test_upsert_is_idempotent_and_reports_outcomes(db: SessionFactory) -> None:
    first = [net("10.0.0.0/8", name="core"), net("192.0.2.0/24")]
    async with db() as session:
        saved = await repo.save_assets(session=session, provider_id=A, assets=first)
        await session.commit()
    assert [s.outcome for s in saved] == [Outcome.CREATED, Outcome.CREATED]
    created_at = saved[0].asset.created_at
    assert created_at is not None

    async with db() as session:
        again = await repo.save_assets(
            session=session, provider_id=A, assets=[net("10.0.0.0/8", name="core")]
        )
        renamed = await repo.save_assets(
            session=session, provider_id=A, assets=[net("10.1.2.3/8", name="Core LAN")]
        )
        await session.commit()
    assert again[0].outcome is Outcome.UNCHANGED
    assert again[0].asset.updated_at == saved[0].asset.updated_at
    assert renamed[0].outcome is Outcome.UPDATED
    assert await row_count(db) == 2

    async with db() as session:
        stored = await repo.get_asset(session=session, provider_id=A, asset_id=first[0].id)
    assert stored is not None
    assert (stored.name, stored.created_at) == ("Core LAN", created_at)
    assert stored.updated_at is not None and stored.updated_at >= created_at


async def test_reregistering_keeps_vex_marks_unless_told_otherwise(db: SessionFactory) -> None:
    lib = make(kind="software", purl="pkg:maven/a/b@1", not_affected=["CVE-2020-25649"])
    async with db() as session:
        await repo.upsert_assets(session=session, provider_id=A, assets=[lib])
        [kept] = await repo.upsert_assets(
            session=session, provider_id=A, assets=[make(kind="software", purl="pkg:maven/a/b@1")]
        )
        [replaced] = await repo.save_assets(
            session=session,
            provider_id=A,
            assets=[make(kind="software", purl="pkg:maven/a/b@1")],
            merge_not_affected=False,
        )
        await session.commit()
    assert kept.not_affected == ["CVE-2020-25649"]
    assert replaced.asset.not_affected == []


async def test_data_column_holds_the_asset_for_the_correlator(db: SessionFactory) -> None:
    device = make(
        kind="medical_device",
        vendor="BD",
        product="Alaris",
        name="pump 1",
        clinical_criticality="life_sustaining",
    )
    async with db() as session:
        await repo.upsert_assets(session=session, provider_id=A, assets=[device])
        await session.commit()
    async with db() as session:
        row = await session.get(AssetRow, device.id)
    assert row is not None
    assert (row.provider_id, row.kind, row.value, row.deleted) == (A, "medical_device", None, False)
    assert Asset.model_validate(row.data).model_dump(
        exclude={"created_at", "updated_at"}
    ) == device.model_dump(exclude={"created_at", "updated_at"})


async def test_soft_delete_takes_components_and_registering_again_revives(db: SessionFactory) -> None:
    pump = make(kind="medical_device", vendor="BD", product="Alaris", name="pump 1")
    lib = make(kind="software", purl="pkg:generic/openssl@1.0.2k", parent_id=pump.id)
    other = net("10.0.0.0/8")
    async with db() as session:
        await repo.upsert_assets(session=session, provider_id=A, assets=[pump, lib, other])
        await session.commit()
    async with db() as session:
        assert await repo.delete_asset(session=session, provider_id=B, asset_id=pump.id) == []
        removed = await repo.delete_asset(session=session, provider_id=A, asset_id=pump.id)
        await session.commit()
    assert removed == [pump.id, lib.id]
    async with db() as session:
        assert await repo.get_asset(session=session, provider_id=A, asset_id=lib.id) is None
        assert await repo.delete_asset(session=session, provider_id=A, asset_id=pump.id) == []
        page = await repo.list_assets(session=session, provider_ids={A})
        assert [a.id for a in page.items] == [other.id]
        [revived] = await repo.save_assets(session=session, provider_id=A, assets=[pump])
        await session.commit()
    assert revived.outcome is Outcome.CREATED
    assert await row_count(db) == 3


async def test_pages_follow_the_cursor_and_filter_kind_and_tenant(db: SessionFactory) -> None:
    nets = [net(f"10.{i}.0.0/16") for i in range(7)]
    async with db() as session:
        await repo.upsert_assets(session=session, provider_id=A, assets=nets)
        await repo.upsert_assets(session=session, provider_id=A, assets=[make(kind="asn", value="AS64500")])
        await repo.upsert_assets(session=session, provider_id=B, assets=[net("10.0.0.0/16", provider_id=B)])
        await session.commit()

    seen: list[str] = []
    cursor = None
    async with db() as session:
        while True:
            page = await repo.list_assets(
                session=session, provider_ids={A}, kind=AssetKind.NETWORK, limit=3, cursor=cursor
            )
            seen += [a.id for a in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        everyone = await repo.list_assets(session=session, provider_ids=None, limit=100)
        with pytest.raises(ValueError, match="invalid cursor"):
            await repo.list_assets(session=session, provider_ids={A}, cursor="%%%")
    assert seen == sorted(a.id for a in nets)
    assert len(everyone.items) == 9


async def test_get_is_scoped_to_the_provider(db: SessionFactory) -> None:
    asset = net("10.0.0.0/8")
    async with db() as session:
        await repo.upsert_assets(session=session, provider_id=A, assets=[asset])
        await session.commit()
        assert await repo.get_asset(session=session, provider_id=B, asset_id=asset.id) is None
        with pytest.raises(ValueError, match="provider_id"):
            await repo.upsert_assets(session=session, provider_id=B, assets=[asset])


async def test_large_batches_cross_the_chunk_size(db: SessionFactory) -> None:
    many = [make(kind="software", purl=f"pkg:npm/lib-{i}@1.0.0") for i in range(repo.CHUNK * 2 + 7)]
    async with db() as session:
        saved = await repo.save_assets(session=session, provider_id=A, assets=many)
        await session.commit()
    async with db() as session:
        again = await repo.save_assets(session=session, provider_id=A, assets=many)
    assert {s.outcome for s in saved} == {Outcome.CREATED}
    assert {s.outcome for s in again} == {Outcome.UNCHANGED}
    assert await row_count(db) == len(many)
