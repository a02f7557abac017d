"""A request id per API call, bound to every log line of that call and echoed in ``X-Request-ID``.

A caller's own id is kept when it is short and plain (a proxy's or a SOC tool's correlation id); anything else
is replaced, so a hostile header never reaches the logs.
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_PLAIN = re.compile(rb"^[A-Za-z0-9._:-]{8,64}$")


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == HEADER and _PLAIN.match(value):
            return bytes(value).decode("ascii")
    return None


class RequestIdMiddleware:
    """Outermost middleware: every later log line of the request carries ``request_id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, request_id.encode("ascii"))]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
