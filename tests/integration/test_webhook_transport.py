"""The lean HTTP/1.1 transport and the sender's limits, against real servers on loopback (plain and TLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.tls import self_signed_certificate

from ewarn.dispatch.result import SendResult
from ewarn.dispatch.ssrf import SsrfGuard, StaticResolver
from ewarn.dispatch.transport import PinnedHTTPTransport
from ewarn.dispatch.webhook import WebhookSender, new_secret

Responder = Callable[[bytes], bytes]


class RawServer:
    """Answers each request with the bytes ``respond(request_head)`` returns; counts connections."""

    def __init__(self, respond: Responder, *, tls: ssl.SSLContext | None = None, close_after: bool = False):
        self.respond = respond
        self.tls = tls
        self.close_after = close_after
        self.connections = 0
        self.heads: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                self.heads.append(head)
                writer.write(self.respond(head))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):  # let handlers see EOF and end, rather than be cancelled later
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=PinnedHTTPTransport(max_body_bytes=1024)) as c:
        yield c


CASES = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", 200, b"hello", True, id="content-length"
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nx-trailer: 1\r\n\r\n",
        200,
        b"hello",
        True,
        id="chunked-with-extension-and-trailer",
    ),
    pytest.param(b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True, id="no-content"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", 200, b"ok", False, id="close"
    ),
    pytest.param(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
        201,
        b"",
        True,
        id="interim-100",
    ),
]


@pytest.mark.parametrize(("raw", "status", "body", "reused"), CASES)
async def test_response_framing(
    client: httpx.AsyncClient, raw: bytes, status: int, body: bytes, reused: bool
) -> None:
    async with RawServer(lambda _h: raw) as server:
        for _ in range(2):
            resp = await client.post(f"http://127.0.0.1:{server.port}/h", content=b"{}")
            assert resp.status_code == status and resp.content == body
    assert server.connections == (1 if reused else 2)


async def test_body_read_until_close_is_capped(client: httpx.AsyncClient) -> None:
    async with RawServer(lambda _h: b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 100_000, close_after=True) as server:
        resp = await client.post(f"http://127.0.0.1:{server.port}/h", content=b"{}")
    assert resp.status_code == 200 and len(resp.content) == 1024


async def test_oversized_content_length_is_capped_and_connection_dropped(client: httpx.AsyncClient) -> None:
    big = b"HTTP/1.1 500 Oops\r\ncontent-length: 50000\r\n\r\n" + b"e" * 50_000
    async with RawServer(lambda _h: big) as server:
        for _ in range(2):
            resp = await client.post(f"http://127.0.0.1:{server.port}/h", content=b"{}")
            assert resp.status_code == 500 and len(resp.content) == 1024
    assert server.connections == 2, "a connection with unread body bytes is never reused"


async def test_stale_keep_alive_connection_is_retried_on_a_fresh_one(client: httpx.AsyncClient) -> None:
    # The server closes after each answer while claiming keep-alive: the pooled connection is dead.
    async with RawServer(lambda _h: b"HTTP/1.1 204 No Content\r\n\r\n", close_after=True) as server:
        for _ in range(3):
            resp = await client.post(f"http://127.0.0.1:{server.port}/h", content=b"{}")
            assert resp.status_code == 204
    assert server.connections == 3 and len(server.heads) == 3


async def test_request_carries_headers_and_body_unchanged(client: httpx.AsyncClient) -> None:
    async with RawServer(lambda _h: b"HTTP/1.1 204 No Content\r\n\r\n") as server:
        await client.post(
            f"http://127.0.0.1:{server.port}/h?a=1",
            content=b'{"x":1}',
            headers={"Host": "hooks.test", "X-A": "b"},
        )
    head = server.heads[0].decode()
    assert head.startswith("POST /h?a=1 HTTP/1.1\r\n")
    assert (
        "\r\nHost: hooks.test\r\n" in head
        and "\r\nX-A: b\r\n" in head
        and "\r\nContent-Length: 7\r\n" in head
    )


async def test_connect_refused_and_read_timeout_map_to_httpx_errors() -> None:
    async with httpx.AsyncClient(transport=PinnedHTTPTransport()) as c:
        async with RawServer(lambda _h: b"") as server:
            port = server.port
        with pytest.raises(httpx.ConnectError):
            await c.post(f"http://127.0.0.1:{port}/h", content=b"{}")
        async with RawServer(lambda _h: b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart") as server:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(f"http://127.0.0.1:{server.port}/h", content=b"{}", timeout=0.3)


# --- the sender's limits ------------------------------------------------------------------------------------


KINDS = ["direct", "pinned-client", "httpx-default"]


@dataclass
class Sending:
    """How the sender is wired: straight to the pinned transport (production), or through a client."""

    http: httpx.AsyncClient
    transport: PinnedHTTPTransport | None

    @classmethod
    def of(cls, kind: str, ssl_context: ssl.SSLContext | None = None) -> Sending:
        if kind == "direct":
            return cls(httpx.AsyncClient(), PinnedHTTPTransport(ssl_context=ssl_context))
        if kind == "pinned-client":
            return cls(httpx.AsyncClient(transport=PinnedHTTPTransport(ssl_context=ssl_context)), None)
        return cls(httpx.AsyncClient(verify=ssl_context or True), None)

    def sender(self, **kw: object) -> WebhookSender:
        guard = SsrfGuard(
            resolver=StaticResolver({"hooks.test": ["127.0.0.1"]}), allowed_networks=["127.0.0.0/8"]
        )
        defaults: dict[str, object] = {"timeout_seconds": 2.0, "max_response_bytes": 64}
        defaults.update(kw)
        return WebhookSender(http=self.http, transport=self.transport, guard=guard, **defaults)  # type: ignore[arg-type]

    async def send(self, url: str, **kw: object) -> SendResult:
        return await self.sender(**kw).send(
            url=url, msg_id="m", body=b"{}", content_type="application/json", secrets=[new_secret()]
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.transport is not None:
            await self.transport.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_sender_reads_a_huge_body_only_up_to_the_cap(kind: str) -> None:
    chunk = b"1000\r\n" + b"y" * 4096 + b"\r\n"
    raw = b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n" + chunk * 200 + b"0\r\n\r\n"
    sending = Sending.of(kind)
    async with RawServer(lambda _h: raw) as server:
        result = await sending.send(f"http://hooks.test:{server.port}/h")
        await sending.aclose()
    assert result.status_code == 500 and not result.ok
    assert result.error is not None and result.error.startswith("HTTP 500: yyyy") and len(result.error) < 300


@pytest.mark.parametrize("kind", KINDS)
async def test_sender_gives_up_on_a_server_that_never_answers(kind: str) -> None:
    sending = Sending.of(kind)
    async with RawServer(lambda _h: b"") as server:
        result = await sending.send(f"http://hooks.test:{server.port}/h", timeout_seconds=0.3)
        await sending.aclose()
    assert not result.ok and result.status_code is None and (result.error or "").startswith("timeout")
    assert result.latency_ms < 1500


@pytest.mark.parametrize("kind", KINDS)
async def test_sender_request_on_the_wire(kind: str) -> None:
    sending = Sending.of(kind)
    answer = b"HTTP/1.1 429 Slow Down\r\nretry-after: 7\r\ncontent-length: 0\r\n\r\n"
    async with RawServer(lambda _h: answer) as server:
        result = await sending.send(f"http://hooks.test:{server.port}/in/hook?tenant=a%20b")
        await sending.aclose()
    head = server.heads[0].decode().lower()
    assert head.startswith("post /in/hook?tenant=a%20b http/1.1\r\n")
    assert f"\r\nhost: hooks.test:{server.port}\r\n" in head
    for name in ("webhook-id: m", "webhook-timestamp: ", "webhook-signature: v1,", "content-length: 2"):
        assert f"\r\n{name}" in head, name
    assert result.status_code == 429 and result.retry_after == "7"


# --- TLS: connect to the pinned address, verify the certificate for the name --------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(
        tmp_path_factory.mktemp("tls"), common_name="hooks.test", alt_name="DNS:hooks.test"
    )


def _tls_contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str | None]]:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)  # type: ignore[assignment,func-returns-value]
    return server_ctx, ssl.create_default_context(cafile=str(cert)), seen_sni


@pytest.mark.parametrize("kind", KINDS)
async def test_tls_to_pinned_address_keeps_sni_and_host(certificate: tuple[Path, Path], kind: str) -> None:
    server_ctx, client_ctx, seen_sni = _tls_contexts(certificate)
    async with RawServer(lambda _h: b"HTTP/1.1 204 No Content\r\n\r\n", tls=server_ctx) as server:
        sending = Sending.of(kind, client_ctx)
        ok = await sending.send(f"https://hooks.test:{server.port}/h")
        await sending.aclose()
    assert ok.ok, ok.error
    assert seen_sni == ["hooks.test"]
    assert f"host: hooks.test:{server.port}" in server.heads[0].decode().lower()


@pytest.mark.parametrize("kind", ["direct", "pinned-client"])
async def test_tls_certificate_is_checked_per_name_even_on_the_same_address(
    certificate: tuple[Path, Path], kind: str
) -> None:
    # Connections are pooled per (address, TLS name): a connection verified for one name is never reused
    # for another name that happens to resolve to the same address. (httpx's own pool is keyed by address
    # only once the URL carries the address, which is one more reason to send through the pinned transport.)
    server_ctx, client_ctx, _ = _tls_contexts(certificate)
    async with RawServer(lambda _h: b"HTTP/1.1 204 No Content\r\n\r\n", tls=server_ctx) as server:
        sending = Sending.of(kind, client_ctx)
        ok = await sending.send(f"https://hooks.test:{server.port}/h")
        wrong_name = await sending.send(f"https://127.0.0.1:{server.port}/h")
        await sending.aclose()
    assert ok.ok, ok.error
    assert not wrong_name.ok and "certificate" in (wrong_name.error or "").lower(), wrong_name.error
