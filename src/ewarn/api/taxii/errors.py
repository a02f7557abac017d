"""TAXII 2.1 error messages (``application/taxii+json``), and the Accept negotiation that may raise one.

``TaxiiErrorSend`` turns every problem+json answer on a TAXII path (the API guard's 401/429/503, a parameter's
422) into a TAXII error message with the same status and headers (Retry-After, WWW-Authenticate): TAXII
clients read ``title`` and ``http_status``, not RFC 9457.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send

from ewarn.api.problems import PROBLEM
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


def taxii_message(problem: dict[str, Any], status: int) -> dict[str, Any]:
    """The TAXII error message of a problem+json body (its validation errors as ``details``)."""
    body: dict[str, Any] = {"title": str(problem.get("title") or status), "http_status": str(status)}
    detail = problem.get("detail")
    if detail is not None:
        body["description"] = detail if isinstance(detail, str) else json.dumps(detail)
    if isinstance(problem.get("errors"), list):
        body["details"] = {"errors": problem["errors"]}
    return body


class TaxiiErrorSend:
    """An ASGI ``send`` that rewrites a problem+json response into a TAXII error message (module docstring)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if MutableHeaders(raw=list(message["headers"])).get("content-type", "").startswith(PROBLEM):
                self.start = message  # held until the body is complete
                return
        elif message["type"] == "http.response.body" and self.start is not None:
            self.body += message.get("body", b"")
            if message.get("more_body", False):
                return
            await self._rewritten(self.start)
            return
        await self.send(message)

    async def _rewritten(self, start: Message) -> None:
        status = int(start["status"])
        try:
            problem = json.loads(self.body)
        except ValueError:
            problem = {}
        body = json.dumps(taxii_message(problem if isinstance(problem, dict) else {}, status)).encode()
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["content-type"] = TAXII_MEDIA
        headers["content-length"] = str(len(body))
        await self.send({**start, "headers": headers.raw})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


def guard_docs() -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the API guard's refusals and parameter errors, TAXII error messages here."""
    return {
        status: {"description": description, "content": _error_content()}
        for status, description in (
            (401, "No API key, or not a valid one"),
            (422, "A parameter out of its bounds"),
            (429, "Too many requests or failed authentications; see Retry-After"),
            (503, "No database connection came free in time; see Retry-After"),
        )
    }


def _error_content() -> dict[str, Any]:
    return {TAXII_MEDIA: {"schema": _ERROR_SCHEMA}}


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "http_status": {"type": "string"},
        "details": {"type": "object"},
    },
    "required": ["title"],
}


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for TAXII error answers."""
    return {s: {"description": "TAXII error message", "content": _error_content()} for s in statuses}
