"""Make stored text safe to serialise: lone surrogates and NUL become U+FFFD, and excerpts stay printable.

A row written before validation was tightened (or straight into the database) may hold a string that cannot
be encoded as UTF-8 or stored by PostgreSQL. Reads repair such strings instead of failing a whole list, and a
quarantined record keeps a printable excerpt of itself. Imports nothing of ewarn, so every layer may use it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile(r"[\ud800-\udfff\x00]")


def repair_text(value: str) -> str:
    """``value`` with every lone surrogate and NUL replaced by U+FFFD (unchanged when there is none)."""
    if value.isascii() and "\x00" not in value:
        return value
    return _UNSAFE.sub(REPLACEMENT, value)


def needs_repair(data: Any) -> bool:
    """True when some string in ``data`` (JSON-like: dicts, lists, strings) holds a surrogate or NUL.

    Asked of every row read on hot paths, so the common answer comes from one C-speed encode: orjson refuses
    lone surrogates, and writes NUL as an escape that a byte search finds.
    """
    try:
        encoded = orjson.dumps(data)
    except TypeError:  # a lone surrogate (or a value orjson does not know: look string by string)
        return _walk_needs_repair(data)
    return b"\\u0000" in encoded


def _walk_needs_repair(data: Any) -> bool:
    if isinstance(data, str):
        return _UNSAFE.search(data) is not None
    if isinstance(data, dict):
        return any(_walk_needs_repair(k) or _walk_needs_repair(v) for k, v in data.items())
    if isinstance(data, list | tuple):
        return any(_walk_needs_repair(v) for v in data)
    return False


def repair(data: Any) -> Any:
    """A copy of JSON-like ``data`` with every string repaired (``data`` itself when nothing needs it)."""
    if not needs_repair(data):
        return data
    return _repaired(data)


def _repaired(data: Any) -> Any:
    if isinstance(data, str):
        return repair_text(data)
    if isinstance(data, dict):
        return {repair_text(k) if isinstance(k, str) else k: _repaired(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_repaired(v) for v in data]
    return data


def excerpt(value: Any, limit: int = 1000) -> str:
    """The first ``limit`` characters of ``value`` as printable text; the culprit shows escaped (``\\ud800``).

    Bytes that are no UTF-8 show as ``\\xff``; data is written as ASCII JSON.
    """
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: limit * 4]).decode("utf-8", "backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=True, default=str)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
