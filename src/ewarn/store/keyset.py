"""Key-set pagination: the rows strictly after a given row in a multi-column order (no OFFSET scans)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


def after_key(order: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in ``order``, a sequence of (column, descending) as the query sorts them."""
    if len(order) != len(values) or not order:
        raise ValueError("one value per order column")
    (column, descending), value = order[0], values[0]
    beyond: ColumnElement[bool] = column < value if descending else column > value
    if len(order) == 1:
        return beyond
    return or_(beyond, and_(column == value, after_key(order[1:], values[1:])))
