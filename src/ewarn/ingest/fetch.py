"""Reading a feed location: local files, or HTTP(S) with conditional requests, retries and a size cap.

Transport failures, 5xx and 429 are retried with exponential backoff (``Retry-After`` honoured); whatever
still fails becomes a ``FetchError`` that the service records as the feed's error and a rejection.

Every URL and every redirect target goes through the SSRF guard of ``ewarn.netguard`` (the one webhooks use):
its addresses must be public or in the operator's allow-list, and the request goes to the checked address
(no second lookup). Redirects are followed here, one checked hop at a time; credential headers are dropped
once a redirect leaves the feed's origin. Local files are read only under the configured roots
(``ewarn.ingest.local_files``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from ewarn.errors import TransientError
from ewarn.ingest.local_files import LocalFileError, read_under
from ewarn.netguard import PinnedTarget, ResolutionFailed, SsrfGuard, SsrfRefused, SystemResolver

MAX_RETRY_AFTER_SECONDS = 120.0
USER_AGENT = "ewarn-ingest"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(TransientError):
    """A location could not be read; the feed keeps its cursor and is polled again next interval."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(f"{location}: {reason}")


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


@dataclass(frozen=True)
class Fetched:
    """A document as read; ``not_modified`` when the server answered 304 to our conditional request."""

    location: str
    content: bytes
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    not_modified: bool = False


class _WaitRetryAfter(wait_base):
    """Wait what the server asked for (429/503 ``Retry-After``), else exponential backoff with jitter."""

    def __init__(self, fallback: wait_base) -> None:
        self._fallback = fallback

    def __call__(self, retry_state: Any) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
        return float(self._fallback(retry_state))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def origin_of(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    return url.scheme, url.host.lower(), url.port or (443 if url.scheme == "https" else 80)


def auth_headers(credentials: dict[str, Any]) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """Headers and auth from a feed's credentials: ``token`` (bearer), ``username``/``password`` (basic),
    ``authorization`` (a raw header value, e.g. a MISP key) or ``headers`` (any further headers)."""
    headers: dict[str, str] = {}
    auth: httpx.BasicAuth | None = None
    if credentials.get("token"):
        headers["Authorization"] = f"Bearer {credentials['token']}"
    elif credentials.get("authorization"):
        headers["Authorization"] = str(credentials["authorization"])
    if credentials.get("username") is not None and credentials.get("password") is not None:
        auth = httpx.BasicAuth(str(credentials["username"]), str(credentials["password"]))
    extra = credentials.get("headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers, auth


def is_http(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


@dataclass(frozen=True)
class _Request:
    """One GET as the fetcher sends it; credentials travel apart so a redirect can drop them."""

    protocol_headers: dict[str, str]
    credential_headers: dict[str, str]
    auth: httpx.BasicAuth | None
    allow_html: bool

    def without_credentials(self) -> _Request:
        return replace(self, credential_headers={}, auth=None)


class Fetcher:
    """Reads files and URLs for the sources, with one policy for timeouts, retries, size and reach."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        guard: SsrfGuard | None = None,
        file_roots: Sequence[str | Path] = (),
        max_redirects: int = 5,
        timeout: float = 30.0,
        max_bytes: int = 200 * 1024 * 1024,
        attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        owns_client: bool = False,
        ca_bundle: str | None = None,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self.guard = guard or SsrfGuard(resolver=SystemResolver())
        self.ca_bundle = ca_bundle  # for clients other than ours (TAXII uses requests)
        self._roots = tuple(Path(root) for root in file_roots)
        self.max_redirects = max_redirects
        # Where a feed's credentials may go: its own origin and those the operator adds (None: unbound,
        # the origin of the URL asked for).
        self.credential_origins: frozenset[tuple[str, str, int]] | None = None
        self._timeout = timeout
        self.max_bytes = max_bytes
        self._attempts = attempts
        self._wait = _WaitRetryAfter(wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max))

    async def aclose(self) -> None:
        """Close the HTTP client when this fetcher made it (a CA bundle gives feeds their own client)."""
        if self._owns_client:
            await self._client.aclose()

    @property
    def file_roots(self) -> tuple[Path, ...]:
        return self._roots

    def _with_roots(self, roots: Sequence[Path]) -> Fetcher:
        clone = object.__new__(Fetcher)
        clone.__dict__.update(self.__dict__)
        clone._roots = tuple(roots)
        return clone

    def for_location(self, location: str, *, credential_origins: Sequence[str] = ()) -> Fetcher:
        """The fetcher a feed at ``location`` polls with: a remote feed never reads local files, whatever
        its documents point to, and its credentials go only to its own origin (plus ``credential_origins``,
        e.g. a CSAF provider's document host) — never to a host a listing or a redirect names."""
        bound = self._with_roots(()) if is_http(location) else self._with_roots(self._roots)
        origins = set()
        for url in [location, *credential_origins] if is_http(location) else list(credential_origins):
            try:
                origins.add(origin_of(httpx.URL(url)))
            except httpx.InvalidURL as exc:
                raise FetchError(url, f"invalid credential origin: {exc}") from exc
        bound.credential_origins = frozenset(origins)
        return bound

    def may_send_credentials(self, url: httpx.URL, first: httpx.URL) -> bool:
        """Whether a request to ``url`` (in a chain that began at ``first``) may carry the feed's credentials."""
        if self.credential_origins is None:
            return origin_of(url) == origin_of(first)
        return origin_of(url) in self.credential_origins

    def also_reading(self, path: str | Path) -> Fetcher:
        """This fetcher, also allowed to read ``path`` (a file: its folder) — for the operator's one-shot
        ``ewarn ingest PATH``, where the operator names the file themselves."""
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            folder = folder.parent
        return self._with_roots((*self._roots, folder))

    async def get(
        self,
        location: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        credentials: dict[str, Any] | None = None,
        accept: str | None = None,
        allow_html: bool = False,
    ) -> Fetched:
        """Read a path, ``file://`` URL or HTTP(S) URL; ``FetchError`` when it cannot or may not be read."""
        if not is_http(location):
            return await asyncio.to_thread(self._read_file, location)
        credential_headers, auth = auth_headers(credentials or {})
        protocol_headers: dict[str, str] = {}
        if etag:
            protocol_headers["If-None-Match"] = etag
        if last_modified:
            protocol_headers["If-Modified-Since"] = last_modified
        if accept:
            protocol_headers["Accept"] = accept
        request = _Request(protocol_headers, credential_headers, auth, allow_html)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=self._wait,
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
            ):
                with attempt:
                    return await self._follow(location, request)
        except _Retryable as exc:
            raise FetchError(location, f"{exc.reason} (after {self._attempts} attempts)") from exc
        raise FetchError(location, "no attempt made")  # pragma: no cover - tenacity always attempts once

    async def _check(self, location: str, url: httpx.URL) -> PinnedTarget:
        try:
            return await self.guard.check(url)
        except SsrfRefused as exc:
            raise FetchError(location, f"refused {_redacted(url)}: {exc}") from exc
        except ResolutionFailed as exc:
            raise _Retryable(str(exc)) from exc

    async def _follow(self, location: str, request: _Request) -> Fetched:
        """GET ``location`` hop by hop: each hop checked and pinned, credentials only within the origin."""
        try:
            url = httpx.URL(location)
        except httpx.InvalidURL as exc:
            raise FetchError(location, f"invalid URL: {exc}") from exc
        first = url
        for _hop in range(self.max_redirects + 1):
            if not self.may_send_credentials(url, first):
                request = request.without_credentials()  # and not back: the chain has left once
            target = await self._check(location, url)
            next_url = await self._get_once(location, target, request)
            if isinstance(next_url, Fetched):
                return next_url
            url = next_url
        raise FetchError(location, f"more than {self.max_redirects} redirects")

    async def _get_once(self, location: str, target: PinnedTarget, request: _Request) -> Fetched | httpx.URL:
        """One pinned GET: the document, or the URL a redirect points to."""
        headers = {
            "User-Agent": USER_AGENT,
            **request.protocol_headers,
            **request.credential_headers,
            "Host": target.host_header,
        }
        extensions: dict[str, Any] = {"timeout": httpx.Timeout(self._timeout).as_dict()}
        if target.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        # A request built here, not by the client: the client's cookie jar (keyed by the pinned address,
        # shared with other components) is never sent to a feed.
        outgoing = httpx.Request("GET", target.request_url, headers=headers, extensions=extensions)
        try:
            async with _streamed(self._client, outgoing, request.auth) as response:
                if response.status_code in _REDIRECTS and response.headers.get("Location"):
                    try:
                        return target.url.join(response.headers["Location"])
                    except httpx.InvalidURL as exc:
                        raise FetchError(location, f"redirect to an invalid URL: {exc}") from exc
                if response.status_code == 304:
                    etag = request.protocol_headers.get("If-None-Match")
                    return Fetched(location, b"", etag, None, None, not_modified=True)
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(
                        f"HTTP {response.status_code}",
                        retry_after_seconds(response.headers.get("Retry-After")),
                    )
                if response.status_code >= 400:
                    raise FetchError(location, f"HTTP {response.status_code}")
                content = await self._read_capped(location, response)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self._timeout} s") from exc
        except httpx.TransportError as exc:
            if _tls_failure(exc):  # a certificate that does not verify will not verify on the next try
                raise FetchError(location, f"TLS verification failed: {exc}") from exc
            raise _Retryable(f"transport error: {type(exc).__name__}: {exc}") from exc
        content_type = response.headers.get("Content-Type")
        if not request.allow_html and _looks_like_html(content_type, content):
            raise FetchError(location, f"server returned HTML (Content-Type {content_type or 'none'})")
        return Fetched(
            location,
            content,
            response.headers.get("ETag"),
            response.headers.get("Last-Modified"),
            content_type,
        )

    async def _read_capped(self, location: str, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(location, f"payload of {declared} bytes exceeds the cap of {self.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(location, f"payload exceeds the cap of {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _read_file(self, location: str) -> Fetched:
        try:
            return Fetched(location, read_under(location, self._roots, max_bytes=self.max_bytes))
        except LocalFileError as exc:
            raise FetchError(location, str(exc)) from exc


@contextlib.asynccontextmanager
async def _streamed(
    client: httpx.AsyncClient, request: httpx.Request, auth: httpx.BasicAuth | None
) -> AsyncIterator[httpx.Response]:
    response = await client.send(request, auth=auth, stream=True, follow_redirects=False)
    try:
        yield response
    finally:
        await response.aclose()


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _redacted(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)


def feed_ssl_context(ca_bundle: str | None) -> ssl.SSLContext | None:
    """The TLS context for feeds: the system's trust store plus ``ca_bundle`` (PEM) when given. There is
    deliberately no way to switch verification off."""
    if not ca_bundle:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_bundle)
    return context


def _looks_like_html(content_type: str | None, content: bytes) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    head = content[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def join_url(base: str, relative: str) -> str:
    """Resolve a document path against its index location (URL or directory)."""
    if is_http(relative) or relative.startswith("file://"):
        return relative
    if is_http(base):
        return str(httpx.URL(base).join(relative))
    base_path = Path(base[len("file://") :] if base.startswith("file://") else base)
    folder = base_path if base_path.is_dir() else base_path.parent
    return str(folder / relative)
