"""Request body limits enforced while the body is read, per route, before anything parses it.

A declared ``Content-Length`` over the route's cap is answered 413 at once, unread; a chunked body is
counted as it arrives (Starlette's ``RequestBodyLimitResponder``) and the read that crosses the cap raises
413, so at most the cap is ever held. Whenever a response goes out before its request body was read to
the end, it says ``Connection: close``: the server then drops the rest instead of reading it to find the
next request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ewarn.api.limits.responses import refusal
from ewarn.settings import Settings

IMPORT_PATH = re.compile(r"^/api/v1/providers/[^/]+/assets/import$")
PUSH_PATH = re.compile(r"^/api/v1/ingest/(stix|csaf)$")


@dataclass(frozen=True)
class BodyCaps:
    """The cap of each route: the first matching pattern, else ``default``."""

    default: int
    by_path: list[tuple[re.Pattern[str], int]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyCaps:
        limits = settings.api.limits
        return cls(
            default=limits.max_body_bytes,
            by_path=[
                (IMPORT_PATH, limits.max_import_bytes),
                (PUSH_PATH, settings.ingest.max_payload_bytes),
            ],
        )

    def for_path(self, path: str) -> int:
        for pattern, cap in self.by_path:
            if pattern.match(path):
                return cap
        return self.default


def declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    return (declared_length(scope) or 0) > 0 or "chunked" in headers.get("transfer-encoding", "").lower()


def closing(send: Send, scope: Scope, body_done: list[bool]) -> Send:
    """``send`` that adds ``Connection: close`` to a response that leaves part of the request body unread."""
    unread_possible = has_body(scope)

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start" and unread_possible and not body_done[0]:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return send_closing


def tracking(receive: Receive, body_done: list[bool]) -> Receive:
    async def receive_tracking() -> Message:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            body_done[0] = True
        return message

    return receive_tracking


class BodyLimitMiddleware:
    """Pure ASGI: caps each request body by route (see ``BodyCaps``)."""

    def __init__(self, app: ASGIApp, caps: BodyCaps) -> None:
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.caps.for_path(scope["path"])
        body_done = [not has_body(scope)]
        send = closing(send, scope, body_done)
        declared = declared_length(scope)
        if declared is not None and declared > cap:
            await too_large(cap)(scope, receive, send)
            return
        await RequestBodyLimitResponder(self.app, cap)(scope, tracking(receive, body_done), send)


def too_large(cap: int) -> ASGIApp:
    return refusal(413, f"the request body is larger than this route's {cap} bytes")
