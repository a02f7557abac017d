"""Operator vendor aliases: stored, audited, read as ``ewarn.names.AliasEntry`` on top of the shipped table.

One row per spelling (keyed by its folded form, so ``Acme Inc.`` and ``ACME`` are one alias); every add,
update and removal writes a ``vendor_alias_changes`` row with who, when, before and after. Writers commit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import Name, ShortText
from ewarn.names import AliasEntry, vendor_key
from ewarn.names.text import LEGAL_SUFFIXES
from ewarn.store.db import as_utc
from ewarn.store.tables import VendorAliasChangeRow, VendorAliasRow

MAX_IMPORT_ROWS = 10_000
Written = Literal["add", "update", "unchanged"]


class VendorAlias(BaseModel):
    """One spelling read as a brand of an owner group (the group may be named by any known spelling)."""

    model_config = ConfigDict(extra="forbid")

    alias: Name
    brand: Name
    group: Name
    note: ShortText = ""

    @field_validator("alias", "brand", "group")
    @classmethod
    def _has_a_name(cls, value: str) -> str:
        key = vendor_key(value)
        if not key or all(word in LEGAL_SUFFIXES for word in key.split()):
            raise ValueError("must hold a name besides legal suffixes (Inc, GmbH, ...)")
        return value.strip()


class StoredVendorAlias(VendorAlias):
    alias_key: str
    updated_by: str
    updated_at: datetime


class VendorAliasChange(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    alias_key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AliasImportError(ValueError):
    """The file is not an alias list (the message says where)."""


def _stored(row: VendorAliasRow) -> StoredVendorAlias:
    return StoredVendorAlias(
        alias=row.alias,
        brand=row.brand,
        group=row.owner_group,
        note=row.note,
        alias_key=row.alias_key,
        updated_by=row.updated_by,
        updated_at=as_utc(row.updated_at) or row.updated_at,
    )


def _content(alias: VendorAlias) -> dict[str, str]:
    return {"alias": alias.alias, "brand": alias.brand, "group": alias.group, "note": alias.note}


async def list_aliases(*, session: AsyncSession) -> list[StoredVendorAlias]:
    rows = await session.scalars(select(VendorAliasRow).order_by(VendorAliasRow.alias_key))
    return [_stored(r) for r in rows]


async def alias_entries(*, session: AsyncSession) -> list[AliasEntry]:
    """The operator layer as ``ewarn.names`` applies it."""
    return [
        AliasEntry(brand=a.brand, group=a.group, aliases=(a.alias,), note=a.note)
        for a in await list_aliases(session=session)
    ]


async def put_aliases(
    *, session: AsyncSession, aliases: Sequence[VendorAlias], actor: str, now: datetime
) -> list[tuple[Written, StoredVendorAlias]]:
    """Add or update each alias (the last one wins for a spelling given twice), auditing every change."""
    latest = {vendor_key(a.alias)[:255]: a for a in aliases}
    existing: dict[str, VendorAliasRow] = {}
    keys = sorted(latest)
    for start in range(0, len(keys), 500):
        rows = await session.scalars(
            select(VendorAliasRow).where(VendorAliasRow.alias_key.in_(keys[start : start + 500]))
        )
        existing.update({r.alias_key: r for r in rows})
    out: list[tuple[Written, StoredVendorAlias]] = []
    for key, alias in latest.items():
        row = existing.get(key)
        before = _content(_stored(row)) if row is not None else None
        after = _content(alias)
        if before == after and row is not None:
            out.append(("unchanged", _stored(row)))
            continue
        if row is None:
            row = VendorAliasRow(alias_key=key)
            session.add(row)
        row.alias, row.brand, row.owner_group, row.note = alias.alias, alias.brand, alias.group, alias.note
        row.updated_by, row.updated_at = actor[:255], now
        action: Written = "add" if before is None else "update"
        session.add(
            VendorAliasChangeRow(
                at=now, actor=actor[:255], action=action, alias_key=key, before=before, after=after
            )
        )
        out.append((action, _stored(row)))
    await session.flush()
    return out


async def remove_alias(*, session: AsyncSession, alias: str, actor: str, now: datetime) -> bool:
    """Remove the alias for this spelling (any spelling that folds the same); False when there is none."""
    key = vendor_key(alias)[:255]
    row = await session.get(VendorAliasRow, key) if key else None
    if row is None:
        return False
    before = _content(_stored(row))
    await session.execute(delete(VendorAliasRow).where(VendorAliasRow.alias_key == key))
    session.add(
        VendorAliasChangeRow(at=now, actor=actor[:255], action="remove", alias_key=key, before=before)
    )
    await session.flush()
    return True


async def list_changes(
    *, session: AsyncSession, limit: int = 200, before_id: int | None = None
) -> list[VendorAliasChange]:
    """The newest changes first; ``before_id``: the last id of the previous page."""
    stmt = select(VendorAliasChangeRow).order_by(VendorAliasChangeRow.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(VendorAliasChangeRow.id < before_id)
    rows = await session.scalars(stmt)
    return [
        VendorAliasChange(
            id=r.id,
            at=as_utc(r.at) or r.at,
            actor=r.actor,
            action=r.action,
            alias_key=r.alias_key,
            before=r.before,
            after=r.after,
        )
        for r in rows
    ]


# --- files -------------------------------------------------------------------------------------------------


def parse_aliases(data: bytes, fmt: Literal["json", "csv"]) -> list[VendorAlias]:
    """An alias file: JSON (a list, or ``{"aliases": [...]}`` as exported) or CSV with ``alias,brand,group[,note]``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AliasImportError(f"not UTF-8 text (byte {exc.start})") from exc
    rows = _json_rows(text) if fmt == "json" else _csv_rows(text)
    if len(rows) > MAX_IMPORT_ROWS:
        raise AliasImportError(f"{len(rows)} aliases, at most {MAX_IMPORT_ROWS} per file")
    out: list[VendorAlias] = []
    for number, row in enumerate(rows, start=1):
        try:
            out.append(VendorAlias.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise AliasImportError(f"alias {number}: {where}: {first['msg']}") from exc
    return out


def _json_rows(text: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AliasImportError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise AliasImportError("not an alias list: nested too deep") from exc
    if isinstance(data, dict) and isinstance(data.get("aliases"), list):
        data = data["aliases"]
    if not isinstance(data, list):
        raise AliasImportError('expected a list of aliases or {"aliases": [...]}')
    return data


def _csv_rows(text: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(text))
    columns = ("alias", "brand", "group", "note")
    try:
        missing = {"alias", "brand", "group"} - set(reader.fieldnames or ())
        if missing:
            raise AliasImportError(
                f"CSV header lacks {', '.join(sorted(missing))} (columns: alias,brand,group,note)"
            )
        return [{k: v for k, v in row.items() if k in columns and v is not None} for row in reader]
    except csv.Error as exc:
        raise AliasImportError(f"CSV line {reader.line_num}: {exc}") from exc


def export_json(aliases: Sequence[VendorAlias]) -> str:
    """The file ``parse_aliases(..., "json")`` reads back."""
    return json.dumps({"aliases": [_content(a) for a in aliases]}, indent=2, ensure_ascii=False) + "\n"
