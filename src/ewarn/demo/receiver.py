"""A real webhook receiver on loopback that verifies Standard Webhooks signatures (used by the demo)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ewarn.api.server import EmbeddedServer


@dataclass
class Received:
    webhook_id: str
    received_at: datetime
    payload: dict[str, Any]


@dataclass
class VerifyingReceiver:
    """Accepts POST /hook; 204 when the signature verifies with ``secret``, 401 otherwise."""

    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    rejected: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        if self.secret is None:
            return Response(status_code=503)
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:  # the library raises its own error type for any bad signature
            self.rejected += 1
            return Response(status_code=401)
        data = payload if isinstance(payload, dict) else json.loads(body)
        self.received.append(Received(request.headers["webhook-id"], datetime.now(UTC), data))
        self.arrived.set()
        return Response(status_code=204)

    async def start(self) -> str:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
        )
        self._server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
