"""Retro-hunt matching: changed assets against the indicators still valid in the database.

Pure reading and matching; the worker commits what it returns in one batch (``revisions.RevisionWriter``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.actions.playbooks import PlaybookRule
from ewarn.correlate import repository
from ewarn.correlate.engine import build_alerts, match
from ewarn.correlate.index import AssetIndex
from ewarn.models import Alert, Asset, AssetChange, AssetKind, IndicatorType
from ewarn.store.repositories.quarantine import Quarantined

# Which indicator types can hit an asset of each kind (retro-hunt reads only these from the database).
TYPES_FOR_KIND: dict[AssetKind, tuple[IndicatorType, ...]] = {
    AssetKind.NETWORK: (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.URL),
    AssetKind.DOMAIN: (IndicatorType.DOMAIN, IndicatorType.URL),
    AssetKind.HOSTNAME: (IndicatorType.DOMAIN, IndicatorType.URL),
    AssetKind.EMAIL_DOMAIN: (IndicatorType.EMAIL, IndicatorType.DOMAIN, IndicatorType.URL),
    AssetKind.ASN: (IndicatorType.ASN,),
    AssetKind.SOFTWARE: (IndicatorType.VULNERABILITY,),
    AssetKind.MEDICAL_DEVICE: (IndicatorType.VULNERABILITY,),
    AssetKind.INFRASTRUCTURE: (IndicatorType.VULNERABILITY,),
}


async def hunt(
    *,
    session: AsyncSession,
    assets: Sequence[Asset],
    parents: Sequence[Asset],
    now: datetime,
    batch: int,
    bad: list[Quarantined],
    seen_since: datetime | None,
    playbooks: Sequence[PlaybookRule] = (),
) -> list[Alert]:
    """Candidate alerts of ``assets`` (their ``parents`` indexed beside them) from every valid indicator."""
    changed_ids = {a.id for a in assets}
    small = AssetIndex.build([*assets, *parents])
    types = sorted({t.value for a in assets for t in TYPES_FOR_KIND[a.kind]})
    candidates: list[Alert] = []
    async for part in repository.valid_indicators(
        session=session, types=types, now=now, batch=batch, bad=bad, seen_since=seen_since
    ):
        for indicator in part:
            hits = (found for found in match(indicator, small) if found.asset.id in changed_ids)
            candidates += build_alerts(indicator, hits, now=now, playbooks=playbooks)
    return candidates


def closing(
    change: AssetChange, open_: Sequence[Alert], candidates: Sequence[Alert]
) -> list[tuple[str, str]]:
    """(alert id, why) of the open alerts the change closes: their asset was removed, or matches no more."""
    matched = {c.id for c in candidates}
    removed = set(change.removed_asset_ids)
    return [
        (
            a.id,
            "the asset was removed from the inventory"
            if a.asset_id in removed
            else "the asset no longer matches",
        )
        for a in open_
        if a.asset_id in removed or a.id not in matched
    ]
