"""Secrets at rest: MultiFernet encryption of stored secrets, and the generation of new secrets.

A stored secret is ``fernet:<token>``; anything without that prefix is a plaintext value written before secrets
were encrypted (read as is, sealed by migration 0010, at start-up or by ``ewarn secrets rotate``). Keys come
newest first: the first one encrypts, every one decrypts.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ewarn.errors import ConfigurationError

PREFIX = "fernet:"
KEYS_VARIABLE = "EWARN_SECRETS__KEYS"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks format's prefix, not a secret)
_JSON_FIELD = "encrypted"  # a JSON column holding secrets stores {"encrypted": "fernet:<token>"}
_CACHE_LIMIT = 4096


class SecretUnreadable(ConfigurationError):
    """A stored secret cannot be decrypted with any configured key: the row it belongs to fails alone."""

    def __init__(self, row: str) -> None:
        self.row = row
        super().__init__(
            f"{row}: the stored secret cannot be decrypted with any configured key "
            f"({KEYS_VARIABLE} must list the key it was encrypted with)"
        )


def generate_key() -> str:
    """A new Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


def new_webhook_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64 (the Standard Webhooks format)."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_keys(text: str) -> list[str]:
    """Keys from a comma- or newline-separated list, newest first; blank entries ignored."""
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def is_sealed_json(stored: Mapping[str, Any] | None) -> bool:
    return (
        stored is not None
        and set(stored) == {_JSON_FIELD}
        and isinstance(stored[_JSON_FIELD], str)
        and is_sealed(stored[_JSON_FIELD])
    )


class SecretBox:
    """Encrypts with the newest key, decrypts with any; never logs, never puts a secret in an error."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigurationError(f"no secrets key: set {KEYS_VARIABLE} (ewarn secrets generate-key)")
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise ConfigurationError(
                    f"key {position} of {KEYS_VARIABLE} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; ewarn secrets generate-key makes one)"
                ) from None
        self._newest = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)
        self._plain: dict[str, str] = {}  # token -> value: the dispatch hot path decrypts the same few

    def seal(self, value: str) -> str:
        """``fernet:<token>`` of ``value`` under the newest key."""
        return PREFIX + self._newest.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, stored: str, *, row: str) -> str:
        """The value of a stored secret; plaintext (not yet sealed) passes through. ``SecretUnreadable``."""
        if not is_sealed(stored):
            return stored
        cached = self._plain.get(stored)
        if cached is not None:
            return cached
        try:
            value = self._all.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(row) from None
        if len(self._plain) >= _CACHE_LIMIT:
            self._plain.clear()
        self._plain[stored] = value
        return value

    def is_current(self, stored: str) -> bool:
        """Sealed under the newest key (nothing for a rotation to do)."""
        if not is_sealed(stored):
            return False
        try:
            self._newest.decrypt(stored[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reseal(self, stored: str, *, row: str) -> str | None:
        """The value sealed under the newest key, or None when it already is. ``SecretUnreadable``."""
        if self.is_current(stored):
            return None
        return self.seal(self.open(stored, row=row))

    def seal_json(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON column's secrets as ``{"encrypted": "fernet:<token>"}``; empty stays empty."""
        if not value:
            return {}
        return {_JSON_FIELD: self.seal(json.dumps(dict(value), sort_keys=True))}

    def open_json(self, stored: Mapping[str, Any] | None, *, row: str) -> dict[str, Any]:
        """The secrets of a JSON column; a plaintext (not yet sealed) mapping passes through."""
        if not stored:
            return {}
        if not is_sealed_json(stored):
            return dict(stored)
        opened = json.loads(self.open(str(stored[_JSON_FIELD]), row=row))
        if not isinstance(opened, dict):
            raise SecretUnreadable(row)
        return opened

    def reseal_json(self, stored: Mapping[str, Any] | None, *, row: str) -> dict[str, Any] | None:
        """The mapping sealed under the newest key, or None when it already is (or is empty)."""
        if not stored:
            return None
        if is_sealed_json(stored) and self.is_current(str(stored[_JSON_FIELD])):
            return None
        return self.seal_json(self.open_json(stored, row=row))
