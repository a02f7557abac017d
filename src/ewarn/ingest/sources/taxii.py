"""TAXII 2.1 and 2.0 collections over ``requests`` (synchronous: each request runs in a worker thread).

Feed config: ``version`` ("2.1" default, or "2.0"), ``api_root`` (URL; default: every API root the discovery
lists), ``collections`` (ids or titles; default: every readable collection), ``page_size`` (default 100).
Location: the discovery URL. Credentials: ``username``/``password`` (basic) or ``token`` (bearer).
Every request and redirect goes through the feed fetcher's SSRF guard, pinned to the checked address.

Cursor, per collection: ``added_after`` is the ``X-TAXII-Date-Added-Last`` of the last stored page, and
``boundary`` the objects (id and version) already stored that were added at exactly that time. A resume asks
for objects added at or after that time and skips the boundary ones, so a restart between pages neither loses
objects that share a timestamp across a page break nor repeats the ones already stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ewarn.ingest.fetch import USER_AGENT, Fetcher, FetchError, feed_ssl_context
from ewarn.ingest.records import parse_timestamp
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec, Page, SourceContext
from ewarn.ingest.sources.taxii_protocol import TAXII_MEDIA, TaxiiClient, TaxiiCollection, TaxiiProtocolError
from ewarn.ingest.stix import parse_bundle
from ewarn.netguard import PinnedTarget, ResolutionFailed, SsrfRefused

MAX_BOUNDARY_IDS = 10_000


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class _Refused(requests.exceptions.ConnectionError):
    """The SSRF guard refused a TAXII URL (or a redirect's); the reason is the message."""


class _GuardedAdapter(HTTPAdapter):
    """Every request (each redirect hop too) is checked by the feed fetcher's SSRF guard and sent to the
    checked address with the original Host header and TLS name; TLS is always verified. Every request gets
    our timeout; 429/5xx are retried, Retry-After honoured."""

    def __init__(
        self, timeout: float, fetcher: Fetcher, loop: asyncio.AbstractEventLoop, location: str
    ) -> None:
        retry = Retry(
            total=3,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        super().__init__(max_retries=retry)
        self._timeout = timeout
        self._fetcher = fetcher
        self._loop = loop
        self._first = httpx.URL(location)
        self._tls = feed_ssl_context(fetcher.ca_bundle)  # the system's CAs plus the operator's bundle

    def _check(self, url: str) -> PinnedTarget:
        # The guard is async and its resolver may be the loop's; this runs in a worker thread of that loop.
        future = asyncio.run_coroutine_threadsafe(self._fetcher.guard.check(url), self._loop)
        try:
            return future.result(timeout=self._timeout)
        except SsrfRefused as exc:
            raise _Refused(f"refused {url}: {exc}") from exc
        except (ResolutionFailed, TimeoutError) as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from exc

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self._timeout
        kwargs["verify"] = True  # never off, whatever the caller asked
        target = self._check(str(request.url))
        pinned = request.copy()
        pinned.url = str(target.request_url)
        pinned.headers["Host"] = target.host_header
        if not self._fetcher.may_send_credentials(target.url, self._first):
            # An API root or collection on another host than the discovery URL: session auth stays home.
            pinned.headers.pop("Authorization", None)
        pinned.ewarn_tls_name = target.host  # type: ignore[attr-defined]
        response = super().send(pinned, **kwargs)
        response.url, response.request = str(request.url), request  # redirects resolve against the name
        return response

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        name = getattr(request, "ewarn_tls_name", None)
        if host_params.get("scheme") == "https" and self._tls is not None:
            pool_kwargs["ssl_context"] = self._tls
        if name and host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = name  # SNI, and the name the certificate must carry
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def _session(
    feed: FeedSpec, timeout: float, fetcher: Fetcher, loop: asyncio.AbstractEventLoop
) -> requests.Session:
    """One feed's ``requests`` session: its credentials, and every request through the guarded adapter."""
    session = requests.Session()
    creds = feed.credentials
    if creds.get("username") and creds.get("password"):
        session.auth = requests.auth.HTTPBasicAuth(str(creds["username"]), str(creds["password"]))
    elif creds.get("token"):
        session.auth = _Bearer(str(creds["token"]))
    session.headers["User-Agent"] = USER_AGENT
    # No proxies or .netrc from the environment: a proxy would bypass the pinned address, and netrc
    # would hand credentials to a redirect's host (requests already drops ours across hosts).
    session.trust_env = False
    session.max_redirects = fetcher.max_redirects
    adapter = _GuardedAdapter(timeout, fetcher, loop, feed.location)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _readable_collections(client: TaxiiClient, feed: FeedSpec) -> list[TaxiiCollection]:
    """The readable collections this feed is configured for (every API root unless ``api_root`` is set)."""
    config = feed.config
    roots = [str(config["api_root"])] if config.get("api_root") else client.api_roots(feed.location)
    wanted = {str(c) for c in config.get("collections") or []}
    return [
        collection
        for root in roots
        for collection in client.collections(root)
        if collection.can_read and (not wanted or wanted & collection.names())
    ]


def _resume_after(timestamp: str | None) -> str | None:
    """``added_after`` is exclusive: ask from just before the boundary time, the boundary ids are skipped."""
    when = parse_timestamp(timestamp) if timestamp else None
    if when is None:
        return None
    return (when - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_key(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    return f"{obj.get('id')}|{obj.get('modified') or obj.get('created') or ''}"


@dataclass(frozen=True)
class TaxiiSource:
    kind: str = "taxii"

    async def pages(self, feed: FeedSpec, ctx: SourceContext) -> AsyncIterator[Page]:
        version = str(feed.config.get("version", "2.1"))
        if version not in TAXII_MEDIA:
            raise FetchError(feed.location, f"unsupported TAXII version {version!r} (2.0 or 2.1)")
        session = _session(feed, ctx.request_timeout, ctx.fetcher, asyncio.get_running_loop())
        client = TaxiiClient(session, version)
        page_size = int(feed.config.get("page_size", 100))
        state: dict[str, Any] = {k: dict(v) for k, v in (feed.cursor.get("collections") or {}).items()}
        try:
            collections = await _call(feed, lambda: _readable_collections(client, feed))
            for collection in collections:
                async for page in self._collection_pages(feed, client, collection, state, page_size):
                    yield page
        finally:
            session.close()

    async def _collection_pages(
        self,
        feed: FeedSpec,
        client: TaxiiClient,
        collection: TaxiiCollection,
        state: dict[str, Any],
        page_size: int,
    ) -> AsyncIterator[Page]:
        ctx = feed.context()
        mine = state.get(collection.id, {})
        boundary_time: str | None = mine.get("added_after")
        boundary = set(mine.get("boundary") or [])
        envelopes = client.object_pages(
            collection, added_after=_resume_after(boundary_time), page_size=page_size
        )
        while True:
            envelope = await _call(feed, lambda: next(envelopes, None))
            if envelope is None:
                return
            objects = [o for o in envelope.get("objects") or [] if _version_key(o) not in boundary]
            last = client.last_headers.get("X-TAXII-Date-Added-Last")
            seen = {_version_key(o) for o in envelope.get("objects") or []}
            if last and last != boundary_time:
                boundary_time, boundary = last, seen
            else:
                boundary |= seen
            parsed = parse_bundle({"objects": objects}, ctx) if objects else None
            state[collection.id] = {
                "added_after": boundary_time,
                "boundary": sorted(boundary)[-MAX_BOUNDARY_IDS:],
            }
            cursor = {**feed.cursor, "collections": {k: dict(v) for k, v in state.items()}}
            yield Page.of(parsed, cursor=cursor) if parsed else Page(cursor=cursor)


async def _call(feed: FeedSpec, func: Any) -> Any:
    try:
        return await asyncio.to_thread(func)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise FetchError(feed.location, f"TAXII server answered HTTP {status}") from exc
    except _Refused as exc:
        raise FetchError(feed.location, str(exc)) from exc
    except requests.TooManyRedirects as exc:
        raise FetchError(feed.location, "TAXII request failed: too many redirects") from exc
    except requests.RequestException as exc:
        raise FetchError(feed.location, f"TAXII request failed: {type(exc).__name__}") from exc
    except (TaxiiProtocolError, ValueError) as exc:
        raise FetchError(feed.location, f"TAXII protocol error: {str(exc)[:300]}") from exc


SOURCE = register(TaxiiSource())
