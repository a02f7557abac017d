"""The audit log: every write by the API or the CLI, recorded in the transaction of the write itself.

A write route calls ``record_audit`` before its commit, so a refused or failed request leaves no row and a
committed one always has its row. The summary is redacted before it is stored: fields named like a secret,
values of a secret type and values shaped like one of our keys or webhook secrets never reach the table.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.models.common import utcnow
from ewarn.models.provider import Principal, Role
from ewarn.store.db import as_utc
from ewarn.store.tables import AuditLogRow

MAX_PAGE = 1000
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"secret|passw|token|credential|api_?key|key_hash|auth|cookie|session|private|^key$|bearer|signature",
    re.IGNORECASE,
)
# Our API keys (ewk_<id>_<random>), webhook secrets (whsec_<base64>) and bearer values, wherever they appear.
_SECRET_VALUE = re.compile(r"ewk_[A-Za-z0-9_-]+|whsec_[A-Za-z0-9+/=]+|(?i:bearer)\s+\S+")
# A URL's user:password and the values of its query parameters (webhook targets may carry tokens there).
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_URL_QUERY_VALUE = re.compile(r"(?<=[?&;])([^=&;#\s]+)=[^&;#\s]*")
_MAX_TEXT = 200
_MAX_ITEMS = 50
_MAX_DEPTH = 4


@dataclass(frozen=True)
class AuditActor:
    """Who wrote: an API key (its id, role and name) or a CLI user (``cli:<os user>``)."""

    id: str
    role: str
    name: str = ""


def cli_actor() -> AuditActor:
    """The operating-system user running an ``ewarn`` command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (a bare container)
        user = "unknown"
    return AuditActor(id=f"cli:{user}"[:255], role="cli")


def actor_of(principal: Principal | AuditActor) -> AuditActor:
    if isinstance(principal, AuditActor):
        return principal
    return AuditActor(id=principal.key_id, role=principal.role.value, name=principal.name)


def redact(value: Any, *, depth: int = 0) -> Any:
    """A JSON-safe, size-bounded copy of ``value`` with every secret replaced by ``[redacted]``."""
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python", exclude_unset=True)
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _redact_text(value[: _MAX_TEXT * 2])[:_MAX_TEXT]
    if depth >= _MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in list(value.items())[:_MAX_ITEMS]:
            name = str(key)[:_MAX_TEXT]
            out[name] = REDACTED if _SECRET_NAME.search(name) else redact(item, depth=depth + 1)
        return out
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [redact(item, depth=depth + 1) for item in list(value)[:_MAX_ITEMS]]
    return redact(str(value), depth=depth + 1)


def _redact_text(text: str) -> str:
    text = _SECRET_VALUE.sub(REDACTED, text)
    if "://" in text:
        text = _URL_QUERY_VALUE.sub(
            lambda m: f"{m.group(1)}={REDACTED}", _URL_USERINFO.sub(REDACTED + "@", text)
        )
    return text


async def record_audit(
    session: AsyncSession,
    principal: Principal | AuditActor,
    action: str,
    resource: str,
    ids: Sequence[str],
    summary: Mapping[str, Any] | BaseModel | None = None,
    *,
    provider_id: str | None = None,
) -> None:
    """Add the audit row of one write to ``session``; the caller's commit stores it with the write.

    ``provider_id`` is the tenant the write concerns; a provider key's own tenant when not given.
    """
    actor = actor_of(principal)
    if provider_id is None and isinstance(principal, Principal) and principal.role is Role.PROVIDER:
        provider_id = principal.provider_id
    cleaned = redact(summary if summary is not None else {})
    session.add(
        AuditLogRow(
            at=utcnow(),
            actor=actor.id[:255],
            actor_role=actor.role[:16],
            actor_name=redact(actor.name)[:255],
            action=action[:32],
            resource=resource[:32],
            target_ids=[redact(str(i)) for i in list(ids)[:_MAX_ITEMS]],
            provider_id=provider_id,
            summary=cleaned if isinstance(cleaned, dict) else {"value": cleaned},
        )
    )


# --- reading ---------------------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    """One audit row as the API shows it."""

    id: int
    at: datetime
    actor: str
    actor_role: str
    actor_name: str
    action: str
    resource: str
    target_ids: list[str]
    provider_id: str | None
    summary: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """What to read: a time range (``since`` inclusive, ``until`` exclusive), an actor, a resource, a tenant."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    provider_id: str | None = None


def entry_from_row(row: AuditLogRow) -> AuditEntry:
    at = as_utc(row.at)
    assert at is not None
    return AuditEntry(
        id=row.id,
        at=at,
        actor=row.actor,
        actor_role=row.actor_role,
        actor_name=row.actor_name,
        action=row.action,
        resource=row.resource,
        target_ids=list(row.target_ids or []),
        provider_id=row.provider_id,
        summary=dict(row.summary or {}),
    )


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the previous page; ``ValueError`` for a cursor this API did not hand out."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not text.isdigit() or len(text) > 19:
        raise ValueError("invalid cursor")
    return int(text)


def _query(provider_ids: set[str] | None, filters: AuditFilter) -> Select[AuditLogRow]:
    stmt = select(AuditLogRow).order_by(AuditLogRow.id.desc())
    if provider_ids is not None:
        stmt = stmt.where(AuditLogRow.provider_id.in_(sorted(provider_ids)))
    if filters.since is not None:
        stmt = stmt.where(AuditLogRow.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditLogRow.at < filters.until)
    if filters.actor is not None:
        stmt = stmt.where(AuditLogRow.actor == filters.actor)
    if filters.action is not None:
        stmt = stmt.where(AuditLogRow.action == filters.action)
    if filters.resource is not None:
        stmt = stmt.where(AuditLogRow.resource == filters.resource)
    if filters.provider_id is not None:
        stmt = stmt.where(AuditLogRow.provider_id == filters.provider_id)
    return stmt


async def list_audit(
    *,
    session: AsyncSession,
    provider_ids: set[str] | None,
    filters: AuditFilter,
    limit: int = 100,
    cursor: str | None = None,
) -> AuditPage:
    """Newest first; ``provider_ids`` None reads every row (operators), else only those tenants' rows."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = _query(provider_ids, filters).limit(limit + 1)
    if cursor:
        stmt = stmt.where(AuditLogRow.id < decode_cursor(cursor))
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[entry_from_row(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


async def iter_audit(
    *, session: AsyncSession, provider_ids: set[str] | None, filters: AuditFilter, batch: int = 500
) -> AsyncIterator[AuditEntry]:
    """Every matching row, newest first, read a batch at a time (for exports)."""
    cursor: str | None = None
    while True:
        page = await list_audit(
            session=session, provider_ids=provider_ids, filters=filters, limit=batch, cursor=cursor
        )
        for entry in page.items:
            yield entry
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
