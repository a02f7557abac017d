"""API keys: the primitives live in ``ewarn.apikeys`` (below the store); re-exported for the API's callers."""

from __future__ import annotations

from ewarn.apikeys import KEY_PREFIX, hash_api_key, new_api_key

__all__ = ["KEY_PREFIX", "hash_api_key", "new_api_key"]
