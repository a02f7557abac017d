"""The hand-written HTTP/1.1 client (``dispatch/transport.py``) against hostile responses on loopback.

A receiver decides what our dispatcher reads. Whatever it sends (split or dripped heads, huge or folded
headers, bad or negative lengths and chunk sizes, endless interim responses, an early close, silence), the
transport either returns a well-formed response with at most ``max_body_bytes`` of body, or raises one of
httpx's errors, within its timeouts: never another exception, never a hang, never a body past the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewarn.dispatch.ssrf import SsrfGuard, StaticResolver
from ewarn.dispatch.transport import PinnedHTTPTransport, RawResponse
from ewarn.dispatch.webhook import WebhookSender, new_secret

CAP = 1024
EXAMPLES = 60
REQUEST_HEAD = b"POST /hook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\n"


@dataclass(frozen=True)
class Script:
    """What the server sends after reading the request: segments, a pause before each, then close or not."""

    segments: Sequence[bytes]
    pause: float = 0.0
    close: bool = True


class HostileServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            for segment in self.script.segments:
                if self.script.pause:
                    await asyncio.sleep(self.script.pause)
                writer.write(segment)
                await writer.drain()
            if not self.script.close:
                await asyncio.sleep(30)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


async def exchange(script: Script, *, read_timeout: float = 0.3) -> RawResponse | httpx.HTTPError:
    transport = PinnedHTTPTransport(max_body_bytes=CAP)
    try:
        async with HostileServer(script) as server:
            try:
                return await transport.exchange(
                    scheme="http",
                    host="127.0.0.1",
                    port=server.port,
                    sni="127.0.0.1",
                    method="POST",
                    head=REQUEST_HEAD,
                    body=b"{}",
                    timeouts={"connect": 1.0, "read": read_timeout, "write": 1.0, "pool": 1.0},
                )
            except httpx.HTTPError as exc:
                return exc
    finally:
        await transport.aclose()


OK = b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize(
    ("segments", "status", "body"),
    [
        pytest.param([OK + b"Content-Le", b"ngth: 2\r\n\r", b"\nok"], 200, b"ok", id="head-split-in-three"),
        pytest.param(
            [bytes([b]) for b in OK + b"Content-Length: 2\r\n\r\nok"], 200, b"ok", id="byte-by-byte"
        ),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"],
            200,
            b"abc",
            id="chunked-with-extension-and-trailer",
        ),
        pytest.param(
            [
                OK
                + b"Transfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % (CAP + 10)
                + b"x" * (CAP + 10)
                + b"\r\n0\r\n\r\n"
            ],
            200,
            b"x" * CAP,
            id="chunked-over-the-cap-is-cut",
        ),
        pytest.param(
            [OK + b"Content-Length: 5000\r\n\r\n" + b"y" * 5000], 200, b"y" * CAP, id="length-over-cap-cut"
        ),
        pytest.param([OK + b"\r\n" + b"z" * 3000], 200, b"z" * CAP, id="read-until-close-capped"),
        pytest.param(
            [b"HTTP/1.1 100 Continue\r\n\r\n" * 3 + OK + b"Content-Length: 0\r\n\r\n"],
            200,
            b"",
            id="three-interim",
        ),
    ],
)
async def test_well_formed_but_awkward_responses_are_read(
    segments: list[bytes], status: int, body: bytes
) -> None:
    got = await exchange(Script(segments))
    assert isinstance(got, RawResponse), got
    assert (got.status, got.body) == (status, body)


@pytest.mark.parametrize(
    ("segments", "close", "error"),
    [
        pytest.param(
            [OK + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"], True, "head too long", id="huge-header"
        ),
        pytest.param(
            [OK + b"X-A: 1\r\n Content-Length: 999\r\nContent-Length: 2\r\n\r\nok"],
            True,
            "bad header",
            id="folded",
        ),
        pytest.param([OK + b"Content-Length : 2\r\n\r\nok"], True, "bad header", id="space-before-colon"),
        pytest.param([OK + b"NoColonHere\r\n\r\n"], True, "bad header", id="no-colon"),
        pytest.param([OK + b"Content-Length: -5\r\n\r\nhello"], True, "content-length", id="negative-length"),
        pytest.param([OK + b"Content-Length: 2, 3\r\n\r\nok"], True, "content-length", id="list-length"),
        pytest.param(
            [OK + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nok!"],
            True,
            "content-length",
            id="two-lengths",
        ),
        pytest.param([OK + b"Content-Length: 1e3\r\n\r\n"], True, "content-length", id="float-length"),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n"], True, "chunk size", id="chunk-neg"
        ),
        pytest.param([OK + b"Transfer-Encoding: chunked\r\n\r\n0x10\r\n"], True, "chunk size", id="chunk-0x"),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n1_0\r\n"], True, "chunk size", id="chunk-underscore"
        ),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"], True, "chunk size", id="chunk-not-hex"
        ),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\n"],
            True,
            "chunk size",
            id="chunk-huge",
        ),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000], True, "too long", id="chunk-line-long"
        ),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n"], True, "CRLF", id="chunk-no-crlf"
        ),
        pytest.param([OK + b"Transfer-Encoding: gzip\r\n\r\nxx"], True, "transfer-encoding", id="te-gzip"),
        pytest.param([b"HTTP/1.1 100 Continue\r\n\r\n" * 20], False, "interim", id="endless-100-continue"),
        pytest.param([b"HTTP/1.1 2000 OK\r\n\r\n"], True, "status line", id="four-digit-status"),
        pytest.param([b"ICY 200 OK\r\n\r\n"], True, "status line", id="not-http"),
        pytest.param([b"HTTP/1.1 20"], True, "closed mid-response", id="close-mid-status"),
        pytest.param([OK + b"Content-Length: 10\r\n\r\nabc"], True, "closed mid-body", id="close-mid-body"),
        pytest.param(
            [OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab"], True, "closed mid-body", id="close-mid-chunk"
        ),
        pytest.param([], True, "without a response", id="close-at-once"),
        pytest.param([], False, "timed out", id="silence"),
        pytest.param([OK + b"Content-Length: 10\r\n\r\nabc"], False, "timed out", id="silence-mid-body"),
    ],
)
async def test_hostile_responses_raise_httpx_errors(segments: list[bytes], close: bool, error: str) -> None:
    began = time.monotonic()
    got = await exchange(Script(segments, close=close))
    assert isinstance(got, httpx.HTTPError), f"accepted: {got}"
    assert error in str(got)
    assert time.monotonic() - began < 3, "bounded by the read timeout"


async def test_slow_drip_is_cut_by_the_senders_deadline() -> None:
    """One byte every 50 ms never trips the read timeout; the sender's deadline for the attempt ends it."""
    drip = [bytes([b]) for b in OK + b"Content-Length: 500\r\n\r\n" + b"d" * 500]
    async with HostileServer(Script(drip, pause=0.05)) as server:
        transport = PinnedHTTPTransport(max_body_bytes=CAP)
        guard = SsrfGuard(resolver=StaticResolver({}), allowed_networks=["127.0.0.0/8"])
        async with httpx.AsyncClient() as http:
            sender = WebhookSender(
                http=http, guard=guard, transport=transport, timeout_seconds=0.25, max_response_bytes=CAP
            )
            began = time.monotonic()
            result = await sender.send(
                url=f"http://127.0.0.1:{server.port}/hook",
                msg_id="msg_drip",
                body=b"{}",
                content_type="application/json",
                secrets=[new_secret()],
            )
        await transport.aclose()
    assert not result.ok and result.error is not None and result.error.startswith("timeout")
    assert time.monotonic() - began < 2


# --- generated hostile responses --------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.0 204 No Content\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 301 Moved\r\nLocation: http://169.254.169.254/\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close\r\n",
        b" folded: yes\r\n",
        b"\tfolded\r\n",
        b"X-Long: " + b"q" * 20_000 + b"\r\n",
        b"\r\n",
        b"\r\n\r\n",
        b"abc",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"ffffffff\r\n",
        b"-3\r\n",
        b"\x00\xff\r\n",
        b"\n",
        b"\r",
    ]
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    parts=st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=40)), min_size=0, max_size=12),
    split=st.integers(min_value=1, max_value=64),
    close=st.booleans(),
)
def test_any_response_is_read_within_the_cap_or_refused(parts: list[bytes], split: int, close: bool) -> None:
    raw = b"".join(parts)
    segments = [raw[i : i + split] for i in range(0, len(raw), split)][:400]
    began = time.monotonic()
    got = asyncio.run(exchange(Script(segments, close=close), read_timeout=0.2))
    if isinstance(got, RawResponse):
        assert 100 <= got.status <= 999 and len(got.body) <= CAP
        assert all(b"\r" not in k and b"\n" not in k and b":" not in k for k, _ in got.headers)
    else:
        assert isinstance(got, httpx.HTTPError)
    assert time.monotonic() - began < 5
