"""Typed path and query parameters shared by the routes: bounded, and free of characters no database stores.

An id in a path or a filter is only ever compared with stored ids, so anything outside the id alphabet is
answered 422 before a query runs (PostgreSQL would raise on a NUL; a 2**70 offset overflows BIGINT on both
databases).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from ewarn.models.common import ONE_LINE_PATTERN

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$"
MAX_ID_LENGTH = 200
MAX_OFFSET = 2**31 - 1  # far beyond any page worth asking for, and inside every integer column type

ResourceIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
ResourceIdQuery = Annotated[str | None, Query(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
CursorQuery = Annotated[str | None, Query(max_length=1024, pattern=r"^[A-Za-z0-9_=-]*$")]
TextQuery = Annotated[str | None, Query(min_length=1, max_length=2048, pattern=ONE_LINE_PATTERN)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
