"""Throttling and authentication of every ``/api/`` request, before its body is read or parsed.

In order: the source address's request rate; the API key (``Authorization: Bearer``, ``X-API-Key``, or
HTTP Basic with the key as password, as TAXII clients send it),
looked up once, through the database gate (its row is read on every request, so a revoked or expired key
fails at once in every process; its last use is noted at most once a minute); the key's request rate. A
request that fails any of them is answered here (401, 429 with Retry-After, 503 with Retry-After) and never
reaches its route, so an unauthenticated body is never read. On ``/taxii2/`` paths every problem+json answer
(these refusals, a parameter's 422) goes out as a TAXII error message (``ewarn.api.taxii.errors``). The principal is left in the ASGI scope for
``deps.get_principal``.

Failed authentications are logged (address, claimed key id, a short fingerprint; never the key) and counted
in ``GuardStats``; the API role's heartbeat carries those counters to the status report.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ewarn.api.limits.dbgate import DbGate, ServiceBusy
from ewarn.api.limits.eventwatch import NewestEventWatch
from ewarn.api.limits.responses import refusal, too_many, unauthorized
from ewarn.api.limits.streams import StreamSlots
from ewarn.api.limits.throttle import Throttle
from ewarn.api.taxii.errors import TaxiiErrorSend
from ewarn.apikeys import hash_api_key
from ewarn.logging import get_logger
from ewarn.models.provider import Principal
from ewarn.settings import ApiLimits
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.principals import authenticate_key, commit_key_use

log = get_logger(__name__)

PRINCIPAL_SCOPE_KEY = "ewarn.principal"
PROTECTED_PREFIX = "/api/"
TAXII_PREFIX = "/taxii2/"  # the TAXII 2.1 server: the same keys, limits and tenancy as /api/
GUARDED_PATHS = frozenset({"/metrics"})  # outside /api/, yet for API keys only (Prometheus scrapes)
_KEY_ID = re.compile(r"^ewk_([0-9a-f]{16})_")
_MAX_KEY_CHARS = 512  # a longer credential is no key of ours; refused without a lookup
EVENT_POLL_SECONDS = 0.25  # how often the open event streams of this process look for new alert events


@dataclass
class GuardStats:
    """Counters since start-up (this process); shown with the API role on the status report."""

    auth_failures: int = 0  # a key was presented and is unknown or revoked
    auth_missing: int = 0  # no key at all on an /api/ route
    auth_throttled: int = 0  # refused with 429 because the address or key id spent its failure budget
    rate_limited: int = 0  # refused with 429 by the per-address or per-key request rate


class ApiGuard:
    """The per-application state of every limit: rates, the database gate, open streams, counters."""

    def __init__(self, limits: ApiLimits, sessions: SessionFactory) -> None:
        self.limits = limits
        self.sessions = sessions
        self.throttle = Throttle(limits)
        self.db = DbGate(
            size=limits.db_concurrency,
            wait_seconds=limits.db_wait_seconds,
            retry_after=limits.retry_after_seconds,
        )
        self.streams = StreamSlots(limits.max_streams_per_key)
        self.newest_event = NewestEventWatch(
            sessions=sessions, db_slot=self.db.slot, interval=EVENT_POLL_SECONDS
        )
        self.counters = GuardStats()

    def stats(self) -> dict[str, int]:
        """What the status report shows for the API role (``auth_failures`` and the other refusals)."""
        return {
            **vars(self.counters),
            "db_busy": self.db.refused,
            "streams_open": self.streams.open_count(),
            "streams_refused": self.streams.refused,
            "event_polls": self.newest_event.polls,
        }

    async def lookup(self, key: str) -> Principal | None:
        try:
            async with self.db.slot(), self.sessions() as session:
                principal = await authenticate_key(session=session, key=key)
                await commit_key_use(session)
                return principal
        except PoolTimeoutError:
            self.db.refused += 1
            raise ServiceBusy(self.limits.retry_after_seconds) from None


def presented_key(scope: Scope) -> str | None:
    headers = Headers(scope=scope)
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic" and credentials.strip():
        return _basic_password(credentials.strip())
    return headers.get("x-api-key") or None


def _basic_password(credentials: str) -> str | None:
    """HTTP Basic as TAXII clients send it: any user name, the API key as the password."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password if sep and password else None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class GuardMiddleware:
    """Pure ASGI middleware in front of every route (see the module docstring)."""

    def __init__(self, app: ASGIApp, guard: ApiGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not (path.startswith((PROTECTED_PREFIX, TAXII_PREFIX)) or path in GUARDED_PATHS):
            await self.app(scope, receive, send)
            return
        if path.startswith(TAXII_PREFIX):  # TAXII clients read TAXII error messages, not problem+json
            send = TaxiiErrorSend(send)
        answer, principal = await self._admit(scope)
        if answer is not None:
            await answer(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope) -> tuple[ASGIApp | None, Principal | None]:
        guard, counters = self.guard, self.guard.counters
        address = client_address(scope)
        if not await guard.throttle.per_address.hit(address):
            counters.rate_limited += 1
            return too_many(await guard.throttle.per_address.retry_after(address), "too many requests"), None
        key = presented_key(scope)
        if key is None:
            counters.auth_missing += 1
            return unauthorized("missing API key"), None
        key_hash = hash_api_key(key)
        match = _KEY_ID.match(key)
        key_id = match.group(1) if match else None
        auth = guard.throttle.auth
        wait = await auth.blocked(address=address, key_hash=key_hash)
        if wait is not None:
            counters.auth_throttled += 1
            return too_many(wait, "too many failed authentications"), None
        try:
            principal = await guard.lookup(key) if len(key) <= _MAX_KEY_CHARS else None
        except ServiceBusy as busy:
            return refusal(503, busy.detail, busy.headers), None
        if principal is None and (wait := await auth.key_id_blocked(key_id)) is not None:
            counters.auth_throttled += 1
            await auth.failed(address=address, key_id=None)  # still spends the address's budget
            return too_many(wait, "too many failed authentications for this key id"), None
        if principal is None:
            counters.auth_failures += 1
            spent = await auth.failed(address=address, key_id=key_id)
            log.warning(
                "auth_failed",
                address=address,
                claimed_key_id=key_id,
                key_fingerprint=key_hash[:8],
                path=scope["path"],
                budget_spent=spent,
            )
            return unauthorized("invalid API key"), None
        auth.succeeded(key_hash)
        if not await guard.throttle.per_principal.hit(principal.key_id):
            counters.rate_limited += 1
            wait = await guard.throttle.per_principal.retry_after(principal.key_id)
            return too_many(wait, "too many requests for this API key"), None
        return None, principal
