"""Which keys seal the stored secrets: ``EWARN_SECRETS__KEYS``, else a key file beside the SQLite database.

PostgreSQL (production) requires the setting: every process of every role must hold the same keys, and a key must
never sit in the database it protects. The embedded default (a SQLite file) creates ``<database>.secrets.key``
beside the database on first use, readable by its owner only (0600), and says so in the log; the file holds one
key per line, newest first. An in-memory SQLite database gets a key for the life of the process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from ewarn.crypto.secretbox import KEYS_VARIABLE, SecretBox, generate_key, parse_keys
from ewarn.errors import ConfigurationError
from ewarn.logging import get_logger

log = get_logger(__name__)

KEY_FILE_SUFFIX = ".secrets.key"
_cache: dict[tuple[str, str], SecretBox] = {}


def key_file_for(database_url: str) -> Path | None:
    """The key file beside a SQLite database file; None for an in-memory SQLite or another database."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(url.query):
        return None
    path = Path(database.removeprefix("file:"))
    return path.with_name(path.name + KEY_FILE_SUFFIX)


def secret_box_for(*, keys: SecretStr | None, database_url: str) -> SecretBox:
    """The configured keys, else the embedded default's key file (created when missing); cached per pair."""
    configured = keys.get_secret_value() if keys is not None else ""
    cache_key = (database_url, configured)
    box = _cache.get(cache_key)
    if box is None:
        box = _cache[cache_key] = _build(configured, database_url)
    return box


def _build(configured: str, database_url: str) -> SecretBox:
    if parse_keys(configured):
        return SecretBox(parse_keys(configured))
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        raise ConfigurationError(
            f"{KEYS_VARIABLE} is required with a {url.get_backend_name()} database: it encrypts webhook "
            "signing secrets and feed credentials at rest (make one with `ewarn secrets generate-key`)"
        )
    path = key_file_for(database_url)
    if path is None:
        log.warning(
            "secrets_key_ephemeral", reason="in-memory database: secrets sealed for this process only"
        )
        return SecretBox([generate_key()])
    return SecretBox(read_or_create_key_file(path))


def read_or_create_key_file(path: Path) -> list[str]:
    """The keys in ``path``; a new key file (0600) when there is none. Two processes starting at once agree."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(generate_key() + "\n")
    log.info(
        "secrets_key_file_created",
        path=str(path),
        note=f"keep it beside the database and back it up with it; set {KEYS_VARIABLE} in production",
    )
    return _read_key_file(path)


def _read_key_file(path: Path) -> list[str]:
    for _ in range(50):  # another process may have created it a moment ago and not yet written the key
        keys = parse_keys(path.read_text(encoding="ascii"))
        if keys:
            if path.stat().st_mode & 0o077:
                log.warning("secrets_key_file_readable_by_others", path=str(path))
            return keys
        time.sleep(0.02)
    raise ConfigurationError(f"the secrets key file {path} holds no key")
