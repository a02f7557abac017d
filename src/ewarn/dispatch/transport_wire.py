"""The wire side of the webhook transport: one connection's bytes, and the response parser over them.

``PinnedHTTPTransport`` (``transport.py``) pools connections and writes requests; this module reads what comes
back, refusing what a lenient reader would let through (see ``transport.py`` for the fuzzing that found it).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import cast

import httpx

MAX_HEAD = 64 * 1024
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class StaleConnection(Exception):
    """A kept-alive connection the server had already closed: safe to retry once on a fresh one."""


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; bytes arrive in ``buffer`` and wake whoever waits for them."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait_data(self, timeout: float | None) -> None:
        """Wait until more bytes or EOF arrive; ``TimeoutError`` after ``timeout`` seconds of silence."""
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        # A timer on the future, not asyncio.wait_for: that wraps every read in a new task (hot path).
        timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def write(self, data: bytes) -> None:
        """Send ``data``; ``StaleConnection`` when the peer already closed (uvloop raises on a closed handle)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise StaleConnection
        try:
            self.transport.write(data)
        except RuntimeError as exc:
            raise StaleConnection from exc

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def usable(self, now: float, expiry: float) -> bool:
        return not self.closed and not self.buffer and now - self.idle_since < expiry


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


@dataclass(frozen=True)
class RawResponse:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes  # at most the transport's ``max_body_bytes``

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower-case), decoded."""
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None


class Reader:
    """Parses one response from a connection's buffer, waiting for bytes with the read timeout."""

    def __init__(
        self, conn: Connection, request: httpx.Request | None, timeout: float | None, cap: int
    ) -> None:
        self._conn = conn
        self._request = request
        self._timeout = timeout
        self._cap = cap
        self._http10 = False

    async def _more(self) -> bool:
        """Wait for bytes; False at EOF."""
        if self._conn.closed:
            return False
        try:
            await self._conn.wait_data(self._timeout)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("read timed out", request=self._request) from exc
        return bool(self._conn.buffer) or not self._conn.closed

    async def _until(self, marker: bytes, limit: int) -> bytes:
        buf = self._conn.buffer
        while True:
            end = buf.find(marker)
            if end > limit:  # arrived in one piece, but still over the limit
                raise httpx.RemoteProtocolError("response head too long", request=self._request)
            if end >= 0:
                chunk = bytes(buf[:end])
                del buf[: end + len(marker)]
                return chunk
            if len(buf) > limit:
                raise httpx.RemoteProtocolError("response head too long", request=self._request)
            if not await self._more():
                raise httpx.RemoteProtocolError("connection closed mid-response", request=self._request)

    async def head(self, *, reused: bool) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        buf = self._conn.buffer
        while not buf:
            if not await self._more():
                if reused:
                    raise StaleConnection
                raise httpx.RemoteProtocolError("server closed without a response", request=self._request)
        raw = await self._until(b"\r\n\r\n", MAX_HEAD)
        lines = raw.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if (
            len(parts) < 2
            or parts[0] not in (b"HTTP/1.0", b"HTTP/1.1")
            or len(parts[1]) != 3
            or not parts[1].isdigit()
        ):
            raise httpx.RemoteProtocolError(f"bad status line {lines[0][:80]!r}", request=self._request)
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            # A folded line (obs-fold) or a name with spaces is refused: read leniently, either could smuggle
            # a header past the checks below (RFC 9112 §5.1 and §5.2 let a client reject both).
            if not sep or not _TOKEN.fullmatch(name):
                raise httpx.RemoteProtocolError("bad header line", request=self._request)
            headers.append((name, value.strip(b" \t")))
        self._http10 = parts[0] == b"HTTP/1.0"
        return int(parts[1]), parts[2] if len(parts) > 2 else b"", headers

    async def _exact(self, n: int) -> bytes:
        buf = self._conn.buffer
        while len(buf) < n:
            if not await self._more():
                raise httpx.RemoteProtocolError("connection closed mid-body", request=self._request)
        chunk = bytes(buf[:n])
        del buf[:n]
        return chunk

    async def body(self, method: str, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bool]:
        """The body (at most ``cap`` bytes) and whether the connection can carry another request."""
        values = {k.lower(): v for k, v in headers}
        keep_alive = not self._http10 and values.get(b"connection", b"").lower() != b"close"
        if method == "HEAD" or status in (204, 304):
            return b"", keep_alive
        lengths = {v for k, v in headers if k.lower() == b"content-length"}
        if b"transfer-encoding" in values:
            # Chunked framing wins over a Content-Length, but such a connection is never reused (RFC 9112 §6.3).
            if values[b"transfer-encoding"].lower().rsplit(b",", 1)[-1].strip() != b"chunked":
                raise httpx.RemoteProtocolError("unsupported transfer-encoding", request=self._request)
            return await self._chunked(keep_alive and not lengths)
        if lengths:
            length = lengths.pop()
            if lengths or not length.isdigit() or len(length) > 18:
                raise httpx.RemoteProtocolError("bad content-length", request=self._request)
            n = int(length)
            if n > self._cap:
                return await self._exact(self._cap) if self._cap else b"", False
            return await self._exact(n), keep_alive
        out = bytearray()
        while len(out) < self._cap:
            out += self._conn.buffer
            self._conn.buffer.clear()
            if not await self._more():
                break
        return bytes(out[: self._cap]), False

    async def _chunked(self, keep_alive: bool) -> tuple[bytes, bool]:
        out = bytearray()
        while True:
            digits = (await self._until(b"\r\n", 4096)).split(b";", 1)[0].rstrip(b" \t")
            # Hex digits only: int(..., 16) would also take "-1", "0x10", "1_0" or surrounding spaces.
            if not _HEX.fullmatch(digits):
                raise httpx.RemoteProtocolError("bad chunk size", request=self._request)
            size = int(digits, 16)
            if size == 0:
                trailers = 0
                while line := await self._until(b"\r\n", MAX_HEAD):  # trailers end with an empty line
                    trailers += len(line)
                    if trailers > MAX_HEAD:
                        raise httpx.RemoteProtocolError("trailers too long", request=self._request)
                return bytes(out), keep_alive
            if len(out) + size > self._cap:
                out += await self._exact(self._cap - len(out))
                return bytes(out), False
            out += await self._exact(size)
            if await self._exact(2) != b"\r\n":
                raise httpx.RemoteProtocolError("chunk not followed by CRLF", request=self._request)
