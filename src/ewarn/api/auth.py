"""API keys: random, shown once, stored as SHA-256 (they are high-entropy, so a slow hash adds nothing)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ewk_"


def new_api_key() -> tuple[str, str]:
    """Return (key id, full key). The full key is returned to the caller once and never stored."""
    key_id = secrets.token_hex(8)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
