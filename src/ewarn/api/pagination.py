"""Cursor pagination of the plain list routes, without changing their bodies (still JSON arrays).

A page that may have a successor says so in the headers: ``X-Next-Cursor`` (pass it back as ``cursor``)
and an RFC 8288 ``Link: <…>; rel="next"``. The cursor is opaque to clients: the sort key of the page's last
item, base64url JSON. (The alert list, older, carries ``next_cursor`` in its body instead.)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Query, Request, Response, status

from ewarn.api.params import CursorQuery

LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Items per page; follow X-Next-Cursor for more")]
PageCursor = CursorQuery
NEXT_HEADER = "X-Next-Cursor"
T = TypeVar("T")


def encode_cursor(*values: str | datetime) -> str:
    raw = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    encoded = base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode()
    return encoded.rstrip("=")  # unpadded: the cursor goes into URLs as it is


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The values of a cursor of this route (``str`` or ``datetime`` each); 422 for anything else."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.rstrip("=") + "=" * (-len(cursor.rstrip("=")) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds) or not all(isinstance(v, str) for v in raw):
            raise ValueError("not a cursor of this list")
        values = tuple(
            datetime.fromisoformat(v) if k is datetime else v for v, k in zip(raw, kinds, strict=True)
        )
        if any(isinstance(v, datetime) and v.tzinfo is None for v in values):
            raise ValueError("not a cursor of this list")
        return values
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid cursor") from exc


def announce_next(request: Request, response: Response, cursor: str | None) -> None:
    """Set the next-page headers when there may be a next page."""
    if cursor is None:
        return
    url = request.url.include_query_params(cursor=cursor)
    response.headers[NEXT_HEADER] = cursor
    response.headers["Link"] = f'<{url}>; rel="next"'


def next_cursor(items: Sequence[T], limit: int, key: Callable[[T], Sequence[str | datetime]]) -> str | None:
    """The cursor after a full page (its last item's sort key), None after a short one (the last page)."""
    return encode_cursor(*key(items[-1])) if items and len(items) >= limit else None


def page_after(cursor: str | None, *kinds: type) -> tuple[Any, ...] | None:
    """The decoded sort key of ``cursor`` (422 if it is not one of this route), None without a cursor."""
    return decode_cursor(cursor, *kinds) if cursor else None


NEXT_PAGE_HEADERS: dict[str, Any] = {
    NEXT_HEADER: {
        "description": "Cursor of the next page (absent on the last)",
        "schema": {"type": "string"},
    },
    "Link": {"description": 'RFC 8288 link to the next page, rel="next"', "schema": {"type": "string"}},
}
PAGED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A page", "headers": NEXT_PAGE_HEADERS}
}
