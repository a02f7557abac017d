"""Webhook channel: signatures; SSRF-checked, pinned POSTs; manual redirects; capped reads."""

from __future__ import annotations

import asyncio
import hmac
import time
from base64 import b64encode
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from ewarn import __version__
from ewarn.crypto.secretbox import new_webhook_secret as new_secret  # noqa: F401 (dispatch's name for it)
from ewarn.dispatch.result import SendResult
from ewarn.dispatch.ssrf import PinnedTarget, ResolutionFailed, SsrfGuard, SsrfRefused
from ewarn.dispatch.transport import PinnedHTTPTransport

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERROR_EXCERPT = 300


class Signer:
    """Standard Webhooks signatures, computed here with one ``hmac.digest`` call per secret.

    Byte for byte what ``standardwebhooks.Webhook.sign`` writes (a test holds it to that): HMAC-SHA256 over
    ``{msg_id}.{timestamp}.{body}``, base64. The library decodes the body to text and encodes it back and builds
    an ``hmac.HMAC`` object per signature; the one-shot digest on the bytes cost a third of its CPU when
    measured on the dispatch bench. Decoded keys are kept so the hot path does not decode them again.
    """

    def __init__(self, max_cached: int = 4096) -> None:
        self._keys: dict[str, bytes] = {}
        self._max = max_cached

    def _key(self, secret: str) -> bytes:
        key = self._keys.get(secret)
        if key is None:
            if len(self._keys) >= self._max:
                self._keys.clear()
            # the library's own decoding: its prefix, padding and refusals of an empty or malformed key
            key = self._keys[secret] = Webhook(secret)._whsecret
        return key

    def signature(self, *, msg_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]) -> str:
        """``v1,<sig>`` per secret, space-separated: during a rotation either secret verifies."""
        return self._signature(msg_id, int(timestamp.timestamp()), body, secrets)

    def _signature(self, msg_id: str, seconds: int, body: bytes, secrets: Sequence[str]) -> str:
        signed = b"%s.%d.%s" % (msg_id.encode(), seconds, body)
        return " ".join(
            "v1," + b64encode(hmac.digest(self._key(s), signed, "sha256")).decode("ascii") for s in secrets
        )

    def headers(
        self, *, msg_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]
    ) -> dict[str, str]:
        seconds = int(timestamp.timestamp())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": self._signature(msg_id, seconds, body, secrets),
        }


class RedirectLoop(Exception):
    """The receiver kept redirecting."""


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class WebhookSender:
    """POSTs signed bodies. Every hop is resolved and checked, then sent to the checked address.

    With ``transport`` the request goes straight to it: no cookie jar, no proxies from the environment (which
    would resolve the name again) and none of the client's per-request work. Without it, ``http.send``.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        guard: SsrfGuard,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float,
        max_response_bytes: int,
        signer: Signer | None = None,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._http = http
        self._transport = transport
        self._guard = guard
        self._timeout = httpx.Timeout(timeout_seconds)
        self._timeout_extension = self._timeout.as_dict()
        # Connect, write and read each have their own timeout; this bounds the whole attempt, redirects too.
        self._deadline = timeout_seconds * 2
        self._cap = max_response_bytes
        self._signer = signer or Signer()
        self._max_redirects = max_redirects
        # id(target) → (target, request line and host header, address, scheme): kept with the target itself, so an id
        # is never reused while its entry lives.
        self._pinned: dict[int, tuple[PinnedTarget, bytes, str, str]] = {}

    async def send(
        self,
        *,
        url: str,
        msg_id: str,
        body: bytes,
        content_type: str,
        secrets: Sequence[str],
        timestamp: datetime | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """POST ``body`` signed with ``secrets`` (none: unsigned, e.g. TheHive, authenticated by a header in
        ``extra_headers`` instead; the webhook-id still goes along for deduplication)."""
        started = time.perf_counter()
        if secrets:
            headers = self._signer.headers(
                msg_id=msg_id, timestamp=timestamp or datetime.now(UTC), body=body, secrets=secrets
            )
        else:
            headers = {"webhook-id": msg_id}
        headers.update(extra_headers or {})
        headers["content-type"] = content_type
        headers["user-agent"] = f"ewarn/{__version__} (+webhook)"
        headers["accept-encoding"] = "identity"  # raw bytes only: the size cap must not meet a zip bomb
        status: int | None = None
        retry_after: str | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._deadline):
                status, retry_after, excerpt = await self._post_following(url, headers, body)
            if not 200 <= status < 300:
                error = f"HTTP {status}: {excerpt}"
        except SsrfRefused as exc:
            return SendResult(None, _ms_since(started), f"refused: {exc}", refused=True)
        except ResolutionFailed as exc:
            error = f"dns: {exc}"
        except TimeoutError:
            error = f"timeout: no answer within {self._deadline:g}s"
        except httpx.TimeoutException as exc:
            error = f"timeout: {type(exc).__name__}"
        except (httpx.HTTPError, RedirectLoop) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return SendResult(
            status,
            _ms_since(started),
            error[:_ERROR_EXCERPT] if error else None,
            retry_after=retry_after,
            ok=error is None,
        )

    async def _post_following(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None, str]:
        current: str | httpx.URL = url
        for _hop in range(self._max_redirects + 1):
            target = await self._guard.check(current)
            status, location, retry_after, excerpt = await self._post(target, headers, body)
            if status not in _REDIRECTS or location is None:
                return status, retry_after, excerpt
            # Redirects are followed by hand so each hop passes the SSRF guard; the signed POST is re-sent
            # unchanged (same webhook-id), as receivers behind a moved URL expect.
            current = target.url.join(location)
        raise RedirectLoop(f"more than {self._max_redirects} redirects")

    async def _post(
        self, target: PinnedTarget, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None, str | None, str]:
        extensions: dict[str, object] = {"timeout": self._timeout_extension}
        if target.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        if isinstance(self._transport, PinnedHTTPTransport):
            return await self._post_raw(self._transport, target, headers, body)
        headers = {**headers, "host": target.host_header}
        response: httpx.Response
        if self._transport is not None:
            request = httpx.Request(
                "POST", target.request_url, headers=headers, content=body, extensions=extensions
            )
            response = await self._transport.handle_async_request(request)
        else:
            request = self._http.build_request(
                "POST", target.request_url, content=body, headers=headers, extensions=extensions
            )
            response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            read = bytearray()
            if response.is_stream_consumed:  # a transport that hands back a fully read response
                read += response.content[: self._cap]
            else:
                async for chunk in response.aiter_raw():
                    read += chunk
                    if len(read) >= self._cap:
                        break  # the rest is never read: a receiver cannot make us buffer without bound
        finally:
            await response.aclose()
        excerpt = bytes(read[:200]).decode("utf-8", "replace")
        return (
            response.status_code,
            response.headers.get("location"),
            response.headers.get("retry-after"),
            excerpt,
        )

    async def _post_raw(
        self, transport: PinnedHTTPTransport, target: PinnedTarget, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None, str | None, str]:
        # The request head is written here, not built as httpx objects: this is the hot path. Every value is
        # ours (signature, ids, content type) or came out of httpx.URL (path), so none can carry a line break.
        known = self._pinned.get(id(target))
        if known is None or known[0] is not target:  # the guard keeps its targets: this is once per target
            if len(self._pinned) > 4096:
                self._pinned.clear()
            line = f"POST {target.request_target} HTTP/1.1\r\nhost: {target.host_header}\r\n"
            known = self._pinned[id(target)] = (
                target,
                line.encode("latin-1"),
                str(target.address),
                target.url.scheme,
            )
        _, request_line, address, scheme = known
        lines = [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"content-length: {len(body)}\r\n\r\n")
        head = request_line + "\r\n".join(lines).encode("latin-1")
        raw = await transport.exchange(
            scheme=scheme,
            host=address,
            port=target.port,
            sni=target.host,
            method="POST",
            head=head,
            body=body,
            timeouts=self._timeout_extension,
        )
        excerpt = raw.body[: min(200, self._cap)].decode("utf-8", "replace")
        return raw.status, raw.header(b"location"), raw.header(b"retry-after"), excerpt
