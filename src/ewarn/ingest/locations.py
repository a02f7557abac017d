"""Where a feed's documents come from, as the ingest stage handles locations (pure: no I/O but a stat)."""

from __future__ import annotations

from pathlib import Path

import httpx

from ewarn.ingest.sources.base import FeedSpec


def credential_origins(spec: FeedSpec) -> list[str]:
    """Origins besides the feed's own that may receive its credentials (feed config, operator's choice)."""
    extra = spec.config.get("credential_origins")
    return [str(origin) for origin in extra] if isinstance(extra, list) else []


def existing_path(location: str) -> Path | None:
    path = Path(location.removeprefix("file://")).expanduser()
    return path.resolve() if path.exists() else None


def redact(location: str) -> str:
    """Locations may carry credentials in the URL; keep them out of rejections and logs."""
    try:
        url = httpx.URL(location)
    except (httpx.InvalidURL, TypeError):
        return location
    if url.userinfo:
        return str(url.copy_with(username=None, password=None))
    return location
