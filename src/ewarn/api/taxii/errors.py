"""TAXII 2.1 error messages (``application/taxii+json``), and the Accept negotiation that may raise one."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ewarn.api.taxii.collections import TAXII_MEDIA

# What a client may ask for and still get TAXII JSON (clients that send no Accept, or a generic one, too).
_ACCEPTABLE = ("application/taxii+json", "application/json", "application/*", "*/*")


def taxii_error(status: int, title: str, description: str | None = None) -> JSONResponse:
    """The TAXII error message resource; ``http_status`` is a string, as TAXII 2.1 defines it."""
    body: dict[str, Any] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    return JSONResponse(body, status_code=status, media_type=TAXII_MEDIA)


def not_acceptable(accept: str | None) -> JSONResponse | None:
    """A 406 unless the Accept header allows TAXII 2.1 JSON (a missing header allows anything)."""
    if not accept:
        return None
    for part in accept.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        if media not in _ACCEPTABLE:
            continue
        version = next((p.split("=", 1)[1] for p in params if p.startswith("version=")), "2.1")
        if media != "application/taxii+json" or version.strip() == "2.1":
            return None
    return taxii_error(406, "Not Acceptable", f"this server answers {TAXII_MEDIA}")


def guard_docs() -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the API guard's refusals, which are problem+json on every guarded path."""
    ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        401: {"description": "No API key, or not a valid one", "content": ref},
        422: {"description": "A parameter out of its bounds", "content": ref},
        429: {"description": "Too many requests or failed authentications; see Retry-After", "content": ref},
        503: {"description": "No database connection came free in time; see Retry-After", "content": ref},
    }


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for TAXII error answers."""
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "http_status": {"type": "string"},
        },
        "required": ["title"],
    }
    return {
        s: {"description": "TAXII error message", "content": {TAXII_MEDIA: {"schema": schema}}}
        for s in statuses
    }
