"""The few TAXII 2.0/2.1 reads a feed needs, over one guarded ``requests`` session (synchronous).

Discovery lists the API roots, an API root lists its collections, a collection's objects come in pages:
``more``/``next`` in 2.1, ``Range``/``Content-Range`` item ranges in 2.0. Every response must be JSON of the
version's media type. The session (SSRF guard, pinning, timeouts, retries, auth) is the caller's; this module
only speaks the protocol, so no library's private connection class is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

TAXII_MEDIA = {
    "2.1": "application/taxii+json;version=2.1",
    "2.0": "application/vnd.oasis.taxii+json; version=2.0",
}
OBJECTS_MEDIA = {"2.1": TAXII_MEDIA["2.1"], "2.0": "application/vnd.oasis.stix+json; version=2.0"}
_CONTENT_RANGE = re.compile(r"^items (\d+|\*)-?(\d+)?/(\d+|\*)$")


class TaxiiProtocolError(ValueError):
    """The server answered, but not as TAXII (wrong media type, not JSON, a malformed field)."""


@dataclass(frozen=True)
class TaxiiCollection:
    """A collection as its API root lists it."""

    id: str
    url: str
    title: str | None = None
    alias: str | None = None
    can_read: bool = False

    def names(self) -> set[str]:
        """What a feed's ``collections`` setting may name it by."""
        return {name for name in (self.id, self.title, self.alias) if name}


def _tokens(media_type: str) -> list[str]:
    return [token for token in media_type.replace(" ", "").lower().split(";") if token]


def media_type_matches(content_type: str | None, accept: str) -> bool:
    """The response's type and version parameter are those asked for (extra parameters allowed)."""
    got = _tokens(content_type or "")
    wanted = _tokens(accept)
    return bool(got) and got[0] == wanted[0] and all(token in got for token in wanted[1:])


@dataclass
class TaxiiClient:
    """TAXII reads over ``session``; ``last_headers`` are those of the last response (cursor headers)."""

    session: requests.Session
    version: str = "2.1"
    last_headers: dict[str, str] = field(default_factory=dict)

    def _get(
        self,
        url: str,
        accept: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, requests.Response]:
        response = self.session.get(url, params=params, headers={"Accept": accept, **(headers or {})})
        self.last_headers = dict(response.headers)
        response.raise_for_status()
        content_type = response.headers.get("Content-Type")
        if not media_type_matches(content_type, accept):
            raise TaxiiProtocolError(f"{url}: Content-Type {content_type!r} where {accept!r} was asked for")
        try:
            return response.json(), response
        except requests.exceptions.JSONDecodeError as exc:
            raise TaxiiProtocolError(f"{url}: the body is not JSON") from exc

    def _document(self, url: str) -> dict[str, Any]:
        body, _ = self._get(url, TAXII_MEDIA[self.version])
        if not isinstance(body, dict):
            raise TaxiiProtocolError(f"{url}: a JSON object was expected")
        return body

    def api_roots(self, discovery_url: str) -> list[str]:
        """The API root URLs the discovery document lists (relative ones resolved against it)."""
        roots = self._document(discovery_url).get("api_roots") or []
        if not isinstance(roots, list):
            raise TaxiiProtocolError(f"{discovery_url}: api_roots is not a list")
        return [urljoin(discovery_url, str(root)) for root in roots]

    def collections(self, api_root: str) -> list[TaxiiCollection]:
        """The collections of an API root."""
        base = api_root if api_root.endswith("/") else api_root + "/"
        listed = self._document(urljoin(base, "collections/")).get("collections") or []
        if not isinstance(listed, list):
            raise TaxiiProtocolError(f"{base}collections/: collections is not a list")
        found = []
        for item in listed:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise TaxiiProtocolError(f"{base}collections/: a collection without an id")
            found.append(
                TaxiiCollection(
                    id=item["id"],
                    url=urljoin(base, f"collections/{item['id']}/"),
                    title=item.get("title"),
                    alias=item.get("alias"),
                    can_read=item.get("can_read") is True,
                )
            )
        return found

    def object_pages(
        self, collection: TaxiiCollection, *, added_after: str | None, page_size: int
    ) -> Iterator[dict[str, Any]]:
        """Pages (envelopes or bundles) of a collection's objects, oldest first."""
        url = urljoin(collection.url, "objects/")
        filters = {"added_after": added_after} if added_after else {}
        if self.version == "2.1":
            yield from self._pages_by_next(url, filters, page_size)
        else:
            yield from self._pages_by_range(url, filters, page_size)

    def _pages_by_next(self, url: str, filters: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {**filters, "limit": page_size}
        while True:
            envelope, _ = self._get(url, OBJECTS_MEDIA["2.1"], params=params)
            if not isinstance(envelope, dict):
                raise TaxiiProtocolError(f"{url}: an envelope object was expected")
            yield envelope
            if not envelope.get("more"):
                return
            if not envelope.get("next"):
                raise TaxiiProtocolError(f"{url}: more objects announced without a next token")
            params = {**filters, "limit": page_size, "next": envelope["next"]}

    def _pages_by_range(self, url: str, filters: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            headers = {"Range": f"items {start}-{start + page_size - 1}"}
            bundle, response = self._get(url, OBJECTS_MEDIA["2.0"], params=filters, headers=headers)
            if not isinstance(bundle, dict):
                raise TaxiiProtocolError(f"{url}: a bundle object was expected")
            yield bundle
            content_range = response.headers.get("Content-Range")
            if content_range is None:
                return  # no range: the server sent the whole collection in one response
            got, total = _range_of(content_range, len(bundle.get("objects") or []))
            if (
                got <= 0
                or (total is not None and start + got >= total)
                or (total is None and got < page_size)
            ):
                return
            start += got


def _range_of(content_range: str, counted: int) -> tuple[int, int | None]:
    """(items in this response, items in all or None when unknown) from a 2.0 ``Content-Range``."""
    match = _CONTENT_RANGE.match(content_range.strip())
    if match is None:
        raise TaxiiProtocolError(f"malformed Content-Range {content_range[:100]!r}")
    first, last, total = match.groups()
    got = int(last) - int(first) + 1 if first != "*" and last is not None else counted
    return got, None if total == "*" else int(total)
