"""Bulk importers: each parses one file format into asset records or VEX statements, without I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ewarn.errors import EwarnError


class ImportFormat(StrEnum):
    CSV = "csv"
    CYCLONEDX = "cyclonedx"
    CYCLONEDX_VEX = "cyclonedx-vex"
    CSAF_VEX = "csaf-vex"

    @property
    def is_vex(self) -> bool:
        return self in (ImportFormat.CYCLONEDX_VEX, ImportFormat.CSAF_VEX)


class ImportRejected(EwarnError):
    """The whole import is refused (unreadable file, unknown CSV column, unknown device); nothing applied."""


@dataclass(frozen=True)
class AssetRecord:
    """One would-be asset: where it came from (CSV line, bom-ref) and its raw fields."""

    row: int | str
    data: dict[str, Any] = field(default_factory=dict)


def load_json_object(data: bytes, *, what: str) -> dict[str, Any]:
    """Decode a JSON document whose top level must be an object."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportRejected(f"not a JSON {what}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ImportRejected(f"not a {what}: the top level is not a JSON object")
    return doc


def text_or_none(value: Any) -> str | None:
    """A stripped string, or None for anything else (absent, empty, not a string)."""
    if not isinstance(value, str):
        return None
    return value.strip() or None
