"""Tenants (providers), CSIRTs and the principals that act for them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ewarn.models.common import Contract, CountryCode, UtcDatetime


class Provider(Contract):
    id: str
    name: str
    country: CountryCode
    csirt_id: str | None = None
    contacts: list[str] = Field(default_factory=list)
    language: str = "en"
    created_at: UtcDatetime | None = None


class Csirt(Contract):
    id: str
    name: str
    country: CountryCode


class Role(StrEnum):
    PROVIDER = "provider"  # one tenant
    CSIRT = "csirt"  # the providers whose csirt_id is theirs
    OPERATOR = "operator"  # everything


class Principal(Contract):
    """Who is calling: resolved from an API key."""

    key_id: str
    role: Role
    provider_id: str | None = None
    csirt_id: str | None = None
    name: str = ""
