"""What an API key looks like from outside: its metadata and state, never its secret or hash."""

from __future__ import annotations

from enum import StrEnum

from ewarn.models.common import Contract, UtcDatetime
from ewarn.models.provider import Role


class KeyState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"  # past expires_at (a rotated key with a grace period ends this way)
    REVOKED = "revoked"


class ApiKeyInfo(Contract):
    """One API key's lifecycle, as listed to the operator or to the tenant it belongs to."""

    id: str
    role: Role
    provider_id: str | None = None
    csirt_id: str | None = None
    name: str = ""
    state: KeyState
    created_at: UtcDatetime
    expires_at: UtcDatetime | None = None
    last_used_at: UtcDatetime | None = None  # updated at most once a minute per key
    revoked_at: UtcDatetime | None = None
    revoked_by: str | None = None  # the key id (or "cli:<user>") that revoked it
    rotated_from: str | None = None  # the key this one replaced
