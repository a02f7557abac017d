"""Inventory operations shared by the API and the CLI: validate, store, commit, then announce the change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.inventory.changes import publish_asset_change
from ewarn.inventory.importers import AssetRecord, ImportFormat, ImportRejected
from ewarn.inventory.importers.bounded import parse_records, parse_statements
from ewarn.inventory.models import AssetIn, FieldProblem, ImportReport, RowError
from ewarn.inventory.scope import Approved, approved_scopes, out_of_scope, scope_refusal
from ewarn.inventory.validate import AssetInvalid, asset_from_mapping, normalise_asset
from ewarn.inventory.vex import VexStatement, apply_vex
from ewarn.models.asset import Asset, AssetKind
from ewarn.settings import AssetScopeSettings
from ewarn.store.repositories.assets import (
    Outcome,
    SavedAsset,
    delete_asset,
    delete_assets,
    get_asset,
    provider_assets,
    save_assets,
)

ProgressCallback = Callable[[int, int], None]  # (assets written so far, assets to write)
PARENT_KINDS = frozenset({AssetKind.SOFTWARE, AssetKind.MEDICAL_DEVICE, AssetKind.INFRASTRUCTURE})
PRODUCT_KINDS = (AssetKind.SOFTWARE, AssetKind.MEDICAL_DEVICE, AssetKind.INFRASTRUCTURE)
WRITE_CHUNK = 500


async def register_assets(
    *,
    session: AsyncSession,
    bus: Bus,
    topics: Topics,
    provider_id: str,
    items: Sequence[AssetIn],
    scope: AssetScopeSettings | None = None,
) -> list[SavedAsset]:
    """Validate every item (all or nothing), upsert, commit, announce; ``AssetInvalid`` names each problem.

    ``scope`` (default: the default rules) bounds how wide an asset may be without an operator's approval.
    """
    problems: list[FieldProblem] = []
    assets: list[Asset] = []
    for i, item in enumerate(items):
        try:
            assets.append(normalise_asset(item, provider_id=provider_id))
        except AssetInvalid as exc:
            prefix = f"[{i}]." if len(items) > 1 else ""
            problems.extend(FieldProblem(field=prefix + p.field, message=p.message) for p in exc.problems)
    if not problems:
        rules = scope or AssetScopeSettings()
        problems = await out_of_scope(session=session, provider_id=provider_id, assets=assets, rules=rules)
    if not problems:
        problems = await _parent_problems(session, provider_id, assets)
    if problems:
        raise AssetInvalid(problems)
    saved = await save_assets(session=session, provider_id=provider_id, assets=assets)
    await _commit_and_announce(session, bus, topics, provider_id, saved)
    return saved


async def remove_asset(
    *, session: AsyncSession, bus: Bus, topics: Topics, provider_id: str, asset_id: str
) -> list[str]:
    """Soft-delete an asset and its components, commit and announce; returns the removed ids (empty: none)."""
    removed = await delete_asset(session=session, provider_id=provider_id, asset_id=asset_id)
    if removed:
        await session.commit()
        await publish_asset_change(
            bus=bus, topics=topics, provider_id=provider_id, changed=[], removed=removed
        )
    return removed


async def import_file(
    *,
    session: AsyncSession,
    bus: Bus,
    topics: Topics,
    provider_id: str,
    data: bytes,
    fmt: ImportFormat,
    device_id: str | None = None,
    progress: ProgressCallback | None = None,
    max_rows: int | None = None,
    scope: AssetScopeSettings | None = None,
) -> ImportReport:
    """Import one file: valid rows are applied, invalid ones reported. Idempotent: ids are deterministic.

    Parsing and validation run in a worker thread (the event loop keeps serving); more than ``max_rows``
    rows raise ``ImportTooLarge`` before anything is validated or stored.
    """
    if device_id is not None:
        if fmt is ImportFormat.CSV:
            raise ImportRejected("device applies to CycloneDX and VEX imports; CSV rows name their own kind")
        device = await get_asset(session=session, provider_id=provider_id, asset_id=device_id)
        if device is None or device.kind not in PARENT_KINDS:
            raise ImportRejected(
                f"device {device_id!r} is not a software or medical-device (or infrastructure) asset of this provider"
            )
    if fmt.is_vex:
        statements = await asyncio.to_thread(parse_statements, data, fmt, max_rows=max_rows)
        return await _import_vex(session, bus, topics, provider_id, statements, device_id, progress)
    parsed = await asyncio.to_thread(parse_records, data, fmt, max_rows=max_rows)
    return await _import_records(
        session, bus, topics, provider_id, parsed, device_id, progress, scope or AssetScopeSettings()
    )


async def _import_records(
    session: AsyncSession,
    bus: Bus,
    topics: Topics,
    provider_id: str,
    parsed: Sequence[AssetRecord | RowError],
    device_id: str | None,
    progress: ProgressCallback | None,
    scope: AssetScopeSettings,
) -> ImportReport:
    approved = await approved_scopes(session=session, provider_id=provider_id)
    assets, errors = await asyncio.to_thread(
        _validate_records, parsed, provider_id, device_id, scope, approved
    )
    saved = await _save_in_chunks(
        session, provider_id, list(assets.values()), progress, merge_not_affected=True
    )
    removed: list[str] = []
    if device_id is not None and not errors:
        removed = await _drop_stale_components(session, provider_id, device_id, keep=set(assets))
    await _commit_and_announce(session, bus, topics, provider_id, saved, removed)
    report = _report(saved, errors)
    report.removed = len(removed)
    return report


def _validate_records(
    parsed: Sequence[AssetRecord | RowError],
    provider_id: str,
    device_id: str | None,
    scope: AssetScopeSettings,
    approved: Approved,
) -> tuple[dict[str, Asset], list[RowError]]:
    """Valid assets by id (a component listed twice is one asset) and the row errors, in file order.

    An asset wider than ``scope`` allows (and not in ``approved``) is a row error naming the rule.
    """
    errors: list[RowError] = []
    assets: dict[str, Asset] = {}
    for item in parsed:
        if isinstance(item, RowError):
            errors.append(item)
            continue
        data = {**item.data, "parent_id": device_id} if device_id else item.data
        try:
            asset = asset_from_mapping(data, provider_id=provider_id)
        except AssetInvalid as exc:
            errors.append(RowError(row=item.row, reason=str(exc)))
            continue
        out_of_scope_why = scope_refusal(asset, scope, approved)
        if out_of_scope_why is not None:
            errors.append(RowError(row=item.row, reason=f"value: {out_of_scope_why}"))
            continue
        assets[asset.id] = asset
    return assets, errors


async def _drop_stale_components(
    session: AsyncSession, provider_id: str, device_id: str, *, keep: set[str]
) -> list[str]:
    """A device's new SBOM replaces its old one: components it no longer lists go.

    Only components that came from an SBOM (they carry a bom-ref) are dropped, and only after an import
    without row errors, so a component registered by hand or a half-broken file never deletes anything.
    """
    components = await provider_assets(session=session, provider_id=provider_id, kinds=[AssetKind.SOFTWARE])
    stale = [a.id for a in components if a.parent_id == device_id and a.bom_ref and a.id not in keep]
    return await delete_assets(session=session, provider_id=provider_id, asset_ids=stale)


async def _import_vex(
    session: AsyncSession,
    bus: Bus,
    topics: Topics,
    provider_id: str,
    parsed: Sequence[VexStatement | RowError],
    device_id: str | None,
    progress: ProgressCallback | None,
) -> ImportReport:
    errors = [item for item in parsed if isinstance(item, RowError)]
    statements = [item for item in parsed if isinstance(item, VexStatement)]
    scope = await provider_assets(session=session, provider_id=provider_id, kinds=PRODUCT_KINDS)
    if device_id is not None:
        # bom-refs are unique only within one BOM: a VEX for a device speaks of that device's components.
        scope = [a for a in scope if device_id in (a.id, a.parent_id)]
    result = apply_vex(scope, statements)
    saved = await _save_in_chunks(session, provider_id, result.changed, progress, merge_not_affected=False)
    await _commit_and_announce(session, bus, topics, provider_id, saved)
    report = _report(saved, errors + result.errors)
    report.unchanged += len(result.unchanged)
    return report


async def _save_in_chunks(
    session: AsyncSession,
    provider_id: str,
    assets: Sequence[Asset],
    progress: ProgressCallback | None,
    *,
    merge_not_affected: bool,
) -> list[SavedAsset]:
    saved: list[SavedAsset] = []
    if progress is not None:
        progress(0, len(assets))
    for start in range(0, len(assets), WRITE_CHUNK):
        saved += await save_assets(
            session=session,
            provider_id=provider_id,
            assets=assets[start : start + WRITE_CHUNK],
            merge_not_affected=merge_not_affected,
        )
        if progress is not None:
            progress(len(saved), len(assets))
    return saved


async def _commit_and_announce(
    session: AsyncSession,
    bus: Bus,
    topics: Topics,
    provider_id: str,
    saved: Sequence[SavedAsset],
    removed: Sequence[str] = (),
) -> None:
    await session.commit()
    changed = [s.asset.id for s in saved if s.outcome is not Outcome.UNCHANGED]
    await publish_asset_change(
        bus=bus, topics=topics, provider_id=provider_id, changed=changed, removed=removed
    )


async def _parent_problems(
    session: AsyncSession, provider_id: str, assets: Sequence[Asset]
) -> list[FieldProblem]:
    """Each parent must be a live software or device asset of the same provider (or in the same batch)."""
    batch = {a.id: a for a in assets}
    problems: list[FieldProblem] = []
    for parent_id in sorted({a.parent_id for a in assets if a.parent_id}):
        parent = batch.get(parent_id) or await get_asset(
            session=session, provider_id=provider_id, asset_id=parent_id
        )
        if parent is None or parent.kind not in PARENT_KINDS:
            problems.append(
                FieldProblem(
                    field="parent_id", message=f"{parent_id!r} is no software or device asset of yours"
                )
            )
    return problems


def _report(saved: Sequence[SavedAsset], errors: Sequence[RowError]) -> ImportReport:
    counts = {outcome: 0 for outcome in Outcome}
    for item in saved:
        counts[item.outcome] += 1
    return ImportReport(
        imported=counts[Outcome.CREATED],
        updated=counts[Outcome.UPDATED],
        unchanged=counts[Outcome.UNCHANGED],
        errors=list(errors),
    )
