"""Vendor aliases: anyone authenticated reads them and resolves a name; operators add, remove and import.

Every write is audited (who, when, before, after) and applied to the running correlators without a restart
(``ewarn.correlate.aliases_sync``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from ewarn.api.deps import OperatorDep, PrincipalDep, RuntimeDep, SessionDep
from ewarn.api.pagination import PAGED_RESPONSES, PageCursor, announce_next, next_cursor, page_after
from ewarn.correlate import aliases_sync
from ewarn.models.common import Name, utcnow
from ewarn.models.provider import Principal
from ewarn.names import canonical_vendor, default_entries
from ewarn.runtime import Runtime
from ewarn.store.repositories import aliases as repo
from ewarn.store.repositories.audit import record_audit

router = APIRouter(prefix="/api/v1/vendor-aliases", tags=["vendor aliases"])

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": 'JSON (a list of aliases or {"aliases": [...]}) or CSV with alias,brand,group[,note].',
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


class ShippedAlias(BaseModel):
    brand: str
    group: str
    aliases: list[str]
    note: str


class AliasTable(BaseModel):
    """The operator's aliases (applied on top) and the shipped default table."""

    operator: list[repo.StoredVendorAlias]
    default: list[ShippedAlias]


class Resolved(BaseModel):
    name: str
    brand: str
    group: str
    known: bool
    other_groups: list[str]


class AliasWritten(BaseModel):
    action: Literal["add", "update", "unchanged"]
    alias: repo.StoredVendorAlias


class ImportResult(BaseModel):
    added: int
    updated: int
    unchanged: int


def _actor(principal: Principal) -> str:
    return f"{principal.key_id} ({principal.name})" if principal.name else principal.key_id


async def _announce(runtime: Runtime) -> None:
    await aliases_sync.changed(sessions=runtime.sessions, bus=runtime.bus, topics=runtime.topics)


@router.get("")
async def list_aliases(session: SessionDep, _: PrincipalDep) -> AliasTable:
    """The operator's aliases and the shipped table they are applied on top of."""
    return AliasTable(
        operator=await repo.list_aliases(session=session),
        default=[
            ShippedAlias(brand=e.brand, group=e.group, aliases=list(e.aliases), note=e.note)
            for e in default_entries()
        ],
    )


@router.get("/resolve")
async def resolve(
    name: Annotated[Name, Query(description="A vendor as an advisory writes it")], _: PrincipalDep
) -> Resolved:
    """How a vendor string is read: its brand, the owner group it is matched under, and whether it is known."""
    found = canonical_vendor(name)
    return Resolved(
        name=name, brand=found.brand, group=found.group, known=found.known, other_groups=list(found.others)
    )


@router.get("/changes", responses=PAGED_RESPONSES)
async def list_changes(
    request: Request,
    response: Response,
    session: SessionDep,
    _: OperatorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: PageCursor = None,
) -> list[repo.VendorAliasChange]:
    """The audit trail, newest first; more pages: follow ``X-Next-Cursor`` (or the ``Link`` header)."""
    (before,) = page_after(cursor, str) or (None,)
    if before is not None and not before.isdigit():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid cursor")
    items = await repo.list_changes(
        session=session, limit=limit, before_id=None if before is None else int(before)
    )
    announce_next(request, response, next_cursor(items, limit, lambda c: (str(c.id),)))
    return items


@router.post("")
async def put_alias(
    body: repo.VendorAlias, session: SessionDep, principal: OperatorDep, runtime: RuntimeDep
) -> AliasWritten:
    """Add or replace the alias of one spelling."""
    [(action, stored)] = await repo.put_aliases(
        session=session, aliases=[body], actor=_actor(principal), now=utcnow()
    )
    await record_audit(session, principal, action, "vendor_alias", [stored.alias_key], body)
    await session.commit()
    if action != "unchanged":
        await _announce(runtime)
    return AliasWritten(action=action, alias=stored)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def remove_alias(
    alias: Annotated[Name, Query(description="The spelling (any spelling that folds the same)")],
    session: SessionDep,
    principal: OperatorDep,
    runtime: RuntimeDep,
) -> None:
    """Remove the operator's alias of this spelling (the shipped table is not changed)."""
    if not await repo.remove_alias(session=session, alias=alias, actor=_actor(principal), now=utcnow()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no operator alias for this spelling")
    await record_audit(session, principal, "remove", "vendor_alias", [alias], {"alias": alias})
    await session.commit()
    await _announce(runtime)


@router.post("/import", openapi_extra=_IMPORT_BODY)
async def import_aliases(
    request: Request,
    session: SessionDep,
    principal: OperatorDep,
    runtime: RuntimeDep,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> ImportResult:
    """Add or replace every alias of a file; all or nothing (a bad row refuses the whole file with its reason)."""
    try:
        aliases = repo.parse_aliases(await request.body(), fmt)
    except repo.AliasImportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    written = await repo.put_aliases(session=session, aliases=aliases, actor=_actor(principal), now=utcnow())
    await record_audit(
        session,
        principal,
        "import",
        "vendor_alias",
        [s.alias_key for _, s in written],
        {"format": fmt, "rows": len(written)},
    )
    await session.commit()
    counts = {"add": 0, "update": 0, "unchanged": 0}
    for action, _ in written:
        counts[action] += 1
    if counts["add"] or counts["update"]:
        await _announce(runtime)
    return ImportResult(added=counts["add"], updated=counts["update"], unchanged=counts["unchanged"])
