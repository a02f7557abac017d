"""CSAF 2.0 advisories from a trusted provider: ``provider-metadata.json`` → ROLIE feeds or directories.

Location: the provider's ``provider-metadata.json``, a ROLIE feed, a directory (with ``changes.csv`` or
``index.txt``), or one CSAF document. Each document is checked against its ``.sha512`` (else ``.sha256``)
sidecar; a mismatch is a rejection, and so is a missing sidecar for documents a provider lists (config
``require_hash: false`` relaxes that; a document named directly as the location is checked when it has one).
Cursor: the ``updated`` time of each document already taken, so changed advisories are read again.

When the provider metadata lists ``public_openpgp_keys``, each key is fetched (its fingerprint must be the
one the metadata names) and every document must also carry a detached ``.asc`` signature (or the ROLIE
entry's ``signature`` link) that verifies with one of them; a missing or bad signature rejects the document
with the reason. A provider that publishes no keys is checked by its hash sidecars only.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pysequoia import Cert

from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.fetch import FetchError, join_url
from ewarn.ingest.openpgp import Keyring, SignatureError, keys_from, usable, verify_detached
from ewarn.ingest.records import FeedContext, ParseResult, decode_text, load_json
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec, Page, SourceContext

_HASHES = (("sha512", ".sha512"), ("sha256", ".sha256"))


@dataclass(frozen=True)
class _Entry:
    url: str
    updated: str
    hash_urls: tuple[tuple[str, str], ...] = ()
    direct: bool = False  # the operator named this document itself: a sidecar is checked when there is one
    signature_url: str | None = None  # the ROLIE entry's signature link; else the document URL + ".asc"


@dataclass
class _Provider:
    """What the location lists: its documents and, when the provider publishes keys, its keyring."""

    entries: list[_Entry]
    keyring: Keyring | None = None


def _csv_entries(base: str, text: str) -> list[_Entry]:
    entries = []
    for row in csv.reader(text.splitlines()):
        if len(row) >= 2 and row[0].strip():
            entries.append(_Entry(join_url(base, row[0].strip()), row[1].strip()))
    return entries


def _rolie_entries(feed: dict[str, Any]) -> list[_Entry]:
    entries = []
    for entry in (feed.get("feed") or {}).get("entry") or []:
        if not isinstance(entry, dict):
            continue
        links = [link for link in entry.get("link") or [] if isinstance(link, dict)]
        url = (entry.get("content") or {}).get("src") or next(
            (link.get("href") for link in links if link.get("rel") == "self"), None
        )
        if not isinstance(url, str):
            continue
        hashes = tuple(
            (algorithm, str(link["href"]))
            for link in links
            if link.get("rel") == "hash" and isinstance(link.get("href"), str)
            for algorithm, suffix in _HASHES
            if link["href"].endswith(suffix)
        )
        signature = next(
            (str(link["href"]) for link in links if link.get("rel") == "signature" and link.get("href")), None
        )
        entries.append(_Entry(url, str(entry.get("updated") or ""), hashes, signature_url=signature))
    return entries


@dataclass(frozen=True)
class CsafSource:
    kind: str = "csaf"

    def parse(self, payload: bytes, ctx: FeedContext) -> ParseResult:
        return parse_csaf(payload, ctx)

    async def pages(self, feed: FeedSpec, ctx: SourceContext) -> AsyncIterator[Page]:
        provider = await self._entries(feed.location, feed, ctx)
        done: dict[str, str] = dict(feed.cursor.get("documents") or {})
        require_hash = bool(feed.config.get("require_hash", True))
        for entry in sorted(provider.entries, key=lambda e: (e.updated, e.url)):
            if entry.url in done and done[entry.url] == entry.updated:
                continue
            try:
                fetched = await ctx.fetcher.get(entry.url, credentials=feed.credentials)
                problem = await self._verify(
                    entry, fetched.content, feed, ctx, require_hash and not entry.direct
                )
                if problem is None and provider.keyring is not None:
                    problem = await self._verify_signature(
                        entry, fetched.content, provider.keyring, feed, ctx
                    )
            except FetchError as exc:
                yield Page(rejections=[feed.context().reject(entry.url, exc.reason)], read=1)
                continue  # not marked done: read again next poll
            if problem is not None:
                yield Page(rejections=[feed.context().reject(entry.url, problem)], read=1)
                continue
            done[entry.url] = entry.updated
            yield Page.of(
                parse_csaf(fetched.content, feed.context()), cursor={**feed.cursor, "documents": dict(done)}
            )

    async def _entries(self, location: str, feed: FeedSpec, ctx: SourceContext) -> _Provider:
        """Every document the location lists, via provider metadata to its ROLIE feeds or directories."""
        if not location.endswith(".json"):
            return _Provider(await self._directory(location, feed, ctx))
        fetched = await ctx.fetcher.get(location, credentials=feed.credentials)
        document = load_json(fetched.content)
        if isinstance(document, dict) and isinstance(document.get("distributions"), list):
            entries: list[_Entry] = []
            for distribution in document["distributions"]:
                if not isinstance(distribution, dict):
                    continue
                if isinstance(distribution.get("directory_url"), str):
                    entries += await self._directory(distribution["directory_url"], feed, ctx)
                for rolie in (distribution.get("rolie") or {}).get("feeds") or []:
                    if isinstance(rolie, dict) and isinstance(rolie.get("url"), str):
                        rolie_doc = await ctx.fetcher.get(rolie["url"], credentials=feed.credentials)
                        entries += _rolie_entries(load_json(rolie_doc.content))
            return _Provider(entries, await self._keyring(location, document, feed, ctx))
        if isinstance(document, dict) and isinstance(document.get("feed"), dict):
            return _Provider(_rolie_entries(document))
        return _Provider([_Entry(location, "", direct=True)])

    async def _keyring(
        self, location: str, metadata: dict[str, Any], feed: FeedSpec, ctx: SourceContext
    ) -> Keyring | None:
        """The provider's signing keys (None when it publishes none): each fetched, matched by fingerprint."""
        listed = [k for k in metadata.get("public_openpgp_keys") or [] if isinstance(k, dict)]
        if not listed:
            return None
        certs: list[Cert] = []
        problems: list[str] = []
        for key in listed:
            url = key.get("url")
            if not isinstance(url, str) or not url:
                problems.append("a key is listed without a URL")
                continue
            url = join_url(location, url)
            fingerprint = key.get("fingerprint") if isinstance(key.get("fingerprint"), str) else None
            try:
                fetched = await ctx.fetcher.get(url, credentials=feed.credentials)
                found = keys_from(fetched.content, expected_fingerprint=fingerprint, source=url)
            except FetchError as exc:
                problems.append(f"key {url}: {exc.reason}")
                continue
            except SignatureError as exc:
                problems.append(str(exc))
                continue
            fresh = usable(found)
            if not fresh:
                problems.append(f"key {url} is revoked")
            certs.extend(fresh)
        return Keyring(tuple(certs), tuple(problems))

    async def _verify_signature(
        self, entry: _Entry, content: bytes, keyring: Keyring, feed: FeedSpec, ctx: SourceContext
    ) -> str | None:
        """None when the document's detached signature verifies with a provider key; else why not."""
        url = entry.signature_url or entry.url + ".asc"
        try:
            signature = await ctx.fetcher.get(url, credentials=feed.credentials)
        except FetchError as exc:
            return f"no OpenPGP signature could be read from {url.rsplit('/', 1)[-1]} ({exc.reason})"
        try:
            await asyncio.to_thread(verify_detached, content, signature.content, keyring)
        except SignatureError as exc:
            return str(exc)
        return None

    async def _directory(self, directory: str, feed: FeedSpec, ctx: SourceContext) -> list[_Entry]:
        base = directory if directory.endswith("/") else directory + "/"
        try:
            changes = await ctx.fetcher.get(join_url(base, "changes.csv"), credentials=feed.credentials)
            return _csv_entries(base, decode_text(changes.content))
        except FetchError:
            index = await ctx.fetcher.get(join_url(base, "index.txt"), credentials=feed.credentials)
            lines = [line.strip() for line in decode_text(index.content).splitlines() if line.strip()]
            return [_Entry(join_url(base, line), "") for line in lines]

    async def _verify(
        self, entry: _Entry, content: bytes, feed: FeedSpec, ctx: SourceContext, require_hash: bool
    ) -> str | None:
        """None when a sidecar hash matches; else why the document is not trusted."""
        candidates = list(entry.hash_urls) or [(name, entry.url + suffix) for name, suffix in _HASHES]
        for algorithm, url in candidates:
            try:
                sidecar = await ctx.fetcher.get(url, credentials=feed.credentials)
            except FetchError:
                continue
            words = decode_text(sidecar.content).split()
            expected = words[0].lower() if words else ""
            actual = hashlib.new(algorithm, content).hexdigest()
            if not hmac.compare_digest(expected, actual):
                return f"{algorithm} of the document does not match its sidecar {url.rsplit('/', 1)[-1]}"
            return None
        return "no .sha512 or .sha256 sidecar could be read" if require_hash else None


SOURCE = register(CsafSource())
