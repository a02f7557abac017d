"""Asset scope rules: how wide one provider's asset may be, and the operator approvals for wider ones.

An asset decides which intelligence a provider receives: a provider that registers ``0.0.0.0/0``, a /8, or a
public suffix such as ``co.uk`` would receive the alerts — TLP:AMBER ones included — raised for every other
hospital inside it. So a network wider than the configured prefix length (default /16 for IPv4, /32 for
IPv6) and a domain or e-mail domain that is a public suffix (the Public Suffix List bundled with the
``publicsuffixlist`` package, ICANN and private sections, read offline) are refused with the reason, unless an
operator approved exactly that asset value for exactly that provider. The whole address space and a bare
top-level domain are refused even then. Approvals are rows with who, when, what and why: the audit trail.

The same rule runs where assets are written (API, CSV/CycloneDX imports, CLI) and where the correlator reads
them, so rows stored before the rules (or straight into the database) cannot leak either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from publicsuffixlist import PublicSuffixList
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.inventory import fields
from ewarn.inventory.models import FieldProblem
from ewarn.models.asset import Asset, AssetKind
from ewarn.settings import AssetScopeSettings
from ewarn.store.db import as_utc, insert_for
from ewarn.store.keyset import after_key
from ewarn.store.tables import ScopeApprovalRow

SCOPED_KINDS = frozenset({AssetKind.NETWORK, AssetKind.DOMAIN, AssetKind.EMAIL_DOMAIN})
_NORMALISERS = {
    AssetKind.NETWORK: fields.network,
    AssetKind.DOMAIN: fields.domain,
    AssetKind.EMAIL_DOMAIN: fields.email_domain,
}
MAX_VALUE = 255  # the approvals table's column
Approved = Collection[tuple[str, str]]  # (kind, normalised value) approved for one provider


@dataclass(frozen=True)
class ScopeVerdict:
    """Why a value is out of scope, and whether an operator may still approve it."""

    reason: str
    approvable: bool


class ScopeApproval(BaseModel):
    """An operator's approval of one wider-than-allowed asset value for one provider."""

    provider_id: str
    kind: AssetKind
    value: str
    reason: str
    approved_by: str
    approved_at: datetime


@cache
def _public_suffixes() -> PublicSuffixList:
    # the list bundled with the package; nothing is fetched
    return PublicSuffixList()


def scope_verdict(kind: AssetKind, value: str | None, rules: AssetScopeSettings) -> ScopeVerdict | None:
    """None when the (normalised) value is within the rules, else why not."""
    if value is None or kind not in SCOPED_KINDS:
        return None
    if kind is AssetKind.NETWORK:
        return _network_verdict(value, rules)
    if not rules.refuse_public_suffixes:
        return None
    what = "domain" if kind is AssetKind.DOMAIN else "e-mail domain"
    if "." not in value:
        return ScopeVerdict(
            f"{value} is a top-level domain; it is never a provider's {what}", approvable=False
        )
    if _public_suffixes().is_public(value):
        return ScopeVerdict(
            f"{value} is a public suffix (Public Suffix List): as a {what} it would match every domain "
            f"registered under it, other organisations' included; register your own domain, e.g. "
            f"yourhospital.{value}, or ask an operator to approve this scope",
            approvable=True,
        )
    return None


def _network_verdict(value: str, rules: AssetScopeSettings) -> ScopeVerdict | None:
    # normalised values are "address/prefix"; reading the prefix off the string keeps an index load cheap
    address, _, prefix = value.rpartition("/")
    if not prefix.isdigit():
        net = ipaddress.ip_network(value, strict=False)
        address, prefix = str(net.network_address), str(net.prefixlen)
    length = int(prefix)
    v6 = ":" in address
    if length == 0:
        return ScopeVerdict(
            f"{value} covers every {'IPv6' if v6 else 'IPv4'} address; it is never a provider's network",
            approvable=False,
        )
    minimum = rules.min_ipv6_prefix if v6 else rules.min_ipv4_prefix
    if length < minimum:
        family = "IPv6" if v6 else "IPv4"
        return ScopeVerdict(
            f"{value} is wider than /{minimum}, the widest {family} network a provider may register without "
            "an operator's approval; register the ranges you operate, or ask an operator to approve this scope",
            approvable=True,
        )
    return None


def scope_refusal(asset: Asset, rules: AssetScopeSettings, approved: Approved) -> str | None:
    """Why ``asset`` may not be registered (None: it may); ``approved`` holds the provider's approvals."""
    verdict = scope_verdict(asset.kind, asset.value, rules)
    if verdict is None:
        return None
    if verdict.approvable and (asset.kind.value, asset.value or "") in approved:
        return None
    return verdict.reason


def scope_problems(
    assets: Sequence[Asset], rules: AssetScopeSettings, approved: Approved
) -> list[FieldProblem]:
    """One problem per out-of-scope asset, its field named like the validation's (``[i].value``)."""
    problems: list[FieldProblem] = []
    for i, asset in enumerate(assets):
        why = scope_refusal(asset, rules, approved)
        if why is not None:
            prefix = f"[{i}]." if len(assets) > 1 else ""
            problems.append(FieldProblem(field=f"{prefix}value", message=why))
    return problems


# --- approvals ---------------------------------------------------------------------------------------------


class ScopeNotApprovable(ValueError):
    """The value cannot be approved: it is invalid, needs no approval, or is never allowed."""


def approvable_value(kind: AssetKind, value: str, rules: AssetScopeSettings) -> str:
    """The normalised value an approval would cover; ``ScopeNotApprovable`` says why there is none."""
    normalise = _NORMALISERS.get(kind)
    if normalise is None:
        raise ScopeNotApprovable(f"kind {kind.value} has no scope rule; nothing to approve")
    normalised = normalise(value)  # ValueError (a ScopeNotApprovable's base) names a malformed value
    if len(normalised) > MAX_VALUE:
        raise ScopeNotApprovable(f"longer than {MAX_VALUE} characters once normalised")
    verdict = scope_verdict(kind, normalised, rules)
    if verdict is None:
        raise ScopeNotApprovable(f"{normalised} is within the scope rules; it needs no approval")
    if not verdict.approvable:
        raise ScopeNotApprovable(verdict.reason)
    return normalised


async def approve_scope(
    *,
    session: AsyncSession,
    provider_id: str,
    kind: AssetKind,
    value: str,
    reason: str,
    approved_by: str,
    now: datetime,
) -> ScopeApproval:
    """Record (or renew, with the new reason and approver) an approval; the caller commits."""
    stmt = insert_for(session, ScopeApprovalRow).values(
        provider_id=provider_id,
        kind=kind.value,
        value=value,
        reason=reason,
        approved_by=approved_by,
        approved_at=now,
    )
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["provider_id", "kind", "value"],
        set_={"reason": reason, "approved_by": approved_by, "approved_at": now},
    )
    await session.execute(stmt)
    return ScopeApproval(
        provider_id=provider_id,
        kind=kind,
        value=value,
        reason=reason,
        approved_by=approved_by,
        approved_at=now,
    )


async def list_approvals(
    *,
    session: AsyncSession,
    provider_id: str | None = None,
    after: tuple[datetime, str, str] | None = None,
    limit: int | None = None,
) -> list[ScopeApproval]:
    """Approvals of one provider (None: all), newest first; ``after``: (approved_at, kind, value) of one."""
    order = [
        (ScopeApprovalRow.approved_at, True),
        (ScopeApprovalRow.kind, True),
        (ScopeApprovalRow.value, True),
    ]
    stmt = select(ScopeApprovalRow).order_by(*(c.desc() for c, _ in order)).limit(limit)
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    if provider_id is not None:
        stmt = stmt.where(ScopeApprovalRow.provider_id == provider_id)
    return [
        ScopeApproval(
            provider_id=r.provider_id,
            kind=AssetKind(r.kind),
            value=r.value,
            reason=r.reason,
            approved_by=r.approved_by,
            approved_at=as_utc(r.approved_at) or r.approved_at,
        )
        for r in await session.scalars(stmt)
    ]


async def approved_scopes(*, session: AsyncSession, provider_id: str) -> set[tuple[str, str]]:
    """(kind, value) approved for one provider."""
    rows = await session.execute(
        select(ScopeApprovalRow.kind, ScopeApprovalRow.value).where(
            ScopeApprovalRow.provider_id == provider_id
        )
    )
    return {(kind, value) for kind, value in rows}


async def all_approved_scopes(*, session: AsyncSession) -> dict[str, set[tuple[str, str]]]:
    """Every provider's approvals, by provider id (a handful of rows: read whole for an index load)."""
    out: dict[str, set[tuple[str, str]]] = {}
    rows = await session.execute(
        select(ScopeApprovalRow.provider_id, ScopeApprovalRow.kind, ScopeApprovalRow.value)
    )
    for provider_id, kind, value in rows:
        out.setdefault(provider_id, set()).add((kind, value))
    return out


async def out_of_scope(
    *, session: AsyncSession, provider_id: str, assets: Sequence[Asset], rules: AssetScopeSettings
) -> list[FieldProblem]:
    """``scope_problems`` with the provider's approvals read only when some asset needs one."""
    if not any(scope_verdict(a.kind, a.value, rules) for a in assets):
        return []
    approved = await approved_scopes(session=session, provider_id=provider_id)
    return scope_problems(assets, rules, approved)
