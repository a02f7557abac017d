"""Real receivers on loopback: a webhook server verifying Standard Webhooks signatures, and an SMTP server.

``WebhookReceiver`` is a small HTTP/1.1 server on 127.0.0.1 (asyncio streams, keep-alive). Every request is
verified with ``standardwebhooks.Webhook(secret).verify`` against the receiver's secrets; it can be scripted
to fail, answer 410 / 429 with Retry-After, redirect, be slow, or go down and come back on the same port.

``SmtpReceiver`` wraps aiosmtpd's ``Controller`` on 127.0.0.1 and keeps every message it accepted, parsed.

``python -m tests.support.receivers --secret whsec_… --stats FILE`` runs a webhook receiver in its own
process (the benchmark's receiver); it prints ``PORT <n>`` and writes its stats to FILE on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.dispatch.transport import PinnedHTTPTransport
from ewarn.dispatch.worker import DispatchWorker
from ewarn.ids import alert_id
from ewarn.models.alert import Alert, MatchDetail
from ewarn.models.common import utcnow
from ewarn.models.provider import Provider
from ewarn.models.subscription import Channel, Subscription
from ewarn.settings import DispatchSettings, Settings
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.repositories.subscriptions import create_subscription
from ewarn.store.tables import DeliveryAttemptRow, DeliveryRow

LOOPBACK = "127.0.0.1"
_REASONS = {
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


@dataclass
class Request:
    """One request as received, with the verification outcome and what we answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival
    verified: bool
    status: int

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body)


class _Connection(asyncio.Protocol):
    """One client connection: parse requests (Content-Length bodies), answer in order, scripted delays."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self._receiver = receiver
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a delayed reply is pending; later requests on this connection wait for it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._receiver._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._receiver._connections.discard(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._drain()

    def _drain(self) -> None:
        while not self._busy:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            path = lines[0].split(" ", 2)[1]
            reply, status = self._receiver._receive(path, headers, body)
            out = [
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                f"content-length: {len(reply.body)}",
            ]
            out += [f"{k}: {v}" for k, v in reply.headers.items()]
            raw = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + reply.body
            if reply.delay:
                self._busy = True
                asyncio.get_running_loop().call_later(reply.delay, self._send_later, raw)
                return
            self._write(raw)

    def _write(self, raw: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(raw)

    def _send_later(self, raw: bytes) -> None:
        self._busy = False
        self._write(raw)
        self._drain()


class WebhookReceiver:
    """A scriptable, signature-verifying webhook endpoint on 127.0.0.1 (asyncio protocol, keep-alive)."""

    def __init__(self, secrets: Iterable[str] = (), *, default: Reply | None = None) -> None:
        self.secrets = list(secrets)
        self.default = default or Reply()
        self.script: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.port = 0
        self.on_request: Callable[[Request], None] | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._waiters: list[tuple[Callable[[WebhookReceiver], bool], asyncio.Future[None]]] = []
        self._verifiers: dict[str, Webhook] = {}

    # --- scripting ------------------------------------------------------------------------------------

    def then(self, *replies: Reply) -> WebhookReceiver:
        """Answer the next requests with these replies, in order; then the default again."""
        self.script.extend(replies)
        return self

    def fail(self, times: int, status: int = 500) -> WebhookReceiver:
        return self.then(*[Reply(status=status)] * times)

    # --- reading ----------------------------------------------------------------------------------------

    @property
    def accepted(self) -> list[Request]:
        """Requests answered 2xx with a valid signature: what the receiver's owner actually got."""
        return [r for r in self.requests if r.verified and 200 <= r.status < 300]

    def url(self, path: str = "/hook") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    async def wait_for(self, predicate: Callable[[WebhookReceiver], bool], timeout: float = 10.0) -> None:
        if predicate(self):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not future]

    async def wait_accepted(self, count: int, timeout: float = 10.0) -> list[Request]:
        await self.wait_for(lambda r: len(r.accepted) >= count, timeout)
        return self.accepted

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), LOOPBACK, port or self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.url()

    async def down(self) -> None:
        """Stop listening and drop open connections: senders see connection refused."""
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                conn.close()
            await self._server.wait_closed()
            self._server = None

    async def up(self) -> None:
        """Listen again on the same port."""
        await self.start(self.port)

    stop = down

    # --- one request ------------------------------------------------------------------------------------

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets:
            verifier = self._verifiers.get(secret)
            if verifier is None:
                verifier = self._verifiers[secret] = Webhook(secret)
            try:
                verifier.verify(body, headers, json_parse=False)
            except WebhookVerificationError:
                continue
            return True
        return False

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Reply, int]:
        reply = self.script.popleft() if self.script else self.default
        verified = self._verify(body, headers)
        status = reply.status if verified or reply.status >= 300 else 401
        request = Request(path, headers, body, time.time(), verified, status)
        self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)
        for predicate, future in self._waiters:
            if not future.done() and predicate(self):
                future.set_result(None)
        return reply, status


# --- test data ---------------------------------------------------------------------------------------------


def sample_alert(**overrides: Any) -> Alert:
    """A realistic alert for provider ``st-elsewhere``; override any field (id follows provider/asset)."""
    provider = overrides.pop("provider_id", "st-elsewhere")
    asset = overrides.pop("asset_id", "ast_pacs")
    key = overrides.pop("indicator_key", "ipv4:203.0.113.7")
    now = overrides.pop("matched_at", None) or utcnow()
    fields: dict[str, Any] = {
        "id": alert_id(provider_id=provider, indicator_key=key, asset_id=asset),
        "provider_id": provider,
        "indicator_key": key,
        "indicator_type": key.split(":", 1)[0],
        "asset_id": asset,
        "title": "Known C2 server inside your range",
        "severity": "high",
        "score": 82.5,
        "reason": "203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'",
        "match": MatchDetail(
            asset_id=asset,
            asset_name="PACS DMZ",
            asset_kind="network",
            field="network",
            asset_value="203.0.113.0/24",
            indicator_value=key.split(":", 1)[1],
            range="203.0.113.0/24",
        ),
        "tlp": "amber",
        "labels": ["c2"],
        "source_feeds": ["demo"],
        "ingested_at": now,
        "matched_at": now,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(overrides)
    return Alert.model_validate(fields)


# --- SMTP ---------------------------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: str | None
    raw: bytes = b""  # as it arrived: what a mail client verifies a signature over


class _Handler:
    def __init__(self, inbox: list[Mail]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data if session.authenticated else None
        self.inbox.append(
            Mail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                # session.ssl is set by STARTTLS only; an implicit-TLS connection shows on its transport.
                tls=session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
                authenticated=auth.decode() if isinstance(auth, bytes) else None,
                raw=raw,
            )
        )
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1; optional STARTTLS (``tls_context``), implicit TLS (``implicit_tls``), AUTH."""

    def __init__(
        self,
        *,
        port: int,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.inbox: list[Mail] = []
        self.port = port
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if implicit_tls is not None:
            kwargs["ssl_context"] = implicit_tls
        if credentials is not None:
            # With implicit TLS the whole listener is TLS; aiosmtpd only counts STARTTLS for this setting.
            kwargs.update(auth_required=True, auth_require_tls=tls_context is not None)
            kwargs["authenticator"] = _authenticator(credentials)
        self._controller = Controller(_Handler(self.inbox), hostname=LOOPBACK, port=port, **kwargs)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while len(self.inbox) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.inbox)} of {count} messages arrived")
            await asyncio.sleep(0.02)
        return self.inbox


def _authenticator(credentials: tuple[str, str]) -> Callable[..., AuthResult]:
    user, password = credentials

    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    return check


# --- the benchmark's receiver process ---------------------------------------------------------------------


async def _serve_forever(secret: str, stats_path: Path) -> None:
    receiver = WebhookReceiver([secret])
    arrivals: dict[str, float] = {}
    receiver.on_request = lambda r: arrivals.setdefault(r.webhook_id or "", r.at) if r.verified else None
    await receiver.start()
    print(f"PORT {receiver.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await receiver.down()
    stats = {
        "requests": len(receiver.requests),
        "verified": sum(r.verified for r in receiver.requests),
        "rejected": sum(not r.verified for r in receiver.requests),
        "arrivals": arrivals,
    }
    stats_path.write_text(json.dumps(stats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--stats", required=True, type=Path)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.secret, args.stats))


if __name__ == "__main__":
    main()


# --- the dispatch stage against these receivers -------------------------------------------------------------


def dispatch_settings(**dispatch: Any) -> Settings:
    """Settings for dispatch tests: loopback allow-listed explicitly, fast backoff, short timeouts."""
    values: dict[str, Any] = {
        "allowed_networks": ["127.0.0.0/8"],
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 1.0,
        "max_attempts": 5,
        "request_timeout_seconds": 2.0,
        "poll_interval_seconds": 0.05,
    }
    values.update(dispatch)
    smtp = values.pop("smtp", None)
    return Settings(dispatch=DispatchSettings(**values), **({"smtp": smtp} if smtp else {}))


async def add_provider(
    sessions: SessionFactory,
    provider_id: str = "st-elsewhere",
    *,
    contacts: list[str] | None = None,
    language: str = "en",
) -> None:
    async with sessions() as session:
        await upsert_provider(
            session=session,
            provider=Provider(
                id=provider_id, name=provider_id, country="DE", contacts=contacts or [], language=language
            ),
        )
        await session.commit()


async def add_subscription(
    sessions: SessionFactory,
    target: str,
    *,
    provider_id: str = "st-elsewhere",
    channel: Channel = Channel.WEBHOOK,
    **kw: Any,
) -> tuple[Subscription, str | None]:
    async with sessions() as session:
        sub, secret = await create_subscription(
            session=session, provider_id=provider_id, channel=channel, target=target, **kw
        )
        await session.commit()
    return sub, secret


async def publish(bus: Bus, topics: Topics, *alerts: Alert) -> None:
    await bus.publish_many(topics.alerts, [(a.provider_id, a.model_dump_json().encode()) for a in alerts])


@asynccontextmanager
async def running_dispatch(
    *,
    sessions: SessionFactory,
    bus: Bus,
    topics: Topics,
    settings: Settings,
    http: httpx.AsyncClient | None = None,
    **kw: Any,
) -> AsyncIterator[DispatchWorker]:
    """A started ``DispatchWorker``; stopped (gracefully, bounded) on exit."""
    async with contextlib.AsyncExitStack() as stack:
        if http is None:  # the production set-up: webhooks straight through the pinned transport
            http = await stack.enter_async_context(httpx.AsyncClient())
            transport = PinnedHTTPTransport()
            stack.push_async_callback(transport.aclose)
            kw.setdefault("transport", transport)
        worker = DispatchWorker(sessions=sessions, bus=bus, topics=topics, settings=settings, http=http, **kw)
        task = asyncio.create_task(worker.run())
        try:
            yield worker
        finally:
            worker.stop()
            await asyncio.wait_for(task, 30)


async def deliveries(sessions: SessionFactory, **where: Any) -> list[DeliveryRow]:
    async with sessions() as session:
        stmt = select(DeliveryRow).order_by(DeliveryRow.created_at, DeliveryRow.id)
        for column, value in where.items():
            stmt = stmt.where(getattr(DeliveryRow, column) == value)
        return list((await session.scalars(stmt)).all())


async def attempts(sessions: SessionFactory, delivery_id: str) -> list[DeliveryAttemptRow]:
    async with sessions() as session:
        stmt = (
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.delivery_id == delivery_id)
            .order_by(DeliveryAttemptRow.attempt)
        )
        return list((await session.scalars(stmt)).all())


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_settled(sessions: SessionFactory, count: int, timeout: float = 10.0) -> list[DeliveryRow]:
    """Wait until ``count`` deliveries exist and none is pending; return them."""

    async def done() -> bool:
        rows = await deliveries(sessions)
        return len(rows) >= count and all(r.status != "pending" for r in rows)

    await wait_until(done, timeout, f"{count} settled deliveries")
    return await deliveries(sessions)
