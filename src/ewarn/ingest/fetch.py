"""Reading a feed location: local files, or HTTP(S) with conditional requests, retries and a size cap.

Transport failures, 5xx and 429 are retried with exponential backoff (``Retry-After`` honoured); whatever
still fails becomes a ``FetchError`` that the service records as the feed's error and a rejection.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from ewarn.errors import TransientError

MAX_RETRY_AFTER_SECONDS = 120.0


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


class Fetcher:
    """Reads files and URLs for the sources, with one policy for timeouts, retries and size."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        timeout: float = 30.0,
        max_bytes: int = 200 * 1024 * 1024,
        attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self.max_bytes = max_bytes
        self._attempts = attempts
        self._wait = _WaitRetryAfter(wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max))

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
        """Read a path, ``file://`` URL or HTTP(S) URL; ``FetchError`` when it cannot be read."""
        if not is_http(location):
            return await asyncio.to_thread(self._read_file, location)
        headers, auth = auth_headers(credentials or {})
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=self._wait,
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
            ):
                with attempt:
                    return await self._get_once(location, headers, auth, allow_html)
        except _Retryable as exc:
            raise FetchError(location, f"{exc.reason} (after {self._attempts} attempts)") from exc
        raise FetchError(location, "no attempt made")  # pragma: no cover - tenacity always attempts once

    async def _get_once(
        self, location: str, headers: dict[str, str], auth: httpx.BasicAuth | None, allow_html: bool
    ) -> Fetched:
        try:
            async with self._client.stream(
                "GET", location, headers=headers, auth=auth, timeout=self._timeout, follow_redirects=True
            ) as response:
                if response.status_code == 304:
                    return Fetched(location, b"", headers.get("If-None-Match"), None, None, not_modified=True)
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
            raise _Retryable(f"transport error: {type(exc).__name__}: {exc}") from exc
        content_type = response.headers.get("Content-Type")
        if not allow_html and _looks_like_html(content_type, content):
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
        path = Path(location[len("file://") :] if location.startswith("file://") else location)
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise FetchError(location, f"file of {size} bytes exceeds the cap of {self.max_bytes}")
            return Fetched(location, path.read_bytes())
        except OSError as exc:
            raise FetchError(location, f"cannot read file: {exc.strerror or exc}") from exc


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
