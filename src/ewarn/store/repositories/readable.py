"""Read repair for lists: a stored row that no longer parses is left out and logged, never a failed list."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from ewarn.logging import get_logger

log = get_logger(__name__)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)
T = TypeVar("T")


def readable_rows(rows: Iterable[R], decode: Callable[[R], T], *, kind: str) -> list[T]:
    """``decode`` of every row that parses; an unreadable one is logged as ``<kind>_row_unreadable``."""
    out: list[T] = []
    for row in rows:
        try:
            out.append(decode(row))
        except ValueError as exc:  # pydantic's ValidationError included
            log.warning(
                f"{kind}_row_unreadable", **{f"{kind}_id": row.id}, error=f"{type(exc).__name__}: {exc}"[:300]
            )
    return out
