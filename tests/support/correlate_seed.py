"""Providers and assets stored as the correlator loads them: one seeding for the correlate tests and benchmark.

Here rather than under ``bench/``: the benchmarks already import ``tests.support`` (the throwaway PostgreSQL
server), while tests importing a script folder would be the odd direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ewarn.models import Asset
from ewarn.store.db import SessionFactory
from ewarn.store.tables import AssetRow, ProviderRow


def asset_row(asset: Asset, *, now: datetime) -> AssetRow:
    """The row of a live asset, its model stored as the inventory stores it."""
    return AssetRow(
        id=asset.id,
        provider_id=asset.provider_id,
        kind=asset.kind.value,
        value=asset.value,
        data=asset.model_dump(mode="json"),
        deleted=False,
        created_at=now,
        updated_at=now,
    )


async def seed_inventory(
    sessions: SessionFactory,
    assets: Iterable[Asset],
    *,
    now: datetime,
    providers: Iterable[str] = (),
    names: Mapping[str, str] | None = None,
) -> None:
    """Store the providers (those of ``assets`` and ``providers``; named by ``names``, else by id) and the
    assets, in one transaction. A provider or asset already stored is kept or overwritten: seeding twice is
    harmless."""
    assets = list(assets)
    async with sessions() as session, session.begin():
        for provider in sorted({a.provider_id for a in assets} | set(providers)):
            if await session.get(ProviderRow, provider) is None:
                name = (names or {}).get(provider, provider)
                session.add(ProviderRow(id=provider, name=name, country="DE", created_at=now))
        await session.flush()
        for a in assets:
            await session.merge(asset_row(a, now=now))
