"""Index table entries: the record, or the list of records, filed under one key.

Each asset is one compact record (``marshal`` of a tuple of plain values, see ``asset_records``); a lookup
table maps a key to the record itself, or to a list of records when several assets share the key, so the
common single-asset key costs no list.
"""

from __future__ import annotations

from typing import Any

Record = bytes
Entry = Record | list[Record]


def records(entry: Entry) -> list[Record]:
    """The records behind a table entry."""
    return [entry] if isinstance(entry, bytes) else entry


def put(table: dict[Any, Entry], key: object, record: Record) -> None:
    """File ``record`` under ``key``."""
    current = table.get(key)
    if current is None:
        table[key] = record
    elif isinstance(current, bytes):
        table[key] = [current, record]
    else:
        current.append(record)


def take(table: dict[Any, Entry], key: object, record: Record) -> None:
    """Take ``record`` (this very object) from under ``key``; the key goes when nothing is left under it."""
    current = table.get(key)
    if current is None:
        return
    if isinstance(current, bytes):
        if current is record:
            del table[key]
        return
    remaining = [r for r in current if r is not record]
    if not remaining:
        del table[key]
    else:
        table[key] = remaining[0] if len(remaining) == 1 else remaining
