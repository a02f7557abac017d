"""Deterministic ids: the same input always yields the same id, so replays are idempotent."""

from __future__ import annotations

import hashlib


def stable_id(prefix: str, *parts: str) -> str:
    """Return ``prefix_`` + 32 hex chars of SHA-256 over the parts (unit-separator joined)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{prefix}_{digest}"


def alert_id(*, provider_id: str, indicator_key: str, asset_id: str) -> str:
    """One alert per (provider, threat, asset)."""
    return stable_id("alr", provider_id, indicator_key, asset_id)


def delivery_id(*, alert_id: str, subscription_id: str, revision: int) -> str:
    """One delivery per (alert, subscription, alert revision); doubles as the webhook-id."""
    return stable_id("msg", alert_id, subscription_id, str(revision))


def asset_id(*, provider_id: str, kind: str, natural_key: str) -> str:
    """An asset registered twice with the same natural key is the same asset."""
    return stable_id("ast", provider_id, kind, natural_key)
